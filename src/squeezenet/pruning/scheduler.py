"""The iterative pruning schedule (Han et al. 2015, section 3.3: prune, retrain, repeat),
shaped like ``torch.ao.pruning``'s sparsity schedulers; ``train --prune`` steps it once per
epoch, ``compress`` once per round of pruning and fine-tuning."""

from __future__ import annotations

from .sparsifier import MagnitudeSparsifier


class GeometricScheduler:
    """Reaches ``targets`` (densities) in ``rounds`` rounds: round r of R prunes to
    ``d ** (r / R)`` of each target d, so every round removes the same fraction of what is
    left. The rounds are spread over ``span`` steps (by default one round a step): round r
    falls on step ``int((r - 1) * span / R)``."""

    def __init__(
        self,
        sparsifier: MagnitudeSparsifier,
        targets: dict[str, float],
        rounds: int,
        span: float | None = None,
    ) -> None:
        self.sparsifier, self.targets, self.rounds = sparsifier, targets, rounds
        span = rounds if span is None else span
        self.starts = [int(r * span / rounds) for r in range(rounds)]

    @property
    def last_step(self) -> int:
        """The step (0-based) that holds the final round."""
        return self.starts[-1]

    def densities(self, r: int) -> dict[str, float]:
        """The densities reached after round ``r`` (1-based)."""
        return {n: d ** (r / self.rounds) for n, d in self.targets.items()}

    def step(self, t: int) -> list[int]:
        """Prune the rounds that fall on step ``t`` (0-based); returns their numbers."""
        due = [r for r, at in enumerate(self.starts, 1) if at == t]
        for r in due:
            self.sparsifier.step(self.densities(r))
        return due
