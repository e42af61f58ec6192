"""Optimizers, their weight-decay parameter groups, and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn


def param_groups(params, weight_decay: float, decay_norm_and_bias: bool = False) -> list[dict]:
    """Optimizer parameter groups: ``weight_decay`` on weight tensors, none on 1-D
    parameters (biases, batch-norm scales, shared centroids) unless
    ``decay_norm_and_bias``: decaying them only fights the normalisation."""
    params = list(params)
    if decay_norm_and_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """SGD (the paper's) or AdamW over the trainable parameters, in :func:`param_groups`."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters (everything is frozen)")
    groups = param_groups(params, cfg.weight_decay, cfg.decay_norm_and_bias)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0
        )
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(schedule: str, step: int, total: int, warmup_fraction: float) -> float:
    """Multiplier of the base lr before optimizer step ``step`` (0-based) of ``total``.

    * ``linear``: 1 -> 0 over the run (the paper's "linear decay to 0"), after any warmup.
    * ``onecycle``: linear warmup from 0.1 to 1, then linear decay to 0.
    * ``cosine``: linear warmup, then half a cosine to 0.
    """
    total = max(total, 1)
    warm = int(round(warmup_fraction * total))
    if schedule == "constant":
        return 1.0
    if step < warm:
        start = 0.1 if schedule == "onecycle" else 0.0
        return start + (1 - start) * step / warm
    t = (step - warm) / max(total - warm, 1)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    return max(0.0, 1.0 - t)


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, total_steps: int, warmup_fraction: float = 0.0
):
    """A LambdaLR of :func:`lr_factor` stepped once per optimizer step (its state is just the
    step count); ``onecycle`` without a warmup warms up over the first quarter."""
    if schedule == "onecycle" and warmup_fraction == 0:
        warmup_fraction = 0.25
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(schedule, step, total_steps, warmup_fraction)
    )
