"""``squeezenet explore``: the paper's design-space sweep (sections 5 and 6), resumable, with
several seeds per point and shards for several processes or machines."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from .argtypes import positive_float, positive_int, seed, shard

# The line `squeezenet --help` shows for the command.
SUMMARY = "train the paper's SR / pct3x3 / bypass sweep, per seed (resumable, shardable)"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Train one model per design-space point of the SqueezeNet paper and seed "
    "(section 5: SR in {0.125..1.0} at pct3x3=0.5; pct3x3 in {0.01..0.99} at SR=0.5; "
    "section 6: vanilla/simple/complex bypass), all with base_e=incr_e=128, freq=2, in the "
    "--recipe's layout (cifar10-fast: the 32x32 CIFAR layout; explore-photos: the paper's "
    "ImageNet layout on photographs), with one fixed budget. Each finished (point, seed) "
    "pair is written to OUTPUT/points/KEY/seedS/sweep-result.json, and OUTPUT/results.json "
    "and OUTPUT/explore.csv (one row per training) are rebuilt from them; rerunning the same "
    "command skips finished pairs and resumes the interrupted one from its last epoch. "
    "Several processes or machines sharing OUTPUT each take a --shard."
)


def register(p: argparse.ArgumentParser) -> None:
    from .common import (
        add_batch_size_arg,
        add_compute_args,
        add_data_arg,
        add_json_arg,
        add_output_arg,
        add_progress_arg,
    )

    add_data_arg(
        p,
        "training data: CIFAR-10 (the JPEG zip, an ImageFolder tree or torchvision format) "
        "or, with --recipe explore-photos, an ImageFolder tree such as imagenette2",
        required=True,
    )
    add_output_arg(p, "sweep folder (results.json, explore.csv, checkpoints)", "squeezenet-explore")
    p.add_argument(
        "--experiments",
        default="sr,pct3x3,bypass",
        help="comma-separated subset of sr, pct3x3, bypass",
    )
    p.add_argument(
        "--recipe",
        default="cifar10-fast",
        help="training recipe for every point, e.g. explore-photos (default: cifar10-fast)",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="epochs per training, the fixed budget (default: 6 with cifar10-fast, as "
        "docs/results/explore.csv, else the --recipe's)",
    )
    add_batch_size_arg(p, None, "training batch size (default: the --recipe's)")
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="peak learning rate (default: the --recipe's)",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="the first seed; --seeds counts up from it (default: 0)",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="train every point with this many seeds: --seed, --seed+1, ... (default: 1)",
    )
    p.add_argument(
        "--shard",
        type=shard,
        default=None,
        metavar="K/N",
        help="train only every N-th (point, seed) pair starting at K (0 <= K < N), so that N "
        "processes or machines sharing --output split the sweep (default: all pairs)",
    )
    p.add_argument(
        "--csv",
        default=None,
        metavar="PATH",
        help="also copy the final explore.csv here, e.g. docs/results/explore.csv (default: none)",
    )
    add_compute_args(
        p, device="train", threads="CPU threads per training (default: torch's choice)"
    )
    add_json_arg(p, "print the rows of explore.csv as a JSON list")
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..explore import run_sweep
    from ..train import get_recipe

    experiments = tuple(e.strip() for e in args.experiments.split(",") if e.strip())
    epochs = args.epochs
    if epochs is None:
        # The CIFAR-10 record's budget; any other recipe's own (written into the budget, so
        # that a later change to the recipe cannot mix two budgets in one sweep folder).
        epochs = 6 if args.recipe == "cifar10-fast" else get_recipe(args.recipe).get("epochs")
    overrides = {
        "recipe": args.recipe,
        "data": args.data,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "device": args.device,
        "threads": args.threads,
        "progress": args.progress,
        "eval_test": True,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    seeds = list(range(args.seed, args.seed + args.seeds))
    rows = run_sweep(args.output, overrides, experiments, seeds=seeds, shard=args.shard or (0, 1))
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.output) / "explore.csv", args.csv)
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        print(
            f"{r['experiment']:<7} sr={r['sr']:<6g} pct3x3={r['pct3x3']:<6g} "
            f"bypass={r['bypass']:<8} seed={r['seed']:<3} params={r['params']:>9,} "
            f"top1={100 * r['top1']:.2f}%"
        )
    return 0
