"""Defaults a training run derives from its data and its weights file, before any data is
decoded: the architecture a state_dict fits (a 1.1 file implies ``squeezenet1_1``), the
model a dataset suggests (32 px CIFAR: ``squeezenet_cifar``; photographs: ``squeezenet1_1``),
and the automatic settings for photo folders (random-resized crops, validation as
``squeezenet evaluate`` crops) and for fine-tuning them from ImageNet weights."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..data.transforms import Preprocess

# The architectures tried, in this order, when a weights file names none: the first whose
# parameter names and shapes all match the file (any class count) is taken. squeezenet and
# the simple-bypass variant have v1.0's parameters: v1.0 comes first.
_PREFERRED = ("squeezenet1_1", "squeezenet1_0", "squeezenet_cifar")

#: The model trained when neither `model` nor `weights` says: by the data's image side.
PHOTO_MODEL, SMALL_IMAGE_MODEL = "squeezenet1_1", "squeezenet_cifar"
#: ImageFolder images at most this many pixels on a side are "small" (CIFAR-like).
SMALL_IMAGE_SIDE = 64

#: Photo folders (not 32 px data), unless a recipe, the YAML file or a flag says otherwise:
#: Inception-style random-resized crops from images held at 256/224 of the training side, and
#: validation resized by that ratio then centre-cropped, as ``squeezenet evaluate`` does.
PHOTO_CROP_SCALE = 0.35
EVAL_CROP = 224 / 256

#: Fine-tuning a photo folder from `weights` without a `recipe`: the settings that took
#: squeezenet1_1's ImageNet weights to 96-97% on 500 cat and dog photos in a few minutes on a
#: CPU (PyTorch's fine-tuning tutorial uses batch 8 too). Small batches give a few hundred
#: photos enough steps; training conv10 alone keeps the ImageNet features intact.
FINETUNE_PHOTOS: dict = {
    "batch_size": 8,
    "epochs": 15,
    "freeze_features": True,
    "schedule": "cosine",
}


def _weights_state(weights: str) -> tuple[dict[str, torch.Tensor] | None, str | None]:
    """(state_dict, None) for a plain file or URL; (None, model) for a file that describes
    its model (written by ``squeezenet train`` or ``compress``) or a registered weights name,
    whose record names its architecture (nothing is downloaded). Errors are WeightsError."""
    from ..weights import get_weights_record, read_weights, resolve_source
    from ..weights.records import list_weights

    if weights in list_weights():
        return None, get_weights_record(weights).model
    path, _ = resolve_source(weights)
    state, info = read_weights(path)
    return (None, info.name) if info is not None else (state, None)


def weights_preprocess(weights: str) -> Preprocess | None:
    """The preprocessing a weights file or registered name states
    (:func:`squeezenet.weights.loading.stated_preprocess`), read without building a model
    (nothing is downloaded for a registered name); None for plain files (torchvision's
    statistics, the training default, apply)."""
    from ..weights import get_weights_record, read_weights, resolve_source
    from ..weights.loading import stated_preprocess
    from ..weights.records import list_weights

    if weights in list_weights():
        return stated_preprocess(get_weights_record(weights), None, None)
    path, _ = resolve_source(weights)
    info = None if path.suffix == ".net" else read_weights(path)[1]
    return stated_preprocess(None, path, info)


def _input_scale(source: Preprocess) -> float:
    """How many times the spread of ImageNet-normalised input the weights' input has: about
    58 for Caffe's 0..255 pixels minus the mean, 1 for /255 with a std (below 2: taken as 1)."""
    from ..data.transforms import IMAGENET_STD

    std = source.rgb_statistics()[1]
    scale = (sum(IMAGENET_STD) / 3) / (sum(std) / 3)
    return scale if scale > 2 else 1.0


def training_normalization(source: Preprocess) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std a fine-tuning run normalises RGB 0..1 pixels with, for weights
    trained on ``source``'s input: the same input divided by :func:`_input_scale`, which
    :func:`adapt_to_rgb_unit_input` makes the network take."""
    mean, std = source.rgb_statistics()
    scale = _input_scale(source)
    return mean, tuple(s * scale for s in std)


def adapt_to_rgb_unit_input(model: nn.Module, source: Preprocess) -> None:
    """Make ``model`` (trained on ``source``'s input) take the input of
    :func:`training_normalization`, computing exactly its old function divided by the input
    scale: the first conv's channels reversed for BGR weights, and every bias divided by the
    scale (a ReLU network with max- and average-pools is positively homogeneous). Caffe's
    features are then of the magnitude torchvision's are, which the fine-tuning defaults (lr,
    the new classifier's initialisation) suit; at Caffe's scale the new conv10 dies at once."""
    scale = _input_scale(source)
    with torch.no_grad():
        if source.bgr:
            first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
            first.weight.copy_(first.weight.flip(1))
        if scale != 1.0:
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.div_(scale)


def models_fitting(state: dict[str, torch.Tensor], model_args: dict | None = None) -> list[str]:
    """Registered models whose parameter names and shapes (at the file's class count) are
    exactly the state_dict's, preferred first."""
    from ..models import build_model, list_models
    from ..weights import WeightsError
    from ..weights.loading import check_state_dict, classifier_key

    found = []
    names = [n for n in _PREFERRED if n in list_models()]
    names += [n for n in list_models() if n not in names]
    for name in names:
        try:
            with torch.device("meta"):
                probe = build_model(name, **(model_args or {}))
                key = classifier_key(probe)
                if key not in state:
                    continue
                probe = build_model(name, num_classes=state[key].shape[0], **(model_args or {}))
        except (TypeError, ValueError):  # model_args another model does not take
            continue
        try:
            check_state_dict(probe, state, name)
        except WeightsError:
            continue
        found.append(name)
    return found


def model_for_weights(weights: str, model_args: dict | None = None) -> str | None:
    """The architecture a weights file implies (None: none fits at these model_args)."""
    state, named = _weights_state(weights)
    if named is not None:
        return named
    assert state is not None
    fits = models_fitting(state, model_args)
    return fits[0] if fits else None


def data_is_small(data: str | Path, fmt: str = "auto") -> bool:
    """True for CIFAR-10 (either format) and ImageFolder trees of small images (the first
    training image at most SMALL_IMAGE_SIDE pixels on a side); False for photographs."""
    from ..data.images import list_images
    from ..data.sources import detect_format

    path = Path(data)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt != "imagefolder":
        return True
    train = path / "train"
    for d in sorted(p for p in train.iterdir() if p.is_dir()) if train.is_dir() else []:
        found = list_images(d)[0]
        if found:
            from PIL import Image

            try:
                with Image.open(found[0]) as im:
                    return max(im.size) <= SMALL_IMAGE_SIDE
            except OSError:
                return False
    return False


def model_for_data(data: str | Path, fmt: str = "auto") -> str:
    return SMALL_IMAGE_MODEL if data_is_small(data, fmt) else PHOTO_MODEL


def photo_defaults(image_size: int) -> dict:
    """Augmentation and validation settings for a photo folder trained at ``image_size``."""
    return {
        "crop_scale": PHOTO_CROP_SCALE,
        "decode_size": round(image_size / EVAL_CROP),
        "eval_crop": EVAL_CROP,
    }
