"""The pruning-sensitivity sweep of a trained model on held-out training images, and the
``--prune`` profile chosen from it (``squeezenet sensitivity``; the measurement and the
allocation themselves are in :mod:`squeezenet.pruning.sensitivity`).

Scores top-1 on a held-out part of the training data (never the test split) with each
prunable layer pruned alone to each of ``densities``, then picks each layer's density so that
the summed loss is smallest for an estimated compressed size (``budget`` bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..data.loaders import build_loaders
from ..engine import NormalizeBatch, evaluate_batches
from ..pruning import allocate, measure, prunable, resolve_per_layer
from ..train import resolve_data
from ..weights import create_model
from .quantize import parse_bits


def sensitivity_sweep(
    config: str,
    weights: str,
    budget: float,
    *,
    model: str | None = None,
    data: str | None = None,
    val_fraction: float = 0.1,
    densities: Sequence[float] = (0.5, 0.35, 0.2, 0.1, 0.05),
    skip: Sequence[str] = ("features.0.weight",),
    bits: str = "6",
    candidates: Sequence[float] = (1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.25, 0.2, 0.17, 0.15, 0.12, 0.1),
    log: Callable[[str], None] = lambda s: None,
) -> dict:
    """Measure and allocate. ``config`` is a training config or recipe giving the data and
    its normalisation. Returns the measurements (``sensitivity[layer][density]`` = top-1),
    the chosen ``profile``, the ``prune`` flag value that applies it, and what it was scored
    on. ``log`` receives progress lines."""
    overrides: dict = {"val_fraction": val_fraction, "progress": False, "data": data}
    configured = resolve_data(config, overrides)
    net = create_model(model or configured.model, weights=weights).eval()
    cpu = torch.device("cpu")
    loaded = build_loaders(configured.spec, image_size=configured.image_size)
    prep = NormalizeBatch(cpu, configured.spec.mean, configured.spec.std, channels_last=False)

    def score(m):
        return evaluate_batches(m, loaded.val, prep, device=cpu)["top1"]

    skipped = set(skip)
    layers = [n for n in prunable(net) if n not in skipped]
    numel = {n: p.numel() for n, p in net.named_parameters() if n in layers}
    layer_bits = resolve_per_layer(net, parse_bits(bits), layers, default=32)
    baseline = score(net)
    log(f"baseline top-1 on {loaded.val_source}: {baseline:.4f}")
    sens = measure(net, layers, list(densities), score, progress=log)
    profile = allocate(sens, baseline, numel, layer_bits, budget, list(candidates))
    spec = ",".join(
        [f"{s}=1.0" for s in sorted(skipped)] + [f"{n}={d}" for n, d in profile.items()]
    )
    return {
        "weights": weights,
        "baseline_top1": baseline,
        "scored_on": loaded.val_source,
        "budget_bytes": budget,
        "bits": bits,
        "sensitivity": sens,
        "profile": profile,
        "prune": spec,
        "layers": layers,
        "numel": numel,
    }
