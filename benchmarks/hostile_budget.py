"""Time and memory the CLI spends on each hostile input of the reliability probe, against a
good input of the same command.

Every case runs ``python -m squeezenet ...`` in a fresh process (``--repeats`` times,
interleaved with its baseline) and records the median CPU seconds (user + system), the median
wall seconds and the peak resident memory of that process (``ru_maxrss`` from
``os.wait4``). The promise checked: no hostile input costs more than 2 s of CPU or 256 MiB
above its baseline, none runs for 120 s (a wait on a FIFO costs no CPU), and each is refused
or skipped with the exit status the docs give (docs/security.md). CPU time rather than wall
time is compared because it does not depend on what else the machine is running.

    python benchmarks/hostile_budget.py --out docs/results/hostile-budget.json

The hostile files are made here (small: a 25k-parameter model, 300 x 240 photos); nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from machine import cpu_info  # benchmarks/machine.py
from PIL import Image

from squeezenet import create_model
from squeezenet.compress.pipeline import lossless
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.modeldesc import describe_model

WNIDS = ("n01440764", "n01443537")  # tench, goldfish: the first two ImageNet-1k classes
BUDGET_S, BUDGET_MIB = 2.0, 256
HANG_S = 120  # a process still running after this long has hung (a FIFO waited on)


def _tiny_sqz(path: Path, classes=None, nan_bias: bool = False) -> str:
    model = create_model("squeezenet1_1", None, 3, base_e=16, incr_e=16)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if nan_bias:
        state["classifier.1.bias"][0] = math.nan
    meta = {} if classes is None else {"classes": list(classes)}
    fileformat.save(lossless(state, describe_model(model, "squeezenet1_1"), "ans", meta), path)
    return str(path)


def _onnx(path: Path, channels: int = 3, description: dict | None = None) -> str:
    """A tiny classifier graph (global average pool): enough for predict's checks."""
    import onnx
    from onnx import TensorProto, helper

    from squeezenet.lite.graph import METADATA_KEY

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", channels])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if description is not None:
        helper.set_model_props(model, {METADATA_KEY: json.dumps(description)})
    onnx.save(model, path)
    return str(path)


def _photos(folder: Path, n: int, prefix: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(prefix) + n)
    out = []
    for i in range(n):
        p = folder / f"{prefix}{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (240, 300, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


class Case(NamedTuple):
    """One hostile input: the probe's row, a name, the command line, the same command on a
    good input, the exit status expected; ``python``: ``argv`` is Python's, not the CLI's."""

    row: int
    name: str
    argv: list[str]
    base: list[str]
    rc: int
    python: bool = False


def cases(tmp: Path) -> list[Case]:
    """Every hostile case, its files made in ``tmp``."""
    good = str(_photos(tmp / "photos", 1)[0])
    sqz = _tiny_sqz(tmp / "good.sqz")
    ctrl = _tiny_sqz(tmp / "ctrl.sqz", classes=["a\x1b[31m", "b\x07", "c\nforged 99%"])
    nan = _tiny_sqz(tmp / "nan.sqz", nan_bias=True)
    graph = _onnx(tmp / "good.onnx")
    weightless = str(tmp / "weightless.onnx")  # the torch-free decoder's graph
    subprocess.run(
        [sys.executable, "-m", "squeezenet", "export", "-w", sqz, "--weightless", "-o", weightless],
        check=True,
        capture_output=True,
    )
    wide = _onnx(tmp / "wide.onnx", channels=1000)
    pre = {"name": "custom", "resize": 8192, "crop": 224, "mean": [0.5] * 3, "std": [0.2] * 3}
    pre |= {"bgr": False, "scale": 1 / 255}
    desc = {"classes": ["a", "b", "c"], "preprocess": pre}
    big = _onnx(tmp / "resize8192.onnx", description=desc)
    fifo = tmp / "fifo.jpg"
    os.mkfifo(fifo)
    # An evaluate folder of two classes; hostile copies add a dangling link, a stray folder
    # and a file whose name names no class.
    data = tmp / "eval"
    for c in WNIDS:
        _photos(data / c, 2)
    bad_data = tmp / "eval-bad"
    for c in WNIDS:
        _photos(bad_data / c, 2)
    (bad_data / WNIDS[1] / "gone.jpg").symlink_to(tmp / "missing.jpg")
    (bad_data / ".ipynb_checkpoints").mkdir()
    flat = tmp / "flat"
    for i, p in enumerate(_photos(tmp / "flat-src", 3)):
        flat.mkdir(exist_ok=True)
        p.rename(flat / f"{WNIDS[i % 2]}_{i}.jpg")
    (flat / "n99999999_x.jpg").write_bytes((flat / f"{WNIDS[0]}_0.jpg").read_bytes())
    train_out = str(tmp / "run")
    predict = ["predict", "-w", sqz, good]
    compress = ["compress", "-w", sqz, "--lossless", "-o", str(tmp / "out.sqz")]
    retrain = ["compress", "-w", sqz, "-o", str(tmp / "c.sqz")]  # refused before any work
    train = ["train", "-d", str(data), "-w", sqz, "--epochs", "1", "-o", train_out]
    ev = ["evaluate", "-d", str(data), "--json", "--no-progress", "--workers", "0"]
    return [
        Case(1, "train --lr nan", [*train, "--lr", "nan"], predict, 2),
        Case(
            2,
            "decompress f.sqz -o f.sqz",
            ["decompress", sqz, "-o", sqz],
            ["decompress", sqz, "-o", str(tmp / "out.pth")],
            2,
        ),
        Case(
            2,
            "compress --lossless -o its input",
            ["compress", "-w", sqz, "--lossless", "-o", sqz],
            compress,
            2,
        ),
        Case(
            3,
            "predict: control characters in class names",
            ["predict", "-w", ctrl, good],
            predict,
            2,
        ),
        Case(4, "export --opset 6", ["export", "--opset", "6"], predict, 2),
        Case(
            5,
            "squeezenet.lite: NaN bias",
            ["-c", f"from squeezenet import lite; lite.load({nan!r}, {weightless!r})"],
            ["-c", f"from squeezenet import lite; lite.load({sqz!r}, {weightless!r})"],
            1,
            python=True,
        ),
        Case(6, "predict good.jpg fifo.jpg", [*predict, str(fifo)], predict, 1),
        Case(7, "--device tpu", [*predict, "--device", "tpu"], predict, 2),
        Case(7, "--device cpu:5", [*predict, "--device", "cpu:5"], predict, 2),
        Case(8, "--threads 1000000", [*predict, "--threads", "1000000"], predict, 2),
        Case(8, "evaluate --workers 1000", [*ev[:-2], "--workers", "1000"], ev, 2),
        Case(
            9,
            "ONNX graph with 1000 input channels",
            ["predict", "-w", wide, good],
            ["predict", "-w", graph, good],
            2,
        ),
        Case(
            9,
            "export --image-size 16",
            ["export", "-w", sqz, "--image-size", "16", "-o", str(tmp / "e.onnx")],
            predict,
            2,
        ),
        Case(
            10,
            "evaluate: dangling link, stray folder",
            ["evaluate", "-d", str(bad_data), *ev[3:]],
            ev,
            1,
        ),
        Case(11, "decompress NaN bias (no -o)", ["decompress", nan], ["decompress", sqz], 2),
        Case(
            12,
            "ONNX description resizes to 8192",
            ["predict", "-w", big, good],
            ["predict", "-w", graph, good],
            2,
        ),
        Case(13, "compress --bits nan", [*retrain, "--bits", "nan"], compress, 2),
        Case(13, "compress --seed 2**70", [*compress, "--seed", str(2**70)], compress, 2),
        Case(13, "train --config x.sqz", [*train, "--config", sqz], predict, 2),
        Case(13, "predict --classes x.sqz", [*predict, "--classes", sqz], predict, 2),
        Case(14, "compress --lr nan", [*retrain, "--lr", "nan"], compress, 2),
        Case(
            14,
            "compress --distill-temperature nan",
            [*retrain, "--distill-temperature", "nan"],
            compress,
            2,
        ),
        Case(14, "compress --grid-scale -1", [*retrain, "--grid-scale", "-1"], compress, 2),
        Case(14, "compress --bits conv=99", [*retrain, "--bits", "conv=99"], compress, 2),
        Case(15, "evaluate: unknown-wnid file name", ["evaluate", "-d", str(flat), *ev[3:]], ev, 1),
    ]


