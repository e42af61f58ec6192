"""Augmentations of uint8 training batches: random crops and flips, cutout, CutMix."""

from __future__ import annotations

import math

import torch


class CutMix:
    """CutMix (Yun et al., 2019): with probability ``prob``, a batch gets a box of each image
    replaced by the same box of another image in the batch, and the loss weighs the two labels
    by the areas they cover. The box area is uniform (the paper's Beta(1, 1)). Reseeded per
    (seed, epoch, rank) so that a resumed run mixes exactly as an uninterrupted one."""

    def __init__(self, prob: float, seed: int, rank: int) -> None:
        self.prob, self.seed, self.rank = prob, seed, rank
        self.gen = torch.Generator()

    def set_epoch(self, epoch: int) -> None:
        self.gen.manual_seed((self.seed * 1_000_003 + epoch) * 8191 + self.rank + 7)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """(mixed images, the pasted images' labels or None, weight of ``y``)."""
        draw = torch.rand(4, generator=self.gen).tolist()
        if draw[0] >= self.prob or len(y) < 2:
            return x, None, 1.0
        h, w = x.shape[-2:]
        side = math.sqrt(1 - draw[1])  # the box covers 1 - lam of the image before clipping
        cy, cx = int(draw[2] * h), int(draw[3] * w)
        half_h, half_w = int(h * side / 2), int(w * side / 2)
        top, bottom = max(cy - half_h, 0), min(cy + half_h, h)
        left, right = max(cx - half_w, 0), min(cx + half_w, w)
        if bottom <= top or right <= left:
            return x, None, 1.0
        perm = torch.randperm(len(y), generator=self.gen).to(y.device)
        x = x.clone()
        x[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
        return x, y[perm], 1 - (bottom - top) * (right - left) / (h * w)
