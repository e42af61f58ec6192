"""Unlabeled images drawn at random from a folder or a zip archive: calibration data for
distillation while compressing (``compress --calibration``) and for INT8 activation ranges
(``export --int8``)."""

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


def _source_images(source: Path, prefix: str, exclude: set[str]) -> list[str]:
    """The image names in one calibration source (sorted, so that a seed draws the same)."""
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
    source: str | os.PathLike | Sequence[str | os.PathLike],
    n: int,
    seed: int,
    prefix: str,
    exclude: set[str] | None,
) -> tuple[list[Path], list[list[str]]]:
    """The sources and, for each, the names of the images a seed draws from it."""
    sources = [Path(source)] if isinstance(source, (str, os.PathLike)) else list(map(Path, source))
    if not sources:
        raise DatasetError("no calibration source given")
    exclude = exclude or set()
    pools = [_source_images(s, prefix, exclude) for s in sources]
    rng = random.Random(seed)
    draws = [rng.sample(pool, k) for pool, k in zip(pools, _shares(n, list(map(len, pools))))]
    return sources, draws


def drawn_names(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    n: int = 200,
    seed: int = 0,
    *,
    prefix: str = "",
) -> set[str]:
    """The file names (not paths) of the images :func:`sample_images` draws with the same
    arguments: pass them as its ``exclude`` to draw images held back from calibration."""
    return {Path(name).name for names in _draw(source, n, seed, prefix, None)[1] for name in names}


def sample_images(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    transform: Callable[[Image.Image], torch.Tensor],
    n: int = 200,
    seed: int = 0,
    *,
    prefix: str = "",
    exclude: set[str] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """``n`` images drawn at random (seeded) from one or more folders (searched recursively)
    or zip files (members under ``prefix``), each passed through ``transform`` ->
    ``(n, C, H, W)``.

    Several sources share ``n`` equally (a source with fewer images than its share gives all
    of them, and the others share the rest), so a small folder is not swamped by a large one.
    ``exclude`` holds file names (not paths) to leave out, e.g. the evaluation images.
    Fewer than ``n`` images available: all of them. Small images (CIFAR-10's 32x32) are
    upsampled by the transform's resize, which is enough for calibration.
    """
    from tqdm import tqdm

    sources, draws = _draw(source, n, seed, prefix, exclude)
    bar = tqdm(
        total=sum(map(len, draws)),
        desc="calibration images",
        file=sys.stderr,
        leave=False,
        disable=not progress,
    )
    threads = torch.get_num_threads()
    # Per-image tensor ops are too small to gain from threads; on a busy machine the thread
    # hand-offs made them ~5x slower.
    torch.set_num_threads(1)
    images = []
    try:
        with contextlib.ExitStack() as opened:
            for src, names in zip(sources, draws):
                if not names:
                    continue
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
