"""Structure-aware fuzzing of every weights format through the loaders the CLI uses: each
input either loads or gets the project's own error (WeightsError naming the file); none
escapes with another exception, hangs or allocates without bound.

The default run tries a few hundred inputs. The full run (docs/security.md records its
result) is opt-in::

    SQUEEZENET_FUZZ_INPUTS=100000 pytest -m slow tests/test_fuzz_weights.py -s

``SQUEEZENET_FUZZ_SHARD=i/n`` runs the i-th of n disjoint shares of the same inputs, so a
run can be spread over processes (n commands, i = 0 .. n-1).
"""

from __future__ import annotations

import collections
import os
import random
import resource
import signal
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import tiny_model
from hostile_weights import GENERATORS
from squeezenet import create_model
from squeezenet.weights import WeightsError
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.modeldesc import model_from_description

HANG_SECONDS = 20
MEMORY_LIMIT = 1 << 30


class Hung(Exception):
    pass


def load_like_the_cli(path: Path) -> None:
    """What `predict --weights` and `decompress` do with a file."""
    if path.suffix == ".net":
        create_model("squeezenet1_0", weights=str(path))
        return
    tiny_model(num_classes=None, weights=str(path))
    if path.suffix == ".sqz":
        cm = fileformat.load(path)
        model_from_description(
            cm.model, {k: tuple(v.shape) for k, v in cm.state_dict().items()}, str(path)
        )


def outcome(path: Path) -> str:
    """'loaded', 'refused' (the project's error, naming the file) or 'escaped: <type>'."""
    try:
        load_like_the_cli(path)
    except WeightsError as e:
        if str(path) not in str(e):
            return "escaped: error without the file name"
        return "refused"
    except Hung:
        return "hung"
    except Exception as e:  # noqa: BLE001 - the point: anything else is a defect
        return f"escaped: {type(e).__name__}: {str(e)[:200]}"
    return "loaded"


def _on_alarm(signum, frame):
    raise Hung


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny tensor operations


@pytest.mark.parametrize("kind", list(GENERATORS))
@given(rng=st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_files_are_refused_with_the_projects_error(kind, rng):
    make, suffix = GENERATORS[kind]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        make(rng, path)
        result = outcome(path)
    assert not result.startswith("escaped"), result


@pytest.mark.slow
def test_full_fuzz_run():
    """SQUEEZENET_FUZZ_INPUTS inputs (default 100,000) spread over the formats."""
    total = int(os.environ.get("SQUEEZENET_FUZZ_INPUTS", "100000"))
    shard, shards = map(int, os.environ.get("SQUEEZENET_FUZZ_SHARD", "0/1").split("/"))
    share = {".sqz header": 0.45, ".sqz bytes": 0.25, ".pth": 0.15, ".net": 0.15}
    # SQUEEZENET_FUZZ_FORMATS=".net,.pth" runs only those formats' shares (same inputs).
    only = os.environ.get("SQUEEZENET_FUZZ_FORMATS")
    kinds = [k for k in GENERATORS if only is None or k in only.split(",")]
    counts: dict[str, collections.Counter] = {k: collections.Counter() for k in GENERATORS}
    slowest, failures = 0.0, []
    old = signal.signal(signal.SIGALRM, _on_alarm)
    start = time.perf_counter()
    # Memory an input may use: the growth of the peak over what the process (interpreter,
    # torch, the test modules) already held.
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with tempfile.TemporaryDirectory() as d:
            for kind in kinds:
                make, suffix = GENERATORS[kind]
                for i in range(shard, round(total * share[kind]), shards):
                    rng = random.Random(f"{kind}-{i}")
                    path = Path(d) / f"fuzz{suffix}"
                    make(rng, path)
                    t = time.perf_counter()
                    signal.alarm(HANG_SECONDS)
                    try:
                        result = outcome(path)
                    finally:
                        signal.alarm(0)
                    slowest = max(slowest, time.perf_counter() - t)
                    counts[kind][result.split(":")[0]] += 1
                    if result.startswith(("escaped", "hung")):
                        failures.append((kind, i, result))
                tally = ", ".join(f"{k} {v:,}" for k, v in counts[kind].items())
                print(f"\n  {kind:12s} {sum(counts[kind].values()):7,}  {tally}", flush=True)
    finally:
        signal.signal(signal.SIGALRM, old)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"\nfuzz inputs: {sum(sum(c.values()) for c in counts.values()):,}")
    for kind, c in counts.items():
        print(
            f"  {kind:12s} {sum(c.values()):7,}  " + ", ".join(f"{k} {v:,}" for k, v in c.items())
        )
    print(f"slowest input {slowest:.2f} s, peak RSS {peak / 2**20:.0f} MiB ", end="")
    print(f"(before the first input {baseline / 2**20:.0f} MiB), ", end="")
    print(f"total {time.perf_counter() - start:.0f} s")
    assert not failures, failures[:10]
    assert peak - baseline < MEMORY_LIMIT
