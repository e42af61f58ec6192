"""Per-layer pruning sensitivity of a trained model, and a --prune profile chosen from it.

Prunes one layer at a time (magnitude, the others untouched), scores top-1 on a held-out
part of the training data (not the test split), then picks each layer's density so that the
summed loss is smallest for an estimated compressed size (squeezenet.compress.sensitivity).
The printed profile goes to `squeezenet train --prune` or `squeezenet compress --prune`.

    python scripts/prune_sensitivity.py --config configs/cifar10-fast.yaml \\
        --weights runs/cifar10/model.pth --budget 138000 --bits 'fire6.*=4,fire7.*=4,...,*=6' \\
        -o sensitivity.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--config",
        required=True,
        help="training config or recipe giving the data "
        "and its normalisation (e.g. configs/cifar10-fast.yaml)",
    )
    p.add_argument("--model", default=None, help="model name (default: the config's)")
    p.add_argument("--weights", required=True, help="trained weights to analyse")
    p.add_argument("--data", default=None, help="override the config's data")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="held-out fraction of the training images to score on",
    )
    p.add_argument(
        "--densities", default="0.5,0.35,0.2,0.1,0.05", help="densities to measure each layer at"
    )
    p.add_argument(
        "--skip",
        default="features.0.weight",
        help="comma-separated layers to leave dense (conv1: 3 input channels)",
    )
    p.add_argument(
        "--budget",
        type=float,
        required=True,
        help="estimated bytes for all pruned layers' weights in the file",
    )
    p.add_argument("--bits", default="6", help="index bits per layer, as compress --bits")
    p.add_argument(
        "--candidates",
        default="1.0,0.7,0.5,0.4,0.35,0.3,0.25,0.2,0.17,0.15,0.12,0.1",
        help="densities a layer may get",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads")
    p.add_argument("-o", "--output", default=None, help="write the measurements and profile (JSON)")
    args = p.parse_args(argv)

    from squeezenet import create_model
    from squeezenet.compress.quantize import parse_bits
    from squeezenet.compress.sensitivity import allocate, measure
    from squeezenet.pruning import prunable, resolve_density
    from squeezenet.train.config import resolve_config
    from squeezenet.train.data import build_data
    from squeezenet.train.engine import evaluate
    from squeezenet.train.trainer import prepare_for

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {
        "out": os.devnull,
        "channels_last": False,
        "val_fraction": args.val_fraction,
        "progress": False,
    }
    if args.data:
        overrides["data"] = args.data
    cfg = resolve_config(args.config, overrides)
    model = create_model(args.model or cfg.model, weights=args.weights).eval()
    cpu = torch.device("cpu")
    data = build_data(cfg, rank=0, world_size=1, image_size=cfg.image_size or 32, pin_memory=False)
    prep = prepare_for(cfg, cpu)

    def score(m):
        return evaluate(m, data.val, prep, device=cpu, amp="off")["top1"]

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    layers = [n for n in prunable(model) if n not in skip]
    numel = {n: p.numel() for n, p in model.named_parameters() if n in layers}
    bits_spec = parse_bits(args.bits)
    bits = resolve_density(model, bits_spec, layers, default=32)
    baseline = score(model)
    print(f"baseline top-1 on {data.val_source}: {baseline:.4f}", file=sys.stderr)
    densities = [float(d) for d in args.densities.split(",")]
    sens = measure(
        model, layers, densities, score, progress=lambda s: print(s, file=sys.stderr, flush=True)
    )
    profile = allocate(
        sens, baseline, numel, bits, args.budget, [float(c) for c in args.candidates.split(",")]
    )
    print(f"{'layer':30s} {'params':>8s} " + " ".join(f"{d:>6.0%}" for d in densities) + "  chosen")
    for n in layers:
        print(
            f"{n:30s} {numel[n]:8,d} "
            + " ".join(f"{sens[n][d]:6.2%}" for d in densities)
            + f"  {profile[n]:.0%}"
        )
    spec = ",".join([f"{s}=1.0" for s in sorted(skip)] + [f"{n}={d}" for n, d in profile.items()])
    print(f"--prune '{spec}'")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(
                {
                    "weights": args.weights,
                    "baseline_top1": baseline,
                    "scored_on": data.val_source,
                    "budget_bytes": args.budget,
                    "bits": args.bits,
                    "sensitivity": sens,
                    "profile": profile,
                    "prune": spec,
                },
                f,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
