"""The fuzz targets of tests/fuzz/ (docs/security.md): the inputs that found bugs replay
cleanly, structure-aware mutations of every target's seeds end in the documented errors, and
a short coverage-guided run (atheris, when installed) starts, fuzzes and exits cleanly."""

from __future__ import annotations

import importlib.util
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import time_limit

FUZZ = Path(__file__).with_name("fuzz")
REGRESSIONS = Path(__file__).with_name("data") / "fuzz-regressions"
sys.path.insert(0, str(FUZZ))

from mutators import STRUCTURED  # noqa: E402
from targets import TARGETS, seeds  # noqa: E402


def _rss_mb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS:"))


def _run_bounded(target: str, data: bytes) -> None:
    """Run one input as the fuzzer does: documented errors only, at most 20 s (the fuzzer
    allows 2; a loaded test machine is slower), at most 256 MiB of new peak memory."""
    before = _rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    with time_limit(20, f"{target}: input still running"):
        TARGETS[target](data)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    assert peak <= peak_before or peak - before <= 256, f"{target}: peak grew to {peak} MiB"


@pytest.mark.parametrize(
    "path",
    sorted(REGRESSIONS.glob("*/*")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_inputs_that_found_bugs(path):
    _run_bounded(path.parent.name, path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_structured_mutations_end_in_documented_errors(target):
    rng = random.Random(0)
    mutate = STRUCTURED.get(target)
    for data in seeds(target):
        _run_bounded(target, data)
        for _ in range(25 if mutate else 0):
            _run_bounded(target, mutate(data, rng))


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_coverage_guided_smoke_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "sqz", "--corpus", str(tmp_path), "-runs=300"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 300 runs" in proc.stderr
    # The corpus (what a later run continues from): the seeds, and what the run added.
    assert {"seed-0", "seed-1"} <= {p.name for p in tmp_path.iterdir()}
