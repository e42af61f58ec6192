"""Unlabeled images drawn at random from a folder or a zip archive: calibration data for
distillation while compressing (``compress --calibration``) and for INT8 activation ranges
(``export --int8``)."""

from __future__ import annotations

import io
import os
import random
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from .images import IMAGE_EXTENSIONS, DatasetError, ImageError, load_image


def _folder_images(folder: Path, exclude: set[str]) -> list[str]:
    return sorted(
        str(p)
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and p.name not in exclude
    )


def _zip_images(path: Path, prefix: str, exclude: set[str]) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except zipfile.BadZipFile:
        raise DatasetError(f"{path}: not a readable zip file") from None
    return sorted(
        n
        for n in names
        if n.startswith(prefix)
        and n.lower().endswith(IMAGE_EXTENSIONS)
        and Path(n).name not in exclude
    )


def _zip_image(z: zipfile.ZipFile, name: str, source: Path) -> Image.Image:
    try:
        with Image.open(io.BytesIO(z.read(name))) as im:
            return im.convert("RGB")
    except OSError as e:
        raise ImageError(f"{source}!{name}: not a readable image ({e})") from None


def sample_images(
    source: str | os.PathLike,
    transform: Callable[[Image.Image], torch.Tensor],
    n: int = 200,
    seed: int = 0,
    *,
    prefix: str = "",
    exclude: set[str] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """``n`` images drawn at random (seeded) from a folder (searched recursively) or a zip
    file (members under ``prefix``), each passed through ``transform`` -> ``(n, C, H, W)``.

    ``exclude`` holds file names (not paths) to leave out, e.g. the evaluation images.
    Fewer than ``n`` images available: all of them. Small images (CIFAR-10's 32x32) are
    upsampled by the transform's resize, which is enough for calibration.
    """
    from tqdm import tqdm

    source = Path(source)
    exclude = exclude or set()
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
    chosen = random.Random(seed).sample(names, min(n, len(names)))
    chosen = tqdm(
        chosen, desc="calibration images", file=sys.stderr, leave=False, disable=not progress
    )
    threads = torch.get_num_threads()
    # Per-image tensor ops are too small to gain from threads; on a busy machine the thread
    # hand-offs made them ~5x slower.
    torch.set_num_threads(1)
    try:
        if source.is_dir():
            images = [transform(load_image(name)) for name in chosen]
        else:
            with zipfile.ZipFile(source) as z:
                images = [transform(_zip_image(z, name, source)) for name in chosen]
    finally:
        torch.set_num_threads(threads)
    return torch.stack(images)
