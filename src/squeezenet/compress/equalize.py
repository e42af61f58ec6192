"""Cross-layer equalisation (Nagel et al., "Data-free quantization through weight
equalization and bias correction", ICCV 2019, section 4.1) for SqueezeNet.

ReLU is positively homogeneous, ``relu(x / s) = relu(x) / s`` for ``s > 0``, and max-pooling
and zero padding commute with a positive per-channel scale. So an output channel of one
convolution can be divided by ``s`` (its weights and bias) and the matching input channel of
every convolution that reads it multiplied by ``s``, and the network computes exactly the
same function. SqueezeNet has no batch norm to fold, so the pairs are direct: the stem conv
and each Fire's expand layers (concatenated) feed the next squeeze (or conv10), and each
squeeze feeds both expand layers of its Fire. Choosing ``s = sqrt(r1 / r2)``, with ``r1``
the range of the producer's output channel and ``r2`` that of the consumers' input channel,
gives both the same range ``sqrt(r1 * r2)``, so one quantization grid per layer fits all its
channels better. Fire modules with a bypass are left out (the shortcut would need the same
scale on both paths).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.fire import Fire


def _pairs(model: nn.Module) -> list[tuple[list[nn.Conv2d], list[nn.Conv2d]]]:
    """(producers, consumers): convolutions whose concatenated output channels are, one to
    one, the input channels of each consumer, with only ReLU / max-pool / dropout between."""
    features = getattr(model, "features", None)
    classifier = getattr(model, "classifier", None)
    if not isinstance(features, nn.Sequential) or not isinstance(classifier, nn.Sequential):
        raise ValueError("cross-layer equalisation needs a SqueezeNet (features, classifier)")
    pairs = []
    producers: list[nn.Conv2d] = []
    for layer in [*features, *classifier]:
        if isinstance(layer, (nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.AdaptiveAvgPool2d)):
            continue
        if isinstance(layer, Fire):
            expands = [c for c in (layer.expand1x1, layer.expand3x3) if c is not None]
            if layer.bypass != "none":  # the shortcut adds the unscaled input: a barrier
                producers = []
                continue
            if producers:
                pairs.append((producers, [layer.squeeze]))
            pairs.append(([layer.squeeze], expands))
            producers = expands
        elif isinstance(layer, nn.Conv2d):
            if producers:
                pairs.append((producers, [layer]))
            producers = [layer]
        else:
            raise ValueError(f"cross-layer equalisation does not handle {type(layer).__name__}")
    return pairs


@torch.no_grad()
def equalize(model: nn.Module, iterations: int = 20) -> None:
    """Equalise the per-channel weight ranges of ``model`` in place (the function it computes
    is unchanged up to float rounding). Each convolution takes part as a producer of its
    output channels and a consumer of its input channels, so the pairs are visited
    ``iterations`` times, as the paper does until the scales settle (after 20 sweeps the
    ranges of each pair agree to about 10%, after 100 to 0.5%)."""
    pairs = _pairs(model)
    for _ in range(iterations):
        for producers, consumers in pairs:
            r1 = torch.cat([p.weight.abs().flatten(1).amax(1) for p in producers])
            r2 = torch.stack([c.weight.abs().transpose(0, 1).flatten(1).amax(1) for c in consumers])
            r2 = r2.amax(0)
            scale = torch.ones_like(r1)
            live = (r1 > 0) & (r2 > 0)  # a dead channel keeps scale 1
            scale[live] = torch.sqrt(r1[live] / r2[live])
            start = 0
            for p in producers:
                s = scale[start : start + p.out_channels]
                p.weight /= s.view(-1, *([1] * (p.weight.dim() - 1)))
                if p.bias is not None:
                    p.bias /= s
                start += p.out_channels
            for c in consumers:
                c.weight *= scale.view(1, -1, *([1] * (c.weight.dim() - 2)))
