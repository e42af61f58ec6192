"""``squeezenet explore``: the paper's design-space sweep on CIFAR-10, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .argtypes import positive_int


def register(sub, formatter) -> None:
    from .common import (
        add_batch_size_arg,
        add_data_arg,
        add_device_arg,
        add_json_arg,
        add_output_arg,
        add_progress_arg,
    )

    p = sub.add_parser(
        "explore",
        formatter_class=formatter,
        help="train the paper's SR / pct3x3 / bypass sweep on CIFAR-10 (resumable)",
        description="Train one model per design-space point of the SqueezeNet paper "
        "(section 5: SR in {0.125..1.0} at pct3x3=0.5; pct3x3 in {0.01..0.99} at SR=0.5; "
        "section 6: vanilla/simple/complex bypass), all with base_e=incr_e=128, freq=2, in the "
        "32x32 layout, with one fixed budget. Results go to OUTPUT/results.json and "
        "OUTPUT/explore.csv after every point; rerunning the same command skips finished points "
        "and resumes the interrupted one from its last epoch.",
    )
    add_data_arg(
        p,
        "CIFAR-10 data: the JPEG zip, an ImageFolder tree or torchvision format",
        required=True,
    )
    add_output_arg(p, "sweep folder (results.json, explore.csv, checkpoints)", "squeezenet-explore")
    p.add_argument(
        "--experiments",
        default="sr,pct3x3,bypass",
        help="comma-separated subset of sr, pct3x3, bypass",
    )
    p.add_argument("--recipe", default="cifar10-fast", help="training recipe for every point")
    p.add_argument(
        "--epochs", type=positive_int, default=6, help="epochs per point (the fixed budget)"
    )
    add_batch_size_arg(p, None, "training batch size (default: the --recipe's)")
    p.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default: the --recipe's)"
    )
    p.add_argument("--seed", type=int, default=0, help="the same seed for every point")
    p.add_argument(
        "--csv",
        default=None,
        metavar="PATH",
        help="also copy the final explore.csv here, e.g. docs/results/explore.csv (default: none)",
    )
    add_device_arg(p, "train")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per training (default: torch's choice)",
    )
    add_json_arg(p, "print the rows of explore.csv as a JSON list")
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..explore import run_sweep

    experiments = tuple(e.strip() for e in args.experiments.split(",") if e.strip())
    overrides = {
        "recipe": args.recipe,
        "data": args.data,
        "epochs": args.epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "threads": args.threads,
        "progress": not args.no_progress,
        "eval_test": True,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    rows = run_sweep(args.output, overrides, experiments)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.output) / "explore.csv", args.csv)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            f"{r['experiment']:<7} sr={r['sr']:<6g} pct3x3={r['pct3x3']:<6g} "
            f"bypass={r['bypass']:<8} params={r['params']:>9,} top1={100 * r['top1']:.2f}%"
        )
    return 0
