"""``squeezenet bench``: latency and throughput of every inference backend, side by side."""

from __future__ import annotations

import json
import sys

from .argtypes import positive_int, threads

# The line `squeezenet --help` shows for the command.
SUMMARY = "batch-1 latency and batch-N throughput of each inference backend"


def register(sub, formatter) -> None:
    from ..deploy.backends import BACKENDS
    from .common import (
        add_batch_size_arg,
        add_calibration_args,
        add_json_arg,
        add_model_args,
        add_preprocess_arg,
    )

    p = sub.add_parser(
        "bench",
        formatter_class=formatter,
        help=SUMMARY,
        description="Benchmark every available backend and precision in one process, in "
        "interleaved rounds (the order rotates each round, so load from elsewhere hits all "
        "of them), with torchvision's eager squeezenet1_1 (same weights) as the baseline "
        "row. Reports batch-1 latency (median, p90), batch-N latency and images/s, and the "
        "peak-RSS growth of building and running each backend. Backends: "
        + ", ".join(f"{n} ({i.help})" for n, i in BACKENDS.items())
        + ". An exported -w file (.onnx, OpenVINO .xml, ExecuTorch .pte, LiteRT .tflite, ncnn "
        ".param) is timed as it is, in each installed runtime that reads it, with no baseline "
        "row; to time exported files against the baseline, give PyTorch weights as -w and the "
        "files as --exported.",
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
    p.add_argument("--threads", type=threads, default=2, help="threads per backend")
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
    from ..deploy.backends import (
        BACKENDS,
        ExportedModel,
        available_backends,
        backend_installed,
        open_exported,
    )
    from ..deploy.bench import format_table, run_bench
    from ..weights import input_size, preprocess_for
    from .common import model_from_args

    model = model_from_args(args, exported=True)
    exported = isinstance(model, ExportedModel)
    if not exported:
        model = model.eval()
    args.image_size = input_size(model, args.image_size)
    for flag in ("threads", "rounds", "iters", "batch_size", "image_size"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.backends:
        names = [n.strip() for n in args.backends.split(",") if n.strip()]
    elif exported:  # every installed runtime that reads the file
        names = [n for n in model.backends if backend_installed(n)]
    else:
        names = available_backends()
        if args.calibration is None:
            skipped = [n for n in names if BACKENDS[n].precision == "int8"]
            names = [n for n in names if n not in skipped]
            if skipped:
                print(f"note: skipping {', '.join(skipped)} (no --calibration)", file=sys.stderr)
    files = []
    for path in (args.exported or "").split(","):
        if path.strip():
            files.append(open_exported(path.strip()))
    calibration = None
    if args.calibration is not None and any(
        BACKENDS.get(n) and BACKENDS[n].precision == "int8" for n in names
    ):
        from ..data import sample_images

        preprocess = preprocess_for(args.model, model, args.preprocess, args.image_size)
        calibration = sample_images(args.calibration, preprocess, args.calibration_size)
    rows = run_bench(
        model,
        names,
        input_size=args.image_size,
        threads=args.threads,
        rounds=args.rounds,
        iters=args.iters,
        batch=args.batch_size,
        calibration=calibration,
        files=files,
    )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{args.model} ({args.weights or 'random init'}), {args.image_size}x"
            f"{args.image_size}, {args.threads} threads, {args.rounds} interleaved rounds"
        )
        print(format_table(rows))
    return 0
