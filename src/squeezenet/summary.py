"""Model size and cost: the columns of the paper's Tables 1 and 2."""

from __future__ import annotations

import torch
from torch import nn

from .models import default_input_size, list_models
from .weights import create_model

MiB = 2**20


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1 x 3 x size x size input
    (convolutions and linear layers; pooling and ReLU are not counted)."""
    total = 0

    def conv_hook(m: nn.Conv2d, inputs, output):
        nonlocal total
        kh, kw = m.kernel_size
        total += output.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() * m.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            in_ch = getattr(getattr(model, "spec", None), "in_channels", 3)
            model(torch.zeros(1, in_ch, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def summarize(name: str, input_size: int | None = None, **overrides) -> dict:
    """Parameters, fp32 size, MACs and size ratio vs AlexNet for a registered model."""
    model = create_model(name, **overrides)
    size = input_size or default_input_size(name)
    params = count_params(model)
    alexnet_params = count_params(create_model("alexnet"))
    return {
        "model": name,
        "params": params,
        "size_mib_fp32": params * 4 / MiB,
        "input_size": size,
        "macs": count_macs(model, size),
        "alexnet_size_ratio": alexnet_params / params,
    }


def summarize_all(names: list[str] | None = None) -> list[dict]:
    return [summarize(n) for n in (names or list_models()) if n != "squeezenet"]
