"""``squeezenet demo``: train, compress and check a SqueezeNet on built-in data."""

from __future__ import annotations

import argparse

from .argtypes import positive_int, seed

# The line `squeezenet --help` shows for the command.
SUMMARY = "train a small SqueezeNet on scikit-learn's digits and Deep-Compress it"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "The whole pipeline in about a minute on a laptop CPU, with no download: "
    "train a small SqueezeNet on the handwritten digits that ship with scikit-learn, "
    "prune, weight-share and entropy-code it, decode the written file and check its "
    "accuracy, then print the before/after table and plot size against accuracy. "
    "Needs the 'demo' extra (scikit-learn, matplotlib, constriction)."
)


def register(p: argparse.ArgumentParser) -> None:
    from .common import add_json_arg, add_output_arg, add_progress_arg

    add_output_arg(
        p, "folder for model.pth, model.sqz, report.json and plot.png", "squeezenet-demo"
    )
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs")
    p.add_argument(
        "--coder",
        choices=["ans", "huffman"],
        default=None,
        help="entropy coder (default: ans if constriction is installed, else huffman)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed for the split and training")
    add_json_arg(p, "print the report (stages, layers, bytes, accuracies) as one JSON object")
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ..demo import SHIPPED_WEIGHTS, classify_sample_photos, run_demo
    from ..weights import get_weights_record

    r = run_demo(
        args.output,
        epochs=args.epochs,
        seed=args.seed,
        coder=args.coder,
        progress=args.progress,
    )
    photos = classify_sample_photos()
    if args.json:
        summary = {k: v for k, v in r.items() if k != "table"}
        print(json.dumps({**summary, "imagenet_photos": photos}))
        return 0
    print(r["table"])
    print()
    first = r["stages"][0]
    print(
        f"uncompressed: {first['bytes']:,} bytes (fp32 weights), test accuracy "
        f"{first['score']:.2%} on {r['test_images']} images"
    )
    ratio = first["bytes"] / r["file_bytes"]
    print(
        f"compressed:   {r['file_bytes']:,} bytes ({ratio:.1f}x smaller), test accuracy "
        f"{r['reloaded_accuracy']:.2%} (decoded from the file)"
    )
    print(
        f"files in {args.output}/: model.pth, model.sqz, report.json"
        + (", plot.png" if r["plot"] else " (no plot: matplotlib is not installed)")
        + f"; {r['seconds']:.0f} s"
    )
    record = get_weights_record(SHIPPED_WEIGHTS)
    print()
    dev = record.metrics["imagenet-dev"]
    print(
        f"ImageNet SqueezeNet 1.1 compressed to {record.file_size:,} bytes ({SHIPPED_WEIGHTS}, "
        f"shipped with the package; top-1 {dev['top1']}% over 781 ImageNet photos of 223 "
        "classes as a 1000-class classifier, 2.6 points below the 4.9 MB original), on "
        "scikit-learn's sample photos:"
    )
    for result in photos:
        top = ", ".join(f"{c['class']} {c['probability']:.0%}" for c in result["top"])
        print(f"  {result['photo']}: {top}")
    return 0
