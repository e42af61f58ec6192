"""The design-space sweep of the SqueezeNet paper (section 5 and 6), as data.

* SR sweep (section 5.2, Figure 3a): SR in {0.125, 0.25, 0.5, 0.75, 1.0}, pct3x3 = 0.5.
* pct3x3 sweep (section 5.3, Figure 3b): pct3x3 in {0.01, 0.125, 0.25, 0.5, 0.75, 0.99}, SR = 0.5.
* bypass study (section 6, Table 3): vanilla, simple and complex bypass at SR = 0.125.

All with base_e = incr_e = 128, freq = 2. Points that share a configuration (e.g. SR = 0.5 with
pct3x3 = 0.5 belongs to both sweeps) are trained once per seed and reported under each
experiment. The paper reports one training per point; several seeds per point give each
point a spread, so that a difference between points can be weighed against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models import SQUEEZENET1_0
from ..models.squeezenet import SqueezeNetSpec

SR_VALUES = (0.125, 0.25, 0.5, 0.75, 1.0)
PCT3X3_VALUES = (0.01, 0.125, 0.25, 0.5, 0.75, 0.99)
BYPASS_VALUES = ("none", "simple", "complex")
BASE = {"base_e": 128, "incr_e": 128, "freq": 2}


@dataclass(frozen=True)
class SweepPoint:
    experiment: str  # "sr" | "pct3x3" | "bypass"
    sr: float
    pct3x3: float
    bypass: str

    @property
    def key(self) -> str:
        """Identifies the trained configuration (shared between experiments)."""
        return f"sr{self.sr:g}_pct{self.pct3x3:g}_{self.bypass}"

    def model_args(self) -> dict:
        return {**BASE, "sr": self.sr, "pct3x3": self.pct3x3, "bypass": self.bypass}

    def imagenet_spec(self) -> SqueezeNetSpec:
        """The same metaparameters in the paper's ImageNet network (v1.0 layout, 1000
        classes), whose fp32 size is the x axis of the paper's Figure 3."""
        return SQUEEZENET1_0.replace(**self.model_args())


def sweep_points(experiments: tuple[str, ...] = ("sr", "pct3x3", "bypass")) -> list[SweepPoint]:
    points = []
    if "sr" in experiments:
        points += [SweepPoint("sr", sr, 0.5, "none") for sr in SR_VALUES]
    if "pct3x3" in experiments:
        points += [SweepPoint("pct3x3", 0.5, pct, "none") for pct in PCT3X3_VALUES]
    if "bypass" in experiments:
        points += [SweepPoint("bypass", 0.125, 0.5, b) for b in BYPASS_VALUES]
    unknown = set(experiments) - {"sr", "pct3x3", "bypass"}
    if unknown:
        raise ValueError(f"unknown experiments {sorted(unknown)}; choose from sr, pct3x3, bypass")
    return points


def unique_trainings(points: list[SweepPoint]) -> list[SweepPoint]:
    """One point per distinct configuration, in first-seen order."""
    seen: dict[str, SweepPoint] = {}
    for p in points:
        seen.setdefault(p.key, p)
    return list(seen.values())


def training_pairs(points: list[SweepPoint], seeds: list[int]) -> list[tuple[SweepPoint, int]]:
    """Every (distinct configuration, seed) pair, seed by seed: an interrupted sweep has
    finished whole seeds of the sweep first, which already make a (one-seed) figure."""
    return [(p, s) for s in seeds for p in unique_trainings(points)]


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N: the K-th of N disjoint shares of the pairs."""
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (-1, 0)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ValueError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/3")
    return shard


def shard_of(pairs: list, shard: tuple[int, int]) -> list:
    """Every N-th pair starting at K, counted over the whole sweep (not over what is left),
    so that a shard's share does not change when it, or another shard, resumes."""
    k, n = shard
    return pairs[k::n]
