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
The data: $SQUEEZENET_SHARED (default ../shared): data/imagenet-sample-1000,
data/photos-unlabeled, data/imagenet-dev, weights/squeezenet1_1-fp16.pth.
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


def _compress(out: Path, name: str, flags: str, shared: Path, size: int, seed: int) -> dict:
    """Run ``squeezenet compress`` for one setting; returns its wall seconds and report."""
    sqz, report = out / f"{name}.sqz", out / f"{name}.json"
    data = shared / "data"
    command = [
        sys.executable,
        "-m",
        "squeezenet",
        "compress",
        "--preset",
        "gptq",
        "-m",
        "squeezenet1_1",
        "-w",
        str(shared / "weights" / "squeezenet1_1-fp16.pth"),
        "--calibration",
        str(data / "imagenet-sample-1000"),
        str(data / "photos-unlabeled"),
        "--calibration-size",
        str(size),
        "--seed",
        str(seed),
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
    keys = ("fisher_seconds", "calibration_pass_seconds", "rounding_seconds", "adaround_undecided")
    return {
        "command": shlex.join(["squeezenet", *command[3:]]),
        "seconds": json.loads(timing.read_text())["seconds"] if timing.exists() else None,
        **{k: stage[k] for k in keys if k in stage},
    }


@torch.inference_mode()
def _logits(model: torch.nn.Module, images: torch.Tensor, batch: int = 50) -> torch.Tensor:
    preprocess = get_preprocess("torchvision")
    model.eval()
    return torch.cat([model(preprocess.normalize(x)).float() for x in images.split(batch)]).double()


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
    p.add_argument("--calibration-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    shared = Path(os.environ.get("SQUEEZENET_SHARED", "../shared"))
    settings = dict(
        s.split("=", 1) for s in args.setting or ["gptq=", "adaround=--quantizer adaround"]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {
        name: _compress(args.out, name, flags, shared, args.calibration_size, args.seed)
        for name, flags in settings.items()
    }

    images = scan_folder(shared / "data" / "imagenet-dev", "imagenet")
    preprocess = get_preprocess("torchvision")
    crops = torch.stack([preprocess.crop_uint8(load_image(path)) for path, _ in images.samples])
    labels = torch.tensor([label for _, label in images.samples])
    dense_model = create_model("squeezenet1_1", shared / "weights" / "squeezenet1_1-fp16.pth")
    dense = _logits(dense_model, crops)
    dense_top1 = dense.argmax(1)
    results = {
        "data": "imagenet-dev",
        "n": len(labels),
        "dense_top1_correct": int((dense_top1 == labels).sum()),
        "runs": {},
    }
    print(f"dense top-1: {results['dense_top1_correct']} / {len(labels)}")
    print("| setting | bytes | KL | changed | top-1 | compress s | rounding s | undecided |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        sqz = args.out / f"{name}.sqz"
        logits = _logits(create_model("squeezenet1_1", sqz), crops)
        kl = F.kl_div(
            F.log_softmax(logits, 1), F.log_softmax(dense, 1), log_target=True, reduction="none"
        ).sum(1)
        top1 = logits.argmax(1)
        row = {
            **run,
            "bytes": sqz.stat().st_size,
            "kl": round(float(kl.mean()), 4),
            "predictions_changed": int((top1 != dense_top1).sum()),
            "top1_correct": int((top1 == labels).sum()),
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