# The measured process is started by a small launcher: a child forked from this process
# (torch imported) would inherit its resident memory as a floor for ru_maxrss.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)\n"
)


def run_once(argv: list[str], python: bool) -> tuple[float, float, int, str, float]:
    """Wall seconds, peak RSS (MiB), exit status, last stderr line and CPU seconds (user +
    system) of one process."""
    cmd = [sys.executable, *argv] if python else [sys.executable, "-m", "squeezenet", *argv]
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd],
        capture_output=True,
        text=True,
        check=True,
        timeout=HANG_S,
    )
    seconds = time.perf_counter() - t0
    rc, kib, cpu = done.stdout.split()
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return seconds, int(kib) / 1024, int(rc), last, float(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs of each case and baseline")
    ap.add_argument("--out", type=Path, help="write the records here as JSON")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for case in cases(Path(d)):
            py = case.python
            hostile, base = [], []
            for _ in range(args.repeats):  # interleaved: both see the same machine load
                hostile.append(run_once(case.argv, py))
                base.append(run_once(case.base, py))
            row = {
                "row": case.row,
                "case": case.name,
                "cpu_seconds": statistics.median(h[4] for h in hostile),
                "baseline_cpu_seconds": statistics.median(b[4] for b in base),
                "seconds": statistics.median(h[0] for h in hostile),
                "baseline_seconds": statistics.median(b[0] for b in base),
                "peak_mib": max(h[1] for h in hostile),
                "baseline_peak_mib": max(b[1] for b in base),
                "exit": sorted({h[2] for h in hostile}),
                "baseline_exit": sorted({b[2] for b in base}),
                "expected_exit": case.rc,
                "message": hostile[0][3][:200],
            }
            row["extra_cpu_seconds"] = row["cpu_seconds"] - row["baseline_cpu_seconds"]
            row["extra_seconds"] = row["seconds"] - row["baseline_seconds"]
            row["extra_mib"] = row["peak_mib"] - row["baseline_peak_mib"]
            row["ok"] = (
                row["extra_cpu_seconds"] <= BUDGET_S
                and row["extra_mib"] <= BUDGET_MIB
                and row["exit"] == [case.rc]
            )
            rows.append(row)
            print(
                f"{row['row']:>2} {row['case']:<44} {row['cpu_seconds']:6.2f} s CPU "
                f"({row['extra_cpu_seconds']:+.2f}) {row['peak_mib']:6.0f} MiB "
                f"({row['extra_mib']:+.0f}) exit {row['exit']} "
                f"{'ok' if row['ok'] else 'OVER'}",
                flush=True,
            )
    record = {
        "command": "python benchmarks/hostile_budget.py",
        "cpu": cpu_info()[0],
        "cores": os.cpu_count(),
        "repeats": args.repeats,
        "budget": {"seconds": BUDGET_S, "mib": BUDGET_MIB},
        "cases": rows,
        "all_within_budget": all(r["ok"] for r in rows),
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    return 0 if record["all_within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
