"""Augmentations of uint8 training batches: random crops and flips, cutout, CutMix."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_crop_flip(
    x: torch.Tensor, padding: int, flip: bool, gen: torch.Generator
) -> torch.Tensor:
    """Per-sample random crop of a zero-padded uint8 batch ``(N, C, H, W)`` plus a random
    horizontal flip, as one gather (no Python loop over images)."""
    n, c, h, w = x.shape
    if padding:
        xp = F.pad(x, (padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
        x = xp[
            torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols
        ]
    if flip:
        flips = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flips[:, None, None, None], x.flip(3), x)
    return x


def random_resized_crop_flip(
    x: torch.Tensor,
    size: int,
    min_scale: float,
    flip: bool,
    gen: torch.Generator,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample random-resized crops of a uint8 batch ``(N, C, H, W)``, resized to ``size``
    x ``size`` and randomly mirrored: the Inception-style crop torchvision's
    ``RandomResizedCrop`` makes (area fraction in ``[min_scale, 1]``, aspect ratio in
    ``[3/4, 4/3]``). A crop wider or taller than the image is clipped to it (torchvision
    retries instead; the difference is in the rare extreme aspect ratios).

    Each crop is a view resized by PyTorch's uint8 bilinear kernel in channels-last layout
    (no antialiasing: crops are at most ``H / size`` times larger than the output), which is
    several times faster than resampling the batch in float. With ``index``, the batch is
    ``x[index]``, cropped straight from ``x`` (keep ``x`` channels-last: no batch copy)."""
    _, c, h, w = x.shape
    n = len(index) if index is not None else x.shape[0]
    area = torch.empty(n).uniform_(min_scale, 1.0, generator=gen) * (h * w)
    ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen).exp()
    cw = (area * ratio).sqrt().round().clamp(1, w).long()
    ch = (area / ratio).sqrt().round().clamp(1, h).long()
    left = (torch.rand(n, generator=gen) * (w - cw + 1)).long()
    top = (torch.rand(n, generator=gen) * (h - ch + 1)).long()
    flips = torch.rand(n, generator=gen) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    rows = index.tolist() if index is not None else list(range(n))
    src = x if index is not None else x.contiguous(memory_format=torch.channels_last)
    out = torch.empty(n, c, size, size, dtype=x.dtype).contiguous(memory_format=torch.channels_last)
    boxes = zip(rows, top.tolist(), left.tolist(), ch.tolist(), cw.tolist())
    for i, (j, t, le, hh, ww) in enumerate(boxes):
        crop = src[j : j + 1, :, t : t + hh, le : le + ww]
        out[i : i + 1] = F.interpolate(
            crop, size=(size, size), mode="bilinear", align_corners=False, antialias=False
        )
    if flips.any():
        out[flips] = out[flips].flip(3)
    return out


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image, centred anywhere in it (clipped at the
    border), as in DeVries & Taylor (2017); one broadcast mask, no Python loop."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=gen)[:, None, None]
    cx = torch.randint(0, w, (n,), generator=gen)[:, None, None]
    top, left = cy - size // 2, cx - size // 2
    rows = torch.arange(h)[None, :, None]
    cols = torch.arange(w)[None, None, :]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return x * ~inside[:, None]


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
