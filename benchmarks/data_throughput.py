"""Input-pipeline throughput: ours against a plain ``torchvision.datasets.ImageFolder`` +
``DataLoader``, with the same transforms and the same number of worker processes.

Each pipeline delivers normalised float batches (what the model consumes), in the same
process, in interleaved rounds (the order rotates each round); figures are medians over rounds.

* ``train``: what ``squeezenet train --data DIR --image-size PX`` feeds its training loop:
  ``build_loaders`` (in-memory uint8 images for a tree this size, augmented per batch with tensor
  ops), normalised as the engine does. Baseline: ImageFolder over ``DIR/train`` with the same
  augmentation as PIL transforms (resize + center crop to PX, then the configuration's
  random crop and flip), ``ToTensor``, ``Normalize``, shuffled. With ``--config`` (e.g.
  ``configs/imagenette.yaml``), the run's own crops: random-resized crops to PX (its
  ``crop_scale``) from images held at ``decode_size``, against torchvision's
  ``RandomResizedCrop`` with the same scale on the decoded files; progressive resizing is
  left out, so both sides make crops of the final side.
* ``eval``: what the same run validates on (``DIR/val``, resize + center crop to PX, or to
  the config's ``eval_image_size``). Baseline: ImageFolder over ``DIR/val`` with those
  transforms.
* ``evaluate``: the input side of ``squeezenet evaluate`` on ``DIR/val`` (decoding the files
  on every pass: reduced-size JPEG decoding, uint8 crops from the workers, normalised per
  batch). Baseline: ImageFolder with torchvision's resize 256 / crop 224.

The in-memory pipelines decode the tree once before training; that one-time cost (and
reading it back from the cache on later runs) is reported separately and is not in their
images/s. ``--json`` prints ``ratio_train``, ``ratio_eval`` and ``ratio_evaluate`` (ours /
baseline images per second) with the raw medians.

    python benchmarks/data_throughput.py [--data DIR] [--config YAML] [--image-size 128]
                                         [--batch-size 64] [--workers 2] [--rounds 5]
                                         [--images 2560] [--json]

``--data`` defaults to ``$SQUEEZENET_SHARED/data/imagenette2`` when that variable is set.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torchvision import datasets
from torchvision import transforms as T

from squeezenet.data import ImageDataset, get_preprocess, scan_folder
from squeezenet.data.loaders import build_loaders
from squeezenet.engine import NormalizeBatch
from squeezenet.train import resolve_config


def _take(batches, images: int) -> int:
    """Consume batches until ``images`` images have been delivered; return how many were."""
    n = 0
    for x, _ in batches:
        n += len(x)
        if n >= images:
            break
    return n


def _normalised(batches, prepare: NormalizeBatch):
    for x, y in batches:
        yield prepare(x, y)


def _evaluate_batches(loader, preprocess):
    for x, y in loader:
        yield preprocess.normalize(x), y


def _loader(dataset, batch_size: int, workers: int, shuffle: bool):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        drop_last=shuffle,
        persistent_workers=workers > 0,
    )


def main() -> None:
    shared = os.environ.get("SQUEEZENET_SHARED")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        default=str(Path(shared) / "data" / "imagenette2") if shared else None,
        help="ImageFolder root with train/ and val/ (default: $SQUEEZENET_SHARED's imagenette2)",
    )
    p.add_argument(
        "--config",
        default=None,
        help="a training config whose crop settings to measure (crop_scale, decode_size, "
        "eval_image_size, image_size), e.g. configs/imagenette.yaml",
    )
    p.add_argument("--image-size", type=int, default=None, help="as `squeezenet train` (128)")
    p.add_argument("-b", "--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (both sides)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--images", type=int, default=2560, help="images per pipeline per round")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    if args.data is None:
        p.error("--data is required when SQUEEZENET_SHARED is not set")
    root = Path(args.data)
    cfg = resolve_config(
        args.config,
        dict(
            data=str(root),
            image_size=args.image_size,
            image_size_start=None,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=False,
        ),
    )
    cfg.image_size_start = None  # crops of the final side on both sides
    size = cfg.image_size or 128
    cfg.image_size = size
    eval_size = cfg.eval_image_size or size
    # The one-time decode, into an empty cache, then what a later run pays: the cache read.
    with tempfile.TemporaryDirectory(prefix="data-throughput-") as cache:
        previous = os.environ.get("SQUEEZENET_CACHE")
        os.environ["SQUEEZENET_CACHE"] = cache
        try:
            t = time.perf_counter()
            build_loaders(cfg.data_spec(), image_size=size, epochs=cfg.epochs)
            decode_s = time.perf_counter() - t
            t = time.perf_counter()
            bundle = build_loaders(cfg.data_spec(), image_size=size, epochs=cfg.epochs)
            cache_s = time.perf_counter() - t
        finally:
            if previous is None:
                del os.environ["SQUEEZENET_CACHE"]
            else:
                os.environ["SQUEEZENET_CACHE"] = previous
    n_decoded = bundle.train.num_samples + bundle.val.num_samples
    prepare = NormalizeBatch(torch.device("cpu"), cfg.mean, cfg.std, channels_last=False)
    normalize = T.Normalize(cfg.mean, cfg.std)
    fit = [T.Resize(size), T.CenterCrop(size)]
    augment = [T.RandomCrop(size, padding=cfg.crop_padding)] if cfg.crop_padding else []
    if cfg.crop_scale is not None:
        fit, augment = [], [T.RandomResizedCrop(size, scale=(cfg.crop_scale, 1.0))]
    augment += [T.RandomHorizontalFlip()] if cfg.flip else []
    fit_eval = [T.Resize(eval_size), T.CenterCrop(eval_size)]
    eval_batch = getattr(bundle.val, "batch_size", args.batch_size)
    base_train = _loader(
        datasets.ImageFolder(
            str(root / "train"), T.Compose(fit + augment + [T.ToTensor(), normalize])
        ),
        args.batch_size,
        args.workers,
        shuffle=True,
    )
    base_eval = _loader(
        datasets.ImageFolder(str(root / "val"), T.Compose(fit_eval + [T.ToTensor(), normalize])),
        eval_batch,
        args.workers,
        shuffle=False,
    )
    tv = get_preprocess("torchvision")
    base_evaluate = _loader(
        datasets.ImageFolder(
            str(root / "val"),
            T.Compose([T.Resize(tv.resize), T.CenterCrop(tv.crop), T.ToTensor(), normalize]),
        ),
        50,
        args.workers,
        shuffle=False,
    )
    ours_evaluate = _loader(
        ImageDataset(scan_folder(root / "val"), tv.crop_uint8, tv.decode_size),
        50,
        args.workers,
        shuffle=False,
    )
    epochs = itertools.count(1)

    def ours_train():
        bundle.train.set_epoch(next(epochs))
        return _take(_normalised(bundle.train, prepare), args.images)

    pipelines = {
        "train/ours": ours_train,
        "train/baseline": lambda: _take(base_train, args.images),
        "eval/ours": lambda: _take(_normalised(bundle.val, prepare), args.images),
        "eval/baseline": lambda: _take(base_eval, args.images),
        "evaluate/ours": lambda: _take(_evaluate_batches(ours_evaluate, tv), args.images),
        "evaluate/baseline": lambda: _take(base_evaluate, args.images),
    }
    for run in pipelines.values():  # start the persistent workers, warm the page cache
        run()
    rates: dict[str, list[float]] = {k: [] for k in pipelines}
    names = list(pipelines)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            n = pipelines[name]()
            rates[name].append(n / (time.perf_counter() - t))
            print(f"round {r + 1} {name}: {rates[name][-1]:.0f} images/s", file=sys.stderr)
    medians = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "command": "python benchmarks/data_throughput.py " + " ".join(sys.argv[1:]),
        "data": root.name,
        "config": args.config,
        "image_size": size,
        "eval_image_size": eval_size,
        "crop_scale": cfg.crop_scale,
        "decode_size": cfg.decode_size,
        "batch_size": args.batch_size,
        "eval_batch_size": eval_batch,
        "workers": args.workers,
        "rounds": args.rounds,
        "images_per_round": args.images,
        "ratio_train": medians["train/ours"] / medians["train/baseline"],
        "ratio_eval": medians["eval/ours"] / medians["eval/baseline"],
        "ratio_evaluate": medians["evaluate/ours"] / medians["evaluate/baseline"],
        "images_per_s": medians,
        "images_per_s_all": rates,
        "one_time_decode_s": decode_s,
        "one_time_decode_images": n_decoded,
        "cache_read_s": cache_s,
        "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{root.name}, image size {size}, batch {args.batch_size} (eval {eval_batch}), "
        f"{args.workers} workers, {args.rounds} interleaved rounds of {args.images} images, "
        f"load average {result['load_average']:.1f} on {os.cpu_count()} CPUs"
    )
    for kind in ("train", "eval", "evaluate"):
        ours, base = medians[f"{kind}/ours"], medians[f"{kind}/baseline"]
        print(f"  {kind:<9} ours {ours:8.0f} images/s  baseline {base:6.0f}  {ours / base:.1f}x")
    print(
        f"  one-time decode into memory (not in the figures above): {decode_s:.1f} s for "
        f"{n_decoded} images; later runs read the cache in {cache_s:.1f} s"
    )


if __name__ == "__main__":
    main()
