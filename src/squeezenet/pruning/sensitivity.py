"""Per-layer pruning sensitivity and a density per layer chosen from it.

Han et al. (2015, "Learning both weights and connections", section 4 and Figure 5) prune
each layer alone to see how much it can lose, then pick each layer's density from that
curve; Deep Compression keeps the per-layer densities. :func:`measure` does the sweep
(one layer at a time, magnitude pruning, the rest untouched) and :func:`allocate` turns it
into densities: it minimises the summed one-shot loss subject to an estimate of the bytes
the layers take in a compressed file (Lagrangian relaxation, one multiplier found by
bisection), so small sensitive layers stay dense and big tolerant ones go sparse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn

from .sparsifier import magnitude_mask


def estimated_bytes(numel: int, density: float, bits: int) -> float:
    """Rough encoded size of a weight-pruned layer: positions at the binary entropy of the
    mask, indices at about 0.9 bit per codebook bit (k-means codebooks are not uniform),
    and the codebook itself."""
    d = min(max(density, 0.0), 1.0)
    mask_bits = 0.0 if d in (0.0, 1.0) else -(d * math.log2(d) + (1 - d) * math.log2(1 - d))
    return numel * (mask_bits + d * 0.9 * bits) / 8 + 1.3 * 2**bits + 20


@torch.no_grad()
def measure(
    model: nn.Module,
    layers: Iterable[str],
    densities: Iterable[float],
    score: Callable[[nn.Module], float],
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[float, float]]:
    """``{layer: {density: score}}`` with only that layer pruned to that density; the model
    is restored after each measurement. ``score`` is higher-is-better (e.g. top-1)."""
    params = dict(model.named_parameters())
    out: dict[str, dict[float, float]] = {}
    for name in layers:
        if name not in params:
            raise ValueError(f"no parameter {name!r} in the model")
        original = params[name].detach().clone()
        out[name] = {}
        for d in densities:
            params[name].mul_(magnitude_mask(original, d))
            out[name][float(d)] = float(score(model))
            params[name].copy_(original)
            if progress:
                progress(f"{name} at {d:.0%}: {out[name][float(d)]:.4f}")
    return out


def _loss_curve(points: dict[float, float], baseline: float):
    """Score loss as a function of density: 0 when dense, monotone (never better when
    sparser), linear in log-density between measured points."""
    ds = sorted({1.0, *points}, reverse=True)
    losses = np.maximum.accumulate([max(baseline - points.get(d, baseline), 0.0) for d in ds])
    xs, ys = np.log(ds[::-1]), losses[::-1]
    return lambda d: float(np.interp(math.log(d), xs, ys))


def allocate(
    sensitivity: dict[str, dict[float, float]],
    baseline: float,
    numel: dict[str, int],
    bits: dict[str, int],
    budget_bytes: float,
    candidates: Iterable[float],
) -> dict[str, float]:
    """Densities (from ``candidates``) minimising the summed one-shot score loss with the
    :func:`estimated_bytes` of all layers within ``budget_bytes``. Raises ValueError if
    even the sparsest candidates do not fit."""
    candidates = sorted(set(float(c) for c in candidates))
    curves = {n: _loss_curve(p, baseline) for n, p in sensitivity.items()}
    cost = {n: {d: estimated_bytes(numel[n], d, bits[n]) for d in candidates} for n in curves}

    def pick(lam: float) -> dict[str, float]:
        return {
            n: min(candidates, key=lambda d: (curves[n](d) + lam * cost[n][d], -d)) for n in curves
        }

    def total(choice: dict[str, float]) -> float:
        return sum(cost[n][d] for n, d in choice.items())

    sparsest = {n: candidates[0] for n in curves}
    if total(sparsest) > budget_bytes:
        raise ValueError(
            f"even {candidates[0]:.0%} everywhere needs about "
            f"{total(sparsest):,.0f} bytes, more than the budget of "
            f"{budget_bytes:,.0f}"
        )
    if total(pick(0.0)) <= budget_bytes:  # the budget does not bind: least loss, densest
        return pick(0.0)
    lo, hi = 0.0, 1.0
    while total(pick(hi)) > budget_bytes:  # grow until the budget binds
        lo, hi = hi, hi * 10
    for _ in range(100):
        mid = (lo + hi) / 2
        if total(pick(mid)) > budget_bytes:
            lo = mid
        else:
            hi = mid
    return pick(hi)
