"""``squeezenet explore``: the paper's design-space sweep on CIFAR-10, resumable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .argtypes import positive_int


def _default_data() -> str:
    return str(Path(os.environ.get("SQUEEZENET_SHARED", "../shared")) / "data" / "cifar10-jpg.zip")


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "explore",
        formatter_class=formatter,
        help="train the paper's SR / pct3x3 / bypass sweep on CIFAR-10 (resumable)",
        description="Train one model per design-space point of the SqueezeNet paper "
        "(section 5: SR in {0.125..1.0} at pct3x3=0.5; pct3x3 in {0.01..0.99} at SR=0.5; "
        "section 6: vanilla/simple/complex bypass), all with base_e=incr_e=128, freq=2, in the "
        "32x32 layout, with one fixed budget. Results go to OUT/results.json and "
        "OUT/explore.csv after every point; rerunning the same command skips finished points "
        "and resumes the interrupted one from its last epoch.",
    )
    p.add_argument(
        "--data",
        default=_default_data(),
        help="CIFAR-10 data: the JPEG zip, an ImageFolder tree or torchvision format",
    )
    p.add_argument("--out", default="runs/explore", help="sweep directory (results, checkpoints)")
    p.add_argument(
        "--experiments",
        default="sr,pct3x3,bypass",
        help="comma-separated subset of sr, pct3x3, bypass",
    )
    p.add_argument("--recipe", default="cifar10-fast", help="training recipe for every point")
    p.add_argument(
        "--epochs", type=positive_int, default=6, help="epochs per point (the fixed budget)"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=None, help="override the recipe's batch"
    )
    p.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate")
    p.add_argument("--seed", type=int, default=0, help="the same seed for every point")
    p.add_argument(
        "--csv",
        default=None,
        metavar="PATH",
        help="also copy the final explore.csv here (e.g. docs/results/explore.csv)",
    )
    p.add_argument("--no-progress", action="store_true", help="no per-epoch progress bars")
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
        "progress": not args.no_progress,
        "eval_test": True,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    rows = run_sweep(args.out, overrides, experiments)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.out) / "explore.csv", args.csv)
    for r in rows:
        print(
            f"{r['experiment']:<7} sr={r['sr']:<6g} pct3x3={r['pct3x3']:<6g} "
            f"bypass={r['bypass']:<8} params={r['params']:>9,} top1={100 * r['top1']:.2f}%"
        )
    return 0
