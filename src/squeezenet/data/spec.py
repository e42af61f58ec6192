"""How to open a labelled dataset, in one typed record: what :func:`.loaders.build_loaders`
reads. ``squeezenet train`` builds it from its configuration's data section; a notebook
builds it by hand::

    from squeezenet.data.spec import DataSpec
    from squeezenet.data.loaders import build_loaders
    data = build_loaders(DataSpec("cifar10.zip", batch_size=64), image_size=32)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .transforms import IMAGENET_MEAN, IMAGENET_STD

#: The layouts a dataset may have (``auto``: recognised from the path).
FORMATS = ("auto", "cifar10-zip", "imagefolder", "torchvision-cifar10")
#: ``in_memory``: decode once into uint8 tensors (yes), stream files (no), or by size (auto).
IN_MEMORY = ("auto", "yes", "no")
#: The training configuration's names for the fields it calls otherwise.
SETTING_NAMES = {
    "path": "data",
    "format": "data_format",
    "eval_size": "eval_image_size",
    "strict": "strict_data",
}


@dataclass(frozen=True)
class DataSpec:
    """``path`` and its ``format``; the sides: ``image_size`` (training; None: the side the
    data is decoded at, or the caller's), ``decode_size`` (in-memory folders: the side the
    training images are held at), ``eval_size`` and ``eval_crop`` (validation images resized
    to ``eval_size / eval_crop``, centre-cropped to ``eval_size``); augmentation:
    ``crop_scale`` (random-resized crops; None: padded crops of ``crop_padding`` px),
    ``image_size_start`` (progressive resizing), ``flip``, ``cutout``; the normalisation
    ``mean`` and ``std`` (RGB pixels / 255); batches: ``batch_size``, ``workers``,
    ``in_memory``; ``val_fraction`` of train held out when there is no val/ split;
    ``strict``: stop at the first corrupt image instead of skipping it."""

    path: Path
    format: str = "auto"
    image_size: int | None = None
    decode_size: int | None = None
    eval_size: int | None = None
    eval_crop: float = 1.0
    crop_scale: float | None = None
    image_size_start: int | None = None
    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    batch_size: int = 128
    workers: int = 2
    in_memory: str = "auto"
    val_fraction: float = 0.1
    strict: bool = False
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(os.fspath(self.path)))
        object.__setattr__(self, "mean", tuple(self.mean))
        object.__setattr__(self, "std", tuple(self.std))
        self._check()

    def _check(self) -> None:
        """Refuse what no loader can use (ValueError, naming the setting as the training
        configuration does)."""
        for name, allowed in (("format", FORMATS), ("in_memory", IN_MEMORY)):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{_named(name)} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not 0 < self.eval_crop <= 1:
            raise ValueError(f"eval_crop must be in (0, 1], got {self.eval_crop}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.crop_scale is not None and not 0 < self.crop_scale <= 1:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")
        sides = ("image_size", "image_size_start", "decode_size", "eval_size")
        for name in ("batch_size", *sides):
            value = getattr(self, name)
            if (value is not None or name == "batch_size") and not _positive(value):
                raise ValueError(f"{_named(name)} must be a positive integer, got {value!r}")
        if not isinstance(self.cutout, int) or self.cutout < 0:
            raise ValueError(f"cutout must be a non-negative integer, got {self.cutout!r}")

    @classmethod
    def from_settings(cls, settings: object, **changes) -> DataSpec:
        """The spec a settings object states with attributes of the training configuration's
        names (``data``, ``data_format``, ``eval_image_size``, ``strict_data`` and this
        record's others), then ``changes``."""
        values = {
            f.name: getattr(settings, SETTING_NAMES.get(f.name, f.name))
            for f in fields(cls)
            if hasattr(settings, SETTING_NAMES.get(f.name, f.name))
        }
        return cls(**{**values, **changes})


def _named(name: str) -> str:
    return SETTING_NAMES.get(name, name)


def _positive(value: object) -> bool:
    return isinstance(value, int) and value >= 1


#: Each field's default, by the training configuration's name for it: the one source of
#: the data section's defaults.
DEFAULTS: dict[str, Any] = {
    SETTING_NAMES.get(f.name, f.name): f.default for f in fields(DataSpec)[1:]
}
