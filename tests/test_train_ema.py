"""The weights' exponential moving average (``ema_decay``): its arithmetic, its place at the
end of a run, and a resume that continues it exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import Interrupt, stop_after, tiny_config
from squeezenet.train import fit
from squeezenet.train.checkpoint import load_checkpoint
from squeezenet.train.trainer import weight_average


def test_the_average_follows_decay_times_average_plus_the_rest_times_weights():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    average = weight_average(model, 0.75)
    expected = torch.empty(0)
    for step in range(3):
        with torch.no_grad():
            model[0].weight.add_(step + 1.0)
            model[1].running_mean.fill_(4.0 * (step + 1))
        average.update_parameters(model)
        weight = model[0].weight.detach().clone()
        expected = weight if step == 0 else 0.75 * expected + 0.25 * weight  # first: a copy
    assert torch.allclose(average.module[0].weight, expected)
    assert not torch.allclose(average.module[0].weight, model[0].weight)
    # Batch-norm statistics are averaged too: 4, then 0.75 * 4 + 0.25 * 8 = 5, then with 12.
    assert torch.allclose(average.module[1].running_mean, torch.full((2,), 0.75 * 5 + 3.0))


def test_the_average_replaces_the_final_weights(tree, tmp_path):
    plain = fit(tiny_config(tree, tmp_path / "plain"))["model"].state_dict()
    averaged = fit(tiny_config(tree, tmp_path / "ema", ema_decay=0.9))["model"].state_dict()
    ckpt = load_checkpoint(tmp_path / "ema" / "last.pt")
    ema = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k != "n_averaged"}
    assert ema.keys() == averaged.keys()
    for k, v in averaged.items():
        assert torch.equal(v, ema[k]), k
    # The average does not steer training: it only changes which weights the run ends with.
    weights = [k for k in plain if plain[k].is_floating_point()]
    assert any(not torch.equal(plain[k], averaged[k]) for k in weights)
    assert load_checkpoint(tmp_path / "plain" / "last.pt")["ema"] is None


def test_a_resumed_run_continues_the_average_exactly(tree, tmp_path):
    straight = fit(tiny_config(tree, tmp_path / "a", ema_decay=0.9))["model"].state_dict()

    with pytest.raises(Interrupt):
        fit(tiny_config(tree, tmp_path / "b", ema_decay=0.9), on_epoch_end=stop_after(2))
    resumed = fit(tiny_config(tree, tmp_path / "b", ema_decay=0.9, resume=True))
    state = resumed["model"].state_dict()
    for k in straight:
        assert torch.equal(state[k], straight[k]), k


def test_ema_decay_must_lie_strictly_between_0_and_1(tree, tmp_path):
    for decay in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"ema_decay must be in \(0, 1\), got"):
            fit(tiny_config(tree, tmp_path / "x", ema_decay=decay))
