"""``squeezenet evaluate`` speed on full-size JPEGs: the previous pipeline against today's.

Four pipelines score the same images with the same model and weights, in the same process,
in interleaved rounds (the order rotates each round); each figure is the median over rounds,
and includes starting the decoding workers, as a user's run does:

* ``before``: the pipeline ``evaluate`` had before this benchmark existed: every JPEG
  decoded in full, float tensors normalised in the workers, the model in fp32 in the default
  memory layout;
* ``exact``: :func:`squeezenet.engine.evaluate` with ``decode="exact"``,
  ``precision="fp32"`` (full decode; uint8 crops from the workers, channels-last model);
* ``fast``: as ``squeezenet evaluate`` runs by default: the same with reduced-size JPEG
  decoding;
* ``fast-bf16``: the opt-in ``--precision auto``: reduced-size decoding and bf16 on CPUs with
  native bf16 (else fp32).

The timed folder repeats each image of ``--data`` ``--copies`` times under distinct names
(links in a temporary folder). Accuracy is checked once on ``--data`` itself: top-1/top-5
counts of each pipeline against ``exact``.

    python benchmarks/eval_speed.py [--data DIR] [-w WEIGHTS] [--copies 10] [--rounds 3]
                                    [--workers 2] [--json]

Defaults: ``$SQUEEZENET_SHARED/data/imagenet-sample-100`` and
``$SQUEEZENET_SHARED/weights/squeezenet1_1-fp16.pth`` when that variable is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from squeezenet import create_model
from squeezenet.data import DataSpec, ImageDataset, get_preprocess, scan_folder
from squeezenet.engine import evaluate, resolve_precision, topk_correct


def _before(model, images, preprocess, batch_size: int, workers: int) -> tuple[int, int]:
    """The pre-change evaluate loop: full decode, float tensors from the workers."""
    loader = torch.utils.data.DataLoader(
        ImageDataset(images, preprocess), batch_size=batch_size, num_workers=workers
    )
    c1 = c5 = 0
    with torch.inference_mode():
        for x, y in loader:
            a, b = topk_correct(model(x), y)
            c1, c5 = c1 + a, c5 + b
    return c1, c5


def _link_copies(src: Path, copies: int, into: Path) -> None:
    """``copies`` links to every image of the flat folder ``src``, distinct names, same wnid
    prefix (so the class list labels them as the originals)."""
    for p in sorted(src.iterdir()):
        if p.is_file():
            for i in range(copies):
                (into / f"{p.stem}_copy{i}{p.suffix}").symlink_to(p.resolve())


def main() -> None:
    shared = os.environ.get("SQUEEZENET_SHARED")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        default=str(Path(shared) / "data" / "imagenet-sample-100") if shared else None,
        help="flat folder of wnid-named ImageNet JPEGs (default: $SQUEEZENET_SHARED's sample)",
    )
    p.add_argument(
        "-w",
        "--weights",
        default=str(Path(shared) / "weights" / "squeezenet1_1-fp16.pth")
        if shared
        else "squeezenet1_1.tv_in1k",
        help="squeezenet1_1 weights: registered name, path or URL",
    )
    p.add_argument("--copies", type=int, default=10, help="times each image is timed")
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    p.add_argument("--workers", type=int, default=2, help="decoding worker processes")
    p.add_argument("-b", "--batch-size", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if args.data is None:
        p.error("--data is required when SQUEEZENET_SHARED is not set")

    model = create_model("squeezenet1_1", weights=args.weights).eval()
    preprocess = get_preprocess("torchvision")
    sample = scan_folder(args.data, "imagenet")
    settings = {
        "exact": ("exact", "fp32"),
        "fast": ("fast", "fp32"),
        "fast-bf16": ("fast", "auto"),
    }

    def run(folder, images, name):
        decode, precision = settings[name]
        data = DataSpec(folder, batch_size=args.batch_size, workers=args.workers, progress=False)
        return evaluate(model, data, preprocess, images=images, decode=decode, precision=precision)

    accuracy = {name: run(args.data, sample, name) for name in settings}
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        _link_copies(Path(args.data), args.copies, Path(tmp))
        images = scan_folder(tmp, "imagenet")
        runs = {"before": lambda: _before(model, images, preprocess, args.batch_size, args.workers)}
        runs.update({name: (lambda name=name: run(tmp, images, name)) for name in settings})
        rates: dict[str, list[float]] = {k: [] for k in runs}
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t = time.perf_counter()
                runs[name]()
                rates[name].append(len(images) / (time.perf_counter() - t))
                print(f"round {r + 1} {name}: {rates[name][-1]:.1f} images/s", file=sys.stderr)
    medians = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "command": "python benchmarks/eval_speed.py " + " ".join(sys.argv[1:]),
        "images": len(images),
        "rounds": args.rounds,
        "workers": args.workers,
        "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(),
        "images_per_s": medians,
        "images_per_s_all": rates,
        "ratio": medians["fast"] / medians["before"],
        "ratios": {k: v / medians["before"] for k, v in medians.items()},
        # Per round, fast over before from the same round: less exposed to load that comes
        # and goes between rounds.
        "ratio_per_round": [f / b for f, b in zip(rates["fast"], rates["before"])],
        "precision": resolve_precision("auto"),
        "accuracy": {
            name: {"n": r["n"], "correct1": r["correct1"], "correct5": r["correct5"]}
            for name, r in accuracy.items()
        },
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"squeezenet1_1, {len(images)} images ({args.copies} copies of {len(sample)}), batch "
        f"{args.batch_size}, {args.workers} workers, {args.rounds} interleaved rounds, "
        f"load average {result['load_average']:.1f} on {os.cpu_count()} CPUs"
    )
    for name, rate in medians.items():
        print(f"  {name:<9} {rate:7.1f} images/s  ({rate / medians['before']:.2f}x before)")
    per_round = ", ".join(f"{r:.2f}" for r in result["ratio_per_round"])
    print(f"  fast / before within each round: {per_round}")
    print(f"accuracy on the {len(sample)} images of --data ('fast-bf16': {result['precision']}):")
    for name, r in accuracy.items():
        print(f"  {name:<9} top-1 {r['correct1']}, top-5 {r['correct5']}")


if __name__ == "__main__":
    main()
