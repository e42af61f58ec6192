"""Run every input of a corpus (or single files) once through a fuzz target, without the
fuzzing engine: to reproduce a failure, or to measure the line coverage a corpus reaches.

    python tests/fuzz/replay.py sqz                      # the target's corpus
    python tests/fuzz/replay.py sqz crash-1234 other.sqz # given files
    coverage run --source=squeezenet tests/fuzz/replay.py sqz && coverage report
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from targets import TARGETS, corpus_dir  # noqa: E402


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: replay.py {{{','.join(TARGETS)}}} [FILE ...]", file=sys.stderr)
        return 2
    target = TARGETS[sys.argv[1]]
    paths = [Path(p) for p in sys.argv[2:]] or sorted(corpus_dir(sys.argv[1]).iterdir())
    slowest = (0.0, "")
    for path in paths:
        start = time.perf_counter()
        target(path.read_bytes())  # an escaping exception is the failure: let it show
        slowest = max(slowest, (time.perf_counter() - start, str(path)))
    print(f"{len(paths)} inputs, none failed; slowest {slowest[0]:.2f} s ({slowest[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
