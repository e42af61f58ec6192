"""``squeezenet bench``: latency and throughput of every inference backend, side by side."""

from __future__ import annotations

import argparse
import json
import sys

from .argtypes import positive_int

# The line `squeezenet --help` shows for the command.
SUMMARY = "batch-1 latency and batch-N throughput of each inference backend"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Benchmark every available backend and precision in one process, in "
    "interleaved rounds (the order rotates each round, so load from elsewhere hits all "
    "of them), with torchvision's eager squeezenet1_1 (same weights) as the baseline "
    "row. Reports batch-1 latency (median, p90), batch-N latency and images/s, and the "
    "peak-RSS growth of building and running each backend. Backends: {backends}. An "
    "exported -w file (.onnx, OpenVINO .xml, ExecuTorch .pte, LiteRT .tflite, ncnn "
    ".param) is timed as it is, in each installed runtime that reads it, with no baseline "
    "row; to time exported files against the baseline, give PyTorch weights as -w and the "
    "files as --exported."
)


def register(p: argparse.ArgumentParser) -> None:
    from ..deploy import BACKENDS
    from .common import (
        add_batch_size_arg,
        add_calibration_args,
        add_json_arg,
        add_model_args,
        add_preprocess_arg,
        add_threads_arg,
    )

    # The backends are the library's, named once it is imported.
    p.description = DESCRIPTION.format(
        backends=", ".join(f"{n} ({i.help})" for n, i in BACKENDS.items())
    )
    add_model_args(p)
    p.add_argument(
        "--backends",
        default=None,
        metavar="LIST",
        help="comma-separated backends (default: every installed one; INT8 ones "
        "only with --calibration)",
    )
    p.add_argument(
        "--exported",
        default=None,
        metavar="FILES",
        help="comma-separated exported files (.onnx, .xml, .pte, ...) timed in the same rounds, "
        "each in its format's own runtime (default: none)",
    )
    add_threads_arg(p, "threads per backend", default=2)
    p.add_argument("--rounds", type=positive_int, default=10, help="interleaved rounds")
    p.add_argument(
        "--iters",
        type=positive_int,
        default=20,
        help="batch-1 calls per backend per round (batch-N: iters/8, at least 1)",
    )
    add_batch_size_arg(p, 32, "batch size of the throughput rows")
    add_calibration_args(
        p,
        "calibration images for the INT8 backends, which do not run without them (image "
        "folder or zip)",
    )
    add_preprocess_arg(p)
    add_json_arg(p, "print a JSON list, one object per backend and batch size")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..api import bench
    from .common import model_flags

    timings = bench(
        args.weights,
        args.model,
        backends=[n.strip() for n in args.backends.split(",") if n.strip()]
        if args.backends
        else None,
        exported=[p.strip() for p in (args.exported or "").split(",") if p.strip()],
        image_size=args.image_size,
        threads=args.threads,
        rounds=args.rounds,
        iters=args.iters,
        batch_size=args.batch_size,
        calibration=args.calibration,
        calibration_size=args.calibration_size,
        preprocess=args.preprocess,
        log=lambda line: print(line, file=sys.stderr),
        **model_flags(args),
    )
    if args.json:
        print(json.dumps(timings.rows, indent=2))
    else:
        print(
            f"{timings.model} ({args.weights or 'random init'}), {timings.input_size}x"
            f"{timings.input_size}, {args.threads} threads, {args.rounds} interleaved rounds"
        )
        print(timings.table())
    return 0
