"""Input batches for the loops: uint8 images to normalised float batches on the device."""

from __future__ import annotations

import torch

from ..data.transforms import normalize


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
