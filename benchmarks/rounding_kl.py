"""How much a compressed SqueezeNet 1.1 changes the dense model, 1000-way: GPTQ vs AdaRound.

Compresses torchvision's SqueezeNet 1.1 with ``squeezenet compress --preset gptq`` (the
calibration photos drawn, seed 0, from imagenet-sample-1000/ and photos-unlabeled/ together),
once per setting (the flags added to that command; by default the gptq preset as it is and
the same grids with ``--quantizer adaround``), timing each run. Then scores every file
against the dense model on imagenet-dev/ (781 photos of 223 classes; never used to
calibrate or tune): torchvision preprocessing, every JPEG decoded in full, fp32. Reports
bytes, mean KL(dense || compressed), predictions changed, top-1 of each, and the seconds of
the compression and of its rounding stages (from the compression's report).

Run (files and results.json go to OUT; a setting whose .sqz exists there is only scored):
    python benchmarks/rounding_kl.py --out OUT \\
        --setting gptq= --setting adaround="--quantizer adaround"
With ``--grid-scales 0.02,0.024,0.029`` every setting runs at each grid scale (named
``NAME@SCALE``): the size / KL frontier of each setting, which
``scripts/plot_frontier.py`` draws.
The data: $SQUEEZENET_SHARED (default ../shared): data/imagenet-sample-1000,
data/photos-unlabeled, data/imagenet-dev, weights/squeezenet1_1-fp16.pth. Other choices:
``--calibration`` and ``--score-on`` (folders under data/; the swapped cross-check
calibrates on imagenet-dev + imagenette2/train and scores on imagenet-sample-1000), and
``--model``, ``--weights`` (under weights/), ``--preprocess`` for another dense model (Han's
release: squeezenet1_0, deep-compression/compressed_SqueezeNet.net, caffe).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from squeezenet import create_model
from squeezenet.data import get_preprocess, scan_folder
from squeezenet.data.images import load_image


def _compress(out: Path, name: str, flags: str, shared: Path, args: argparse.Namespace) -> dict:
    """Run ``squeezenet compress`` for one setting; returns its wall seconds and report."""
    sqz, report = out / f"{name}.sqz", out / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "squeezenet",
        "compress",
        "--preset",
        args.preset,
        "-m",
        args.model,
        "-w",
        str(shared / "weights" / args.weights),
        "--preprocess",
        args.preprocess,
        "--calibration",
        *(str(shared / "data" / c) for c in args.calibration),
        "--calibration-size",
        str(args.calibration_size),
        "--seed",
        str(args.seed),
        "-o",
        str(sqz),
        "--report",
        str(report),
        *shlex.split(flags),
    ]
    timing = out / f"{name}.seconds.json"
    if not sqz.exists():
        print("$", shlex.join(command), file=sys.stderr, flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timing.write_text(json.dumps({"seconds": time.perf_counter() - start}))
    stage = json.loads(report.read_text())["stages"][1]
    keys = (
        "grid_scale",
        "fisher_seconds",
        "fit_seconds",
        "calibration_pass_seconds",
        "rounding_seconds",
        "adaround_undecided",
    )
    return {
        "command": shlex.join(["squeezenet", *command[3:]]),
        "seconds": json.loads(timing.read_text())["seconds"] if timing.exists() else None,
        **{k: stage[k] for k in keys if k in stage},
    }


@torch.inference_mode()
def _logits(
    model: torch.nn.Module, images: torch.Tensor, preprocess: str, batch: int = 50
) -> torch.Tensor:
    model.eval()
    normalize = get_preprocess(preprocess).normalize
    return torch.cat([model(normalize(x)).float() for x in images.split(batch)]).double()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True, type=Path, help="folder for the files and results")
    p.add_argument(
        "--setting",
        action="append",
        metavar="NAME=FLAGS",
        help="a compression: its name and the flags added to the gptq preset (repeatable)",
    )
    p.add_argument(
        "--grid-scales",
        type=lambda text: [float(x) for x in text.split(",")],
        default=None,
        metavar="S1,S2,...",
        help="run every setting at each of these grid scales",
    )
    p.add_argument("--calibration-size", type=int, default=256)
    p.add_argument("--calibration", nargs="+", default=["imagenet-sample-1000", "photos-unlabeled"])
    p.add_argument("--score-on", default="imagenet-dev", help="folder under data/")
    p.add_argument("--preset", default="gptq")
    p.add_argument("--model", default="squeezenet1_1")
    p.add_argument("--weights", default="squeezenet1_1-fp16.pth", help="file under weights/")
    p.add_argument("--preprocess", default="torchvision")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    shared = Path(os.environ.get("SQUEEZENET_SHARED", "../shared"))
    settings = dict(
        s.split("=", 1) for s in args.setting or ["gptq=", "adaround=--quantizer adaround"]
    )
    if args.grid_scales:
        settings = {
            f"{name}@{scale:g}": f"{flags} --grid-scale {scale:g}"
            for name, flags in settings.items()
            for scale in args.grid_scales
        }
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {
        name: _compress(args.out, name, flags, shared, args) for name, flags in settings.items()
    }

    images = scan_folder(shared / "data" / args.score_on, "imagenet")
    preprocess = get_preprocess(args.preprocess)
    crops = torch.stack([preprocess.crop_uint8(load_image(path)) for path, _ in images.samples])
    labels = torch.tensor([label for _, label in images.samples])
    dense_model = create_model(args.model, shared / "weights" / args.weights)
    dense = _logits(dense_model, crops, args.preprocess)
    dense_top1 = dense.argmax(1)
    results = {
        "data": args.score_on,
        "n": len(labels),
        "dense_top1_correct": int((dense_top1 == labels).sum()),
        "dense_top5_correct": int((dense.topk(5, 1).indices == labels[:, None]).any(1).sum()),
        "runs": {},
    }
    print(f"dense top-1: {results['dense_top1_correct']} / {len(labels)}")
    print("| setting | bytes | KL | changed | top-1 | compress s | rounding s | undecided |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        sqz = args.out / f"{name}.sqz"
        logits = _logits(create_model(args.model, sqz), crops, args.preprocess)
        kl = F.kl_div(
            F.log_softmax(logits, 1), F.log_softmax(dense, 1), log_target=True, reduction="none"
        ).sum(1)
        top1 = logits.argmax(1)
        row = {
            "curve": name.split("@")[0],
            **run,
            "bytes": sqz.stat().st_size,
            "kl": round(float(kl.mean()), 4),
            "predictions_changed": int((top1 != dense_top1).sum()),
            "top1_correct": int((top1 == labels).sum()),
            "top5_correct": int((logits.topk(5, 1).indices == labels[:, None]).any(1).sum()),
        }
        results["runs"][name] = row
        seconds = "-" if row["seconds"] is None else f"{row['seconds']:.0f}"
        print(
            f"| {name} | {row['bytes']:,} | {row['kl']:.4f} | {row['predictions_changed']} | "
            f"{row['top1_correct']} | {seconds} | {row.get('rounding_seconds', '-')} | "
            f"{row.get('adaround_undecided', '-')} |",
            flush=True,
        )
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
