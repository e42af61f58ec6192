"""Images, labelled folders, calibration samples and preprocessing presets; training data in
``sources`` (datasets decoded once into uint8 tensors), ``loaders`` (sharded batches) and
``augment`` (crops, flips, cutout, CutMix)."""

from .images import (
    DatasetError,
    ImageDataset,
    ImageError,
    LabelledImages,
    imagenet_class_list,
    load_image,
    load_transformed,
    read_class_list,
    scan_folder,
    short_name,
)
from .sampling import drawn_names, sample_images
from .transforms import PRESETS, Preprocess, get_preprocess
