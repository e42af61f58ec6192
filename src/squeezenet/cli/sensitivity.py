"""``squeezenet sensitivity``: per-layer pruning sensitivity and a --prune profile from it."""

from __future__ import annotations

import argparse
import json
import sys

from .argtypes import density_list, float_in, positive_float

# The line `squeezenet --help` shows for the command.
SUMMARY = "per-layer pruning sensitivity of a trained model and a --prune profile from it"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Prune one layer at a time (magnitude, the others untouched), score top-1 "
    "on a held-out part of the training data (not the test split), then pick each "
    "layer's density so that the summed loss is smallest for an estimated compressed "
    "size (Han et al. 2015, section 4). The printed profile goes to `squeezenet train "
    "--prune` or `squeezenet compress --prune`."
)


def register(p: argparse.ArgumentParser) -> None:
    from .common import add_data_arg, add_report_args, add_threads_arg

    p.add_argument(
        "-c",
        "--config",
        required=True,
        metavar="YAML",
        help="training config or recipe giving the data "
        "and its normalisation (e.g. configs/cifar10-fast.yaml)",
    )
    p.add_argument("-m", "--model", default=None, help="model name (default: the config's)")
    p.add_argument("-w", "--weights", required=True, help="trained weights to analyse")
    add_data_arg(p, "training data (default: the config's)")
    p.add_argument(
        "--val-fraction",
        type=float_in(0, 1, low_open=True, high_open=True),
        default=0.1,
        help="held-out fraction of the training images to score on",
    )
    p.add_argument(
        "--densities",
        type=density_list,
        default="0.5,0.35,0.2,0.1,0.05",
        help="densities to measure each layer at",
    )
    p.add_argument(
        "--skip",
        default="features.0.weight",
        help="comma-separated layers to leave dense (conv1: 3 input channels)",
    )
    p.add_argument(
        "--budget",
        type=positive_float,
        required=True,
        help="estimated bytes for all pruned layers' weights in the file",
    )
    p.add_argument("--bits", default="6", help="index bits per layer, as compress --bits")
    p.add_argument(
        "--candidates",
        type=density_list,
        default="1.0,0.7,0.5,0.4,0.35,0.3,0.25,0.2,0.17,0.15,0.12,0.1",
        help="densities a layer may get",
    )
    add_threads_arg(p, "CPU threads (default: torch's choice)")
    add_report_args(p, "the measurements and profile", ["-o", "--output"], "PATH")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..api import sensitivity_sweep
    from ..files import check_not_input, write_text
    from .common import flag_values

    if args.output:
        read = {"-w file": args.weights, "-c file": args.config}
        check_not_input(args.output, read)
    if args.threads:
        torch.set_num_threads(args.threads)
    densities = args.densities
    r = sensitivity_sweep(
        args.config,
        args.weights,
        args.budget,
        skip=[s.strip() for s in args.skip.split(",") if s.strip()],
        log=lambda s: print(s, file=sys.stderr, flush=True),
        **flag_values(args, ("model", "data", "val_fraction", "densities", "bits", "candidates")),
    )
    sens, profile, numel = r["sensitivity"], r["profile"], r["numel"]
    keys = ("weights", "baseline_top1", "scored_on", "budget_bytes", "bits")
    record = {k: r[k] for k in keys}
    record.update(sensitivity=sens, profile=profile, prune=r["prune"])
    if args.output:
        write_text(args.output, json.dumps(record, indent=1))
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"{'layer':30s} {'params':>8s} " + " ".join(f"{d:>6.0%}" for d in densities) + "  chosen")
    for n in r["layers"]:
        print(
            f"{n:30s} {numel[n]:8,d} "
            + " ".join(f"{sens[n][d]:6.2%}" for d in densities)
            + f"  {profile[n]:.0%}"
        )
    print(f"--prune '{r['prune']}'")
    return 0
