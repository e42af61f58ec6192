"""Cross-layer equalisation: the same function, equal ranges across each pair."""

from __future__ import annotations

import copy

import pytest
import torch

from squeezenet import create_model
from squeezenet.compress.equalize import _pairs, equalize


def _ranges(pairs):
    for producers, consumers in pairs:
        r1 = torch.cat([p.weight.abs().flatten(1).amax(1) for p in producers])
        r2 = torch.stack([c.weight.abs().transpose(0, 1).flatten(1).amax(1) for c in consumers])
        yield r1, r2.amax(0)


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1", "squeezenet1_0_simple_bypass"])
def test_equalisation_leaves_the_outputs_unchanged(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():  # uneven channel ranges, as trained weights have
        for p in model.parameters():
            p.mul_(torch.rand(p.shape[0], *([1] * (p.dim() - 1))) * 4 + 0.05)
    x = torch.randn(2, 3, 96, 96)
    before = model(x)
    equalized = copy.deepcopy(model)
    equalize(equalized)
    after = equalized(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5 * before.abs().max().item())
    assert not torch.equal(equalized.features[0].weight, model.features[0].weight)


def test_equalisation_gives_each_pair_the_same_ranges():
    torch.manual_seed(1)
    model = create_model("squeezenet1_1").eval()
    pairs = _pairs(model)
    assert len(pairs) == 1 + 8 * 2  # stem -> fire2, each squeeze -> expands, expands -> next
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(torch.rand(p.shape[0], *([1] * (p.dim() - 1))) * 4 + 0.05)
    equalize(model, iterations=100)
    for r1, r2 in _ranges(pairs):
        torch.testing.assert_close(r1, r2, rtol=1e-2, atol=0)


def test_equalisation_needs_a_squeezenet():
    with pytest.raises(ValueError, match="needs a SqueezeNet"):
        equalize(torch.nn.Linear(3, 3))


def test_compress_with_equalisation_keeps_the_function_before_rounding():
    """``compress(..., equalize=True)`` equalises before choosing the grids; with an
    uncompressed copy equalised the same way, the dense network's outputs agree."""
    from squeezenet.compress import compress

    torch.manual_seed(3)
    model = create_model("squeezenet1_1", num_classes=10).eval()
    x = torch.randn(8, 3, 64, 64)
    dense = model(x)
    _, report = compress(
        model, "squeezenet", calibration=x, preset="gptq", equalize=True, progress=False
    )
    assert report.to_dict()["stages"][1]["stage"] == "quantized (GPTQ)"
    assert float((model(x) - dense).abs().max()) < 0.5 * float(dense.abs().max())
    with pytest.raises(Exception, match="needs a SqueezeNet"):
        compress(
            torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)),
            "conv",
            calibration=x,
            preset="gptq",
            equalize=True,
            progress=False,
        )
