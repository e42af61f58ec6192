"""Per-layer pruning sensitivity and the density allocation built on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from squeezenet.pruning import allocate, estimated_bytes, measure


def test_measure_prunes_one_layer_at_a_time_and_restores_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, 8)
    reference = model(x).detach()
    seen = []

    def score(m):
        # Which layers are pruned right now? Only the one being measured may be.
        seen.append(tuple(int((p == 0).sum()) for p in (m[0].weight, m[2].weight)))
        return -float((m(x) - reference).pow(2).mean())

    sens = measure(model, ["0.weight", "2.weight"], [0.5, 0.25], score)
    assert seen == [(32, 0), (48, 0), (0, 8), (0, 12)]
    assert sens["0.weight"][0.25] < sens["0.weight"][0.5] < 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        measure(model, ["nope"], [0.5], score)


def test_allocate_keeps_sensitive_layers_dense_within_the_budget():
    baseline = 0.9
    sens = {
        "small_sensitive": {0.5: 0.6, 0.2: 0.2, 0.1: 0.1},
        "big_tolerant": {0.5: 0.9, 0.2: 0.895, 0.1: 0.89},
    }
    numel = {"small_sensitive": 4_000, "big_tolerant": 400_000}
    bits = {"small_sensitive": 6, "big_tolerant": 4}
    budget = estimated_bytes(4_000, 0.2, 6) + estimated_bytes(400_000, 0.2, 4)
    choice = allocate(sens, baseline, numel, bits, budget, [1.0, 0.5, 0.2, 0.1])
    assert choice == {"small_sensitive": 1.0, "big_tolerant": 0.1}
    assert sum(estimated_bytes(numel[n], d, bits[n]) for n, d in choice.items()) <= budget
    # A generous budget keeps everything dense; an impossible one is refused.
    assert set(allocate(sens, baseline, numel, bits, 1e9, [1.0, 0.5]).values()) == {1.0}
    with pytest.raises(ValueError, match="even 10% everywhere needs about"):
        allocate(sens, baseline, numel, bits, 1000, [1.0, 0.1])


def test_estimated_bytes_counts_positions_and_indices():
    # Dense: no position cost, 0.9 x 4 bits per weight.
    assert estimated_bytes(8000, 1.0, 4) == pytest.approx(8000 * 3.6 / 8 + 1.3 * 16 + 20)
    # Half density: 1 bit of mask per weight plus half the indices.
    assert estimated_bytes(8000, 0.5, 4) == pytest.approx(8000 * (1 + 1.8) / 8 + 1.3 * 16 + 20)


def test_sensitivity_command_measures_every_layer_and_prints_the_profile(tmp_path, capsys):
    import json

    import yaml

    from helpers import write_tree
    from squeezenet import create_model
    from squeezenet.cli import main

    tree = write_tree(tmp_path / "data", per_class=(6, 2))
    weights = tmp_path / "w.pth"
    torch.save(create_model("squeezenet_cifar", num_classes=3).state_dict(), weights)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": "squeezenet_cifar", "image_size": 16}))
    out = tmp_path / "s.json"
    common = ["--config", str(config), "--weights", str(weights), "--data", str(tree)]
    flags = ["--budget", "200000", "--densities", "0.5,0.2", "--val-fraction", "0.5"]
    assert main(["sensitivity", *common, *flags, "-o", str(out)]) == 0
    written = json.loads(out.read_text())
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"--prune '{written['prune']}'"
    layers = list(written["profile"])
    assert "features.0.weight" not in layers and len(layers) == 25
    assert list(written["sensitivity"]) == layers
    assert all(list(s) == ["0.5", "0.2"] for s in written["sensitivity"].values())
    assert all(0 <= v <= 1 for s in written["sensitivity"].values() for v in s.values())
    expected = ",".join(
        ["features.0.weight=1.0"] + [f"{n}={d}" for n, d in written["profile"].items()]
    )
    assert written["prune"] == expected
    assert 0 <= written["baseline_top1"] <= 1 and written["budget_bytes"] == 200000
