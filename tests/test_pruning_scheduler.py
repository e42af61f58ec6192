"""The iterative pruning schedule that train --prune and compress share."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from squeezenet.pruning import GeometricScheduler, MagnitudeSparsifier


def _schedule(rounds, span=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 10))
    sparsifier = MagnitudeSparsifier(model)
    return GeometricScheduler(sparsifier, {"0.weight": 0.25}, rounds, span), sparsifier


def test_each_round_removes_the_same_fraction_of_what_is_left():
    schedule, sparsifier = _schedule(2)
    assert schedule.densities(1)["0.weight"] == pytest.approx(0.5)
    assert [schedule.step(t) for t in range(2)] == [[1], [2]]  # one round a step
    assert sparsifier.density() == 0.25


def test_rounds_spread_over_a_span_of_epochs():
    # train --epochs 10 --prune-rounds 3 --prune-until 0.5: rounds start epochs 0, 1 and 3.
    schedule, sparsifier = _schedule(3, span=0.5 * 10)
    assert schedule.starts == [0, 1, 3] and schedule.last_step == 3
    assert [schedule.step(t) for t in range(5)] == [[1], [2], [], [3], []]
    assert sparsifier.density() == 0.25
    # More rounds than steps: several rounds fall on one step.
    schedule, _ = _schedule(3, span=1)
    assert schedule.step(0) == [1, 2, 3]
