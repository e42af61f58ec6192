"""Unlabeled calibration images for fine-tuning by distillation: any folder of images, or a
zip archive of them (e.g. the CIFAR-10 JPEG release), preprocessed like evaluation data."""

from __future__ import annotations

import io
import os
import random
import sys
import zipfile
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from ..data import DatasetError, load_image
from ..data.images import IMAGE_EXTENSIONS


def _list_zip(path: Path, prefix: str) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return sorted(
            n for n in z.namelist() if n.startswith(prefix) and n.lower().endswith(IMAGE_EXTENSIONS)
        )


def load_calibration(
    source: str | os.PathLike,
    n: int,
    transform,
    prefix: str = "",
    seed: int = 0,
    exclude: set[str] | None = None,
) -> torch.Tensor:
    """``n`` images drawn at random (seeded) from a folder (recursively) or a zip file
    (members under ``prefix``), each passed through ``transform`` -> (n, C, H, W).

    ``exclude`` holds file names (not paths) to leave out, e.g. the evaluation images."""
    source = Path(source)
    rng = random.Random(seed)
    exclude = exclude or set()
    if source.is_dir():
        names = sorted(
            str(p)
            for p in source.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.name not in exclude
        )
    elif zipfile.is_zipfile(source):
        names = [m for m in _list_zip(source, prefix) if Path(m).name not in exclude]
    else:
        raise DatasetError(f"{source}: calibration data must be a folder or a zip of images")
    if not names:
        raise DatasetError(
            f"{source}: no calibration images found" + (f" under {prefix!r}" if prefix else "")
        )
    chosen = rng.sample(names, min(n, len(names)))
    out = []
    archive = zipfile.ZipFile(source) if not source.is_dir() else None
    try:
        for name in tqdm(chosen, desc="calibration images", file=sys.stderr, leave=False):
            if archive is not None:
                with Image.open(io.BytesIO(archive.read(name))) as im:
                    image = im.convert("RGB")
            else:
                image = load_image(name)
            out.append(transform(image))
    finally:
        if archive is not None:
            archive.close()
    return torch.stack(out)
