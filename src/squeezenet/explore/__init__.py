"""Reproducing the paper's experiments: the design-space sweep and the paper-style report."""

from .points import SweepPoint, parse_shard, sweep_points, unique_trainings
from .runner import run_sweep
from .tables import render_report
