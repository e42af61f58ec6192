"""Checks that keep an untrusted weights file inert: its tensors are data of bounded size
that must fit the architecture, checked before any model is built or memory is allocated."""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import WeightsError

# Caps far above any model here (AlexNet: 61M parameters; ImageNet-21k: 21,841 classes) and
# far below what would exhaust a machine.
MAX_CLASSES = 100_000
MAX_PARAMETERS = 1 << 28  # 268M values = 1 GiB as float32


def check_tensors(state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse tensors whose values are not all stored in the file, sizes over the caps,
    and non-finite weights (a NaN codebook, a corrupt float): every format, one rule."""
    total = 0
    for key, t in state.items():
        if t.is_complex() or t.is_quantized:  # loading would silently drop or reinterpret
            raise WeightsError(f"{source}: tensor {key!r} has dtype {t.dtype}; weights are real")
        stored = t.untyped_storage().nbytes()
        if t.numel() and t.numel() * t.element_size() > stored:
            # A stride-0 (expanded) tensor: a few bytes on disk that claim a huge shape.
            raise WeightsError(
                f"{source}: tensor {key!r} of shape {tuple(t.shape)} claims {t.numel():,} "
                f"values but stores {stored:,} bytes (an expanded tensor; refused)"
            )
        total += t.numel()
        if total > MAX_PARAMETERS:
            raise WeightsError(f"{source}: holds more than {MAX_PARAMETERS:,} values in all")
    for key, t in state.items():
        # A finite float64 sum proves every value finite (NaN and inf propagate) in one pass.
        if t.is_floating_point() and t.numel() and not math.isfinite(t.sum(dtype=torch.float64)):
            raise WeightsError(f"{source}: tensor {key!r} has NaN or infinite values")


def check_classifier(probe: nn.Module, key: str, weight: torch.Tensor, source: str) -> int:
    """The number of classes the file's classifier weight declares, after checking that its
    shape is the architecture's (``probe``, built on the meta device) but for the class count,
    and that the count is within ``MAX_CLASSES``."""
    expected = tuple(probe.state_dict()[key].shape)
    shape = tuple(weight.shape)
    if len(shape) != len(expected) or shape[1:] != expected[1:]:
        raise WeightsError(
            f"{source}: does not fit the model: {key} has shape {shape}, the model needs "
            f"(classes, {', '.join(map(str, expected[1:]))})"
        )
    classes = shape[0]
    if not 1 <= classes <= MAX_CLASSES:
        raise WeightsError(
            f"{source}: {key} declares {classes:,} classes (the limit is {MAX_CLASSES:,})"
        )
    return classes


def check_model_size(probe: nn.Module, source: str) -> None:
    """Refuse an architecture (built on the meta device) larger than ``MAX_PARAMETERS``."""
    n = sum(math.prod(v.shape) for v in probe.state_dict().values())
    if n > MAX_PARAMETERS:
        raise WeightsError(
            f"{source}: the model it describes has {n:,} parameters (the limit is "
            f"{MAX_PARAMETERS:,})"
        )
