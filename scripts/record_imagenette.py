"""Record a finished Imagenette training run in docs/results/imagenette.json and copy its
curves to docs/results/imagenette*.png.

    python scripts/record_imagenette.py RUN_DIR --as from_scratch \
        --command "OMP_NUM_THREADS=1 torchrun ..." --machine "2-core x86 CPU ..."

``--as from_scratch`` fills the top-level fields (``top1``, ``minutes``, ``command``,
``model``, ...); ``--as fine_tuning`` fills the ``fine_tuning`` entry. The figures come from
the run's own files (results.json, metrics.csv, config.yaml), so nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


def summarise(run: Path) -> dict:
    result = json.loads((run / "results.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    last = rows[-1]
    chosen = rows[int(result["best_epoch"]) - 1]
    out = {
        "model": cfg["model"],
        "model_args": cfg["model_args"],
        "batchnorm_folded": bool(cfg["batchnorm"]),
        # model.pth: the network as shipped (batch norm folded into the convs).
        "parameters": sum(t.numel() for t in torch.load(run / "model.pth").values()),
        "top1": round(float(chosen["val_top1"]), 4),
        "top5": round(float(chosen["val_top5"]), 4),
        "val_images": 3925,
        "scored_epoch": int(result["best_epoch"]),
        "select": cfg["select"],
        "epochs": int(result["epochs"]),
        "minutes": round(float(result["train_minutes"]), 2),
        "minutes_scope": "training loop including per-epoch validation; excludes the "
        "one-time decode into memory",
        "train_seconds_sum": round(sum(float(r["train_seconds"]) for r in rows), 1),
        "images_per_s_median": round(statistics.median(float(r["images_per_s"]) for r in rows)),
        "image_size": cfg["image_size"],
        "image_size_start": cfg["image_size_start"],
        "decode_size": cfg["decode_size"],
        "eval_image_size": cfg["eval_image_size"],
        "crop_scale": cfg["crop_scale"],
        "recalibrate_bn": bool(cfg["recalibrate_bn"]),
        "cutmix": cfg["cutmix"],
        "lr": cfg["lr"],
        "weight_decay": cfg["weight_decay"],
        "effective_batch": cfg["effective_batch"],
        # A file's name only: where it lay on the recording machine means nothing elsewhere.
        "weights": Path(cfg["weights"]).name if cfg["weights"] else None,
        "final_epoch": {k: float(v) for k, v in last.items() if k != "epoch"},
    }
    if "val_tta_top1" in chosen and chosen["val_tta_top1"]:
        out["top1_flip_tta"] = round(float(chosen["val_tta_top1"]), 4)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="the run folder (-o of squeezenet train)")
    p.add_argument("--as", dest="kind", choices=("from_scratch", "fine_tuning"), required=True)
    p.add_argument("--command", required=True, help="the command that made the run")
    p.add_argument("--machine", required=True, help="what it ran on")
    p.add_argument("--note", default=None, help="a sentence stored with the record")
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/imagenette.json")
    args = p.parse_args(argv)
    record = summarise(args.run)
    record.update(command=args.command, machine=args.machine)
    if args.note:
        record["note"] = args.note
    doc = json.loads(args.json.read_text()) if args.json.is_file() else {}
    png = "imagenette.png" if args.kind == "from_scratch" else "imagenette-finetune.png"
    shutil.copyfile(args.run / "curves.png", args.json.parent / png)
    record["curves"] = png
    if args.kind == "from_scratch":
        keep = {k: v for k, v in doc.items() if k in ("fine_tuning", "input_pipeline")}
        doc = {"dataset": "Imagenette2 (train/ 9,469, val/ 3,925 photographs)", **record, **keep}
    else:
        doc["fine_tuning"] = record
    args.json.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.json} and {png}")


if __name__ == "__main__":
    main()
