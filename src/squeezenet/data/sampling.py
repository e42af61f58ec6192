"""Unlabeled images drawn at random from a folder or a zip archive: calibration data for
distillation while compressing (``compress --calibration``) and for INT8 activation ranges
(``export --int8``, ``bench``). Each source is a :class:`.spec.DataSpec`."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import zipfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from PIL import Image

from .images import (
    IMAGE_EXTENSIONS,
    DatasetError,
    list_images,
    load_image,
    open_zip_image,
    zip_image_names,
)
from .spec import DataSpec

#: One calibration source (a folder or zip, or its :class:`DataSpec`), or several.
Sources = str | os.PathLike | DataSpec | Sequence[str | os.PathLike | DataSpec]


def calibration_sources(
    source: Sources, *, seed: int = 0, progress: bool = False
) -> list[DataSpec]:
    """One :class:`DataSpec` per calibration source (a folder or zip file); paths get
    ``seed`` and ``progress``, a spec is kept as it is."""
    many = [source] if isinstance(source, (str, os.PathLike, DataSpec)) else list(source)
    return [
        s if isinstance(s, DataSpec) else DataSpec(Path(s), seed=seed, progress=progress)
        for s in many
    ]


def _folder_images(folder: Path, exclude: set[str]) -> list[str]:
    # Sorted as strings (not as paths): the order a seed draws from.
    return sorted(str(p) for p in list_images(folder)[0] if p.name not in exclude)


def _zip_images(path: Path, prefix: str, exclude: set[str]) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            names = zip_image_names(z)
    except zipfile.BadZipFile:
        raise DatasetError(f"{path}: not a readable zip file") from None
    return sorted(n for n in names if n.startswith(prefix) and Path(n).name not in exclude)


def _source_images(spec: DataSpec, prefix: str, exclude: set[str]) -> list[str]:
    """The image names in one calibration source (sorted, so that a seed draws the same)."""
    source = spec.path
    if source.is_dir():
        names = _folder_images(source, exclude)
    elif not source.exists():
        raise DatasetError(f"{source}: calibration source not found")
    elif source.suffix.lower() == ".zip" or zipfile.is_zipfile(source):
        names = _zip_images(source, prefix, exclude)
    else:
        raise DatasetError(f"{source}: calibration source must be an image folder or a .zip")
    if not names:
        raise DatasetError(
            f"{source}: no calibration images"
            + (f" under {prefix!r}" if prefix and not source.is_dir() else "")
            + f" (extensions {', '.join(IMAGE_EXTENSIONS)})"
        )
    return names


def _shares(n: int, sizes: list[int]) -> list[int]:
    """Split ``n`` draws equally over sources of ``sizes``, none given more than it holds."""
    shares = [0] * len(sizes)
    left = min(n, sum(sizes))
    open_ = [i for i, size in enumerate(sizes) if size > 0]
    while left and open_:
        each, extra = divmod(left, len(open_))
        for rank, i in enumerate(open_):
            shares[i] += min(each + (rank < extra), sizes[i] - shares[i])
        left = min(n, sum(sizes)) - sum(shares)
        open_ = [i for i in open_ if shares[i] < sizes[i]]
    return shares


def _draw(
    specs: list[DataSpec],
    n: int,
    seed: int | None,
    prefix: str,
    exclude: set[str] | None,
) -> list[list[str]]:
    """For each source, the names of the images a seed draws from it."""
    if not specs:
        raise DatasetError("no calibration source given")
    exclude = exclude or set()
    pools = [_source_images(s, prefix, exclude) for s in specs]
    rng = random.Random(specs[0].seed if seed is None else seed)
    return [rng.sample(pool, k) for pool, k in zip(pools, _shares(n, list(map(len, pools))))]


def drawn_names(
    source: Sources, n: int = 200, seed: int | None = None, *, prefix: str = ""
) -> set[str]:
    """The file names (not paths) of the images :func:`sample_images` draws with the same
    arguments: pass them as its ``exclude`` to draw images held back from calibration."""
    draws = _draw(calibration_sources(source), n, seed, prefix, None)
    return {Path(name).name for names in draws for name in names}


def sample_images(
    source: Sources,
    transform: Callable[[Image.Image], torch.Tensor],
    n: int = 200,
    seed: int | None = None,
    *,
    prefix: str = "",
    exclude: set[str] | None = None,
    progress: bool | None = None,
) -> torch.Tensor:
    """``n`` images drawn at random (seeded) from one or more folders (searched recursively)
    or zip files (members under ``prefix``), each passed through ``transform`` ->
    ``(n, C, H, W)``. ``source``: as :func:`calibration_sources` takes it; ``seed`` and
    ``progress`` (a progress bar on stderr), when not given, are the first source's.

    Several sources share ``n`` equally (a source with fewer images than its share gives all
    of them, and the others share the rest), so a small folder is not swamped by a large one.
    ``exclude`` holds file names (not paths) to leave out, e.g. the evaluation images.
    Fewer than ``n`` images available: all of them. Small images (CIFAR-10's 32x32) are
    upsampled by the transform's resize, which is enough for calibration.
    """
    from tqdm import tqdm

    specs = calibration_sources(source)
    draws = _draw(specs, n, seed, prefix, exclude)
    bar = tqdm(
        total=sum(map(len, draws)),
        desc="calibration images",
        file=sys.stderr,
        leave=False,
        disable=not (specs[0].progress if progress is None else progress),
    )
    threads = torch.get_num_threads()
    # Per-image tensor ops are too small to gain from threads; on a busy machine the thread
    # hand-offs made them ~5x slower.
    torch.set_num_threads(1)
    images = []
    try:
        with contextlib.ExitStack() as opened:
            for spec, names in zip(specs, draws):
                if not names:
                    continue
                src = spec.path
                if src.is_dir():
                    read: Callable[[str], Image.Image] = load_image
                else:
                    archive = opened.enter_context(zipfile.ZipFile(src))
                    read = partial(open_zip_image, archive, source=src)
                for name in names:
                    images.append(transform(read(name)))
                    bar.update()
    finally:
        torch.set_num_threads(threads)
        bar.close()
    return torch.stack(images)
