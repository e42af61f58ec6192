"""What the pipeline asks of a tuner: one fine-tuning stage of Deep Compression, after a
pruning round (section 2) or on the shared centroids (section 3.3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from torch import nn


@dataclass(frozen=True)
class FineTune:
    """``steps`` steps on ``params`` of ``model`` at ``lr``. ``before_step`` runs between
    backward and the update (gradient masking, per-cluster gradient sums), ``after_step``
    after it (re-applying masks or shared values); ``centroids`` says that ``params`` are
    shared values (codebook fine-tuning)."""

    model: nn.Module
    params: list[nn.Parameter]
    steps: int
    lr: float
    before_step: Callable[[], None]
    after_step: Callable[[], None]
    desc: str
    seed: int
    centroids: bool = False


class Tuner(Protocol):
    """Runs a :class:`FineTune` (e.g. ``LabelledRetraining``, ``Distillation``); returns the
    mean loss of its last 10% of steps."""

    def run(self, job: FineTune) -> float: ...
