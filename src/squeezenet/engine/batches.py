"""Batches as the model sees them: uint8 images normalised into float batches on the
device, and the arithmetic precision the loops run them in (autocast, the ``auto`` choices)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..data.transforms import normalize


def input_device(model) -> torch.device:
    """Where ``model``'s batches go: a module's own device (a module moved to a GPU gets
    its batches there); other callables (ONNX Runtime, OpenVINO) take CPU tensors."""
    if isinstance(model, nn.Module):
        return next(model.parameters(), torch.empty(0)).device
    return torch.device("cpu")


class NormalizeBatch:
    """Turns uint8 batches into normalised float batches on the device (the arithmetic of
    :class:`~squeezenet.data.Preprocess`, torchvision's bit for bit)."""

    def __init__(self, device: torch.device, mean, std, channels_last: bool):
        self.device, self.channels_last = device, channels_last
        self.mean, self.std = tuple(mean), tuple(std)

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        non_blocking = self.device.type == "cuda"
        x = x.to(self.device, non_blocking=non_blocking)
        y = y.to(self.device, non_blocking=non_blocking)
        x = normalize(x, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y


def first_inputs(batches, prepare: NormalizeBatch, n: int = 8):
    """Normalised inputs of the first ``n`` batches (to start inserted batch norm as the
    identity on the data)."""
    for i, (x, y) in enumerate(batches):
        if i >= n:
            return
        yield prepare(x, y)[0]


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX): only there is bf16
    inference faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on CPUs with native bf16, else ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


def resolve_amp(amp: str, device: torch.device) -> str:
    """``auto``: bf16 on CPUs with native bf16 (AVX512-BF16/AMX) and on bf16-capable GPUs,
    fp16 (with a GradScaler) on older GPUs, else off."""
    if amp != "auto":
        if amp == "fp16" and device.type == "cpu":
            raise ValueError("amp fp16 is for CUDA; use bf16 on the CPU")
        return amp
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "off"


def autocast(device: torch.device, amp: str):
    """bf16 / fp16 autocast, or nothing for ``off``."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
