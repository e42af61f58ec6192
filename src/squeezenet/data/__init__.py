"""Images, labelled folders, calibration samples and preprocessing presets; training data as
one ``DataSpec`` (``spec``), opened from ``sources`` (datasets decoded once into uint8
tensors) by ``loaders`` (sharded batches), with ``augment`` (crops, flips, cutout, CutMix).

Each name below is imported on first use (PEP 562): ``transforms``' presets are read by the
command line's parsers, which answer without loading PyTorch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .images import (
        DECODE_MODES,
        DatasetError,
        ImageDataset,
        ImageError,
        LabelledImages,
        default_class_list,
        imagenet_class_list,
        list_images,
        load_image,
        load_transformed,
        read_class_list,
        scan_folder,
        short_name,
    )
    from .sampling import (
        calibration_sources,
        drawn_names,
        sample_images,
    )
    from .spec import DataSpec
    from .transforms import (
        PRESETS,
        Preprocess,
        get_preprocess,
    )

__all__ = [
    "DECODE_MODES",
    "DataSpec",
    "DatasetError",
    "ImageDataset",
    "ImageError",
    "LabelledImages",
    "PRESETS",
    "Preprocess",
    "calibration_sources",
    "default_class_list",
    "drawn_names",
    "get_preprocess",
    "imagenet_class_list",
    "list_images",
    "load_image",
    "load_transformed",
    "read_class_list",
    "sample_images",
    "scan_folder",
    "short_name",
]

_SOURCES = {
    "DataSpec": "spec",
    "DECODE_MODES": "images",
    "default_class_list": "images",
    "list_images": "images",
    "DatasetError": "images",
    "ImageDataset": "images",
    "ImageError": "images",
    "LabelledImages": "images",
    "imagenet_class_list": "images",
    "load_image": "images",
    "load_transformed": "images",
    "read_class_list": "images",
    "scan_folder": "images",
    "short_name": "images",
    "calibration_sources": "sampling",
    "drawn_names": "sampling",
    "sample_images": "sampling",
    "PRESETS": "transforms",
    "Preprocess": "transforms",
    "get_preprocess": "transforms",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES)
