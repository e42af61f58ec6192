"""Magnitude pruning with persistent masks (Deep Compression section 2; Han et al. 2015).

Masks are state: :class:`Pruner` keeps one boolean buffer per pruned weight, re-applies it
after every optimizer step (momentum and weight decay would otherwise revive pruned
weights), exposes it for checkpoints (``state_dict``/``load_state_dict``) and is removed
with :meth:`Pruner.remove` before export, leaving plain tensors with exact zeros.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar, overload

import torch
from torch import nn

from .models.fire import Fire

# SqueezeNet paper Table 1, "sparsity" column (the fraction of weights kept after Deep
# Compression; Han's released file has exactly these densities): conv1 dense; expand 3x3 at
# 33%, 30% in fire8 and fire9; the 1x1 layers the paper halves at 50% (fire6 and fire8
# expand 1x1, fire7 and fire9 squeeze); conv10 at 20%; everything else dense. Keys are
# wildcard patterns over parameter names or their paper aliases (fire_aliases); first match
# wins.
SQUEEZENET_PROFILE: dict[str, float] = {
    "fire8.expand3x3.weight": 0.30,
    "fire9.expand3x3.weight": 0.30,
    "fire*.expand3x3.weight": 0.33,
    "fire6.expand1x1.weight": 0.5,
    "fire8.expand1x1.weight": 0.5,
    "fire7.squeeze.weight": 0.5,
    "fire9.squeeze.weight": 0.5,
    "classifier.*.weight": 0.20,
}


PROFILES: dict[str, float | dict[str, float]] = {"paper": SQUEEZENET_PROFILE, "none": 1.0}


def parse_prune(spec: str | float | dict) -> float | dict:
    """``paper``, ``none``, a density ``0.4`` or ``pattern=density,...``; ValueError (naming
    the value given) for anything else, or a density outside (0, 1]."""
    if isinstance(spec, str) and spec in PROFILES:
        return PROFILES[spec]
    try:
        if isinstance(spec, (int, float, dict)):
            parsed: float | dict = spec
        elif "=" in spec:
            parts = (part.partition("=") for part in spec.split(","))
            parsed = {p.strip(): float(d) for p, _, d in parts}
        else:
            parsed = float(spec)
    except (TypeError, ValueError):
        parsed = None  # type: ignore[assignment]  # reported below
    values = list(parsed.values()) if isinstance(parsed, dict) else [parsed]
    if parsed is None or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in values
    ):
        raise ValueError(
            "densities must be in (0, 1]: give a density, 'paper', 'none' or "
            f"'pattern=density,...', got {spec!r}"
        )
    return parsed


def fire_aliases(model: nn.Module) -> dict[str, str]:
    """Map parameter names to paper names (features.3.squeeze.weight -> fire2.squeeze.weight)
    so profiles can say ``fire8`` whatever the layer indices of the variant."""
    aliases = {}
    fire_i = 2
    for name, module in model.named_modules():
        if isinstance(module, Fire):
            for pname, _ in module.named_parameters():
                aliases[f"{name}.{pname}"] = f"fire{fire_i}.{pname}"
            fire_i += 1
    return aliases


def _match(pattern: str, name: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*")
    return re.fullmatch(regex, name) is not None


V = TypeVar("V", bound=float)  # a density (float) or a bit width (int)
D = TypeVar("D", bound="float | None")  # the value of layers no pattern matches


@overload
def resolve_per_layer(
    model: nn.Module, profile: Mapping[str, float] | float, names: list[str]
) -> dict[str, float]: ...
@overload
def resolve_per_layer(
    model: nn.Module, profile: Mapping[str, V] | V, names: list[str], default: D
) -> dict[str, V | D]: ...
def resolve_per_layer(
    model: nn.Module,
    profile: Mapping[str, Any] | float,
    names: list[str],
    default: float | None = 1.0,
) -> dict[str, Any]:
    """Per-parameter value (a density, or a bit width for quantization) from a profile: a
    number applies to all, a {pattern: value} dict gives the first matching pattern's value
    (names or fire aliases), else ``default``."""
    if isinstance(profile, (int, float)):
        return {n: profile for n in names}
    aliases = fire_aliases(model)
    out: dict[str, Any] = {}
    for n in names:
        alias = aliases.get(n, n)
        for pattern, density in profile.items():
            if _match(pattern, n) or _match(pattern, alias):
                out[n] = density
                break
        else:
            out[n] = default
    return out


def prunable(model: nn.Module) -> list[str]:
    """Names of conv / linear weights (biases are never pruned: they are few)."""
    return [
        f"{name}.weight"
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]


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


class Pruner:
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

    def prune(self, densities: dict[str, float]) -> None:
        """(Re)compute masks by magnitude; a weight pruned before stays pruned."""
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

    def density(self) -> dict[str, float]:
        return {n: float(m.float().mean()) for n, m in self.masks.items()}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: m.clone() for n, m in self.masks.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, mask in state.items():
            if name not in self._params or mask.shape != self._params[name].shape:
                raise ValueError(f"pruning mask {name!r} does not fit the model")
            self.masks[name] = mask.to(torch.bool).clone()
        self.apply()

    def remove(self) -> None:
        """Make the pruning permanent and drop the masks (before export)."""
        self.apply()
        self.masks.clear()
