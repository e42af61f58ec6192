"""Magnitude pruning with persistent masks (Deep Compression section 2; Han et al. 2015),
shaped like ``torch.ao.pruning``'s sparsifiers.

Masks are state: :class:`MagnitudeSparsifier` keeps one boolean mask per pruned weight,
re-applies it after every optimizer step (momentum and weight decay would otherwise revive
pruned weights), exposes it for checkpoints (``state_dict``/``load_state_dict``) and is
squashed with :meth:`MagnitudeSparsifier.squash_mask` before export, leaving plain tensors
with exact zeros. How much to prune when is the scheduler's job (scheduler.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

GRANULARITIES = ("weight", "kernel")


def magnitude_mask(
    weight: torch.Tensor, density: float, granularity: str = "weight"
) -> torch.Tensor:
    """Keep the ``density`` fraction of weights with the largest magnitude.

    ``granularity="kernel"`` keeps or drops whole k x k kernels (one input channel of one
    filter) by their L2 norm, the coarser grain of Mao et al. 2017 ("Exploring the
    granularity of sparsity in CNNs"): a kernel-sparse layer's positions cost a fraction
    of a bit per kept weight instead of about H(d)/d bits, so more weights fit the same file.
    Layers with 1x1 kernels are pruned weight by weight either way."""
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if granularity not in GRANULARITIES:
        raise ValueError(
            f"unknown pruning granularity {granularity!r}; choose from {GRANULARITIES}"
        )
    if granularity == "kernel" and weight.dim() == 4 and weight[0, 0].numel() > 1:
        norms = weight.detach().flatten(2).norm(dim=2)
        return magnitude_mask(norms, density)[:, :, None, None].expand_as(weight).clone()
    keep = max(1, math.ceil(density * weight.numel()))
    if keep >= weight.numel():
        return torch.ones_like(weight, dtype=torch.bool)
    threshold = weight.abs().flatten().kthvalue(weight.numel() - keep + 1).values
    return weight.abs() >= threshold


class MagnitudeSparsifier:
    """Holds the masks of a model's pruned weights and keeps the weights masked."""

    def __init__(self, model: nn.Module, granularity: str = "weight") -> None:
        if granularity not in GRANULARITIES:
            raise ValueError(
                f"unknown pruning granularity {granularity!r}; choose from {GRANULARITIES}"
            )
        self.model = model
        self.granularity = granularity
        self.masks: dict[str, torch.Tensor] = {}
        self._params = dict(model.named_parameters())

    def step(self, densities: dict[str, float]) -> None:
        """(Re)compute masks by magnitude to ``densities``; a weight pruned before stays
        pruned."""
        for name, density in densities.items():
            w = self._params[name].detach()
            mask = magnitude_mask(
                w * self.masks[name] if name in self.masks else w, density, self.granularity
            )
            if name in self.masks:
                mask &= self.masks[name]
            self.masks[name] = mask
        self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights (call after every optimizer step)."""
        for name, mask in self.masks.items():
            self._params[name].mul_(mask)

    def mask_gradients(self) -> None:
        """Zero gradients of pruned weights (call between backward and step)."""
        for name, mask in self.masks.items():
            g = self._params[name].grad
            if g is not None:
                g.mul_(mask)

    def hook_optimizer(self, optimizer: torch.optim.Optimizer):
        """Re-apply the masks after every ``optimizer.step()``; returns the hook handle."""
        return optimizer.register_step_post_hook(lambda *_: self.apply())

    def density(self) -> float:
        """The fraction of the masked weights that is kept."""
        total = sum(m.numel() for m in self.masks.values())
        return sum(int(m.sum()) for m in self.masks.values()) / max(total, 1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: m.clone() for n, m in self.masks.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, mask in state.items():
            if name not in self._params or mask.shape != self._params[name].shape:
                raise ValueError(f"pruning mask {name!r} does not fit the model")
            self.masks[name] = mask.to(torch.bool).clone()
        self.apply()

    def squash_mask(self) -> None:
        """Make the pruning permanent and drop the masks (before export)."""
        self.apply()
        self.masks.clear()
