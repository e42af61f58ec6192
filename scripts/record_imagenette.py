"""Record finished Imagenette training runs in docs/results/imagenette.json and copy their
curves to docs/results/imagenette*.png.

    python scripts/record_imagenette.py RUN_DIR [RUN_DIR ...] --as from_scratch \
        --command "OMP_NUM_THREADS=1 torchrun ..." --machine "2-core x86 CPU ..."

``--as from_scratch`` fills the top-level fields (``top1``, ``minutes``, ``command``,
``model``, ...); ``--as fine_tuning`` fills the ``fine_tuning`` entry. Several run folders are
the same command with different seeds (checked: their settings may differ in the seed only):
the headline is their mean, each seed's figures go under ``seeds`` and each seed's per-epoch
metrics are copied to docs/results/imagenette-seeds/, so a rerun can be compared epoch by
epoch. The figures come from the runs' own files (results.json, metrics.csv, config.yaml), so
nothing is typed by hand.
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


def _state_dict(path: Path) -> dict:
    """The weights of a model.pth: a described file ({"state_dict", "squeezenet"}) or, from
    before descriptions, the bare state_dict."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved["state_dict"] if "state_dict" in saved else saved


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
        "parameters": sum(t.numel() for t in _state_dict(run / "model.pth").values()),
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


def same_setting(runs: list[Path]) -> list[int]:
    """The runs' seeds; raise unless their config.yaml files differ in ``seed`` and
    ``output`` only."""
    configs = [yaml.safe_load((run / "config.yaml").read_text()) for run in runs]
    for run, cfg in zip(runs[1:], configs[1:]):
        differ = sorted(
            k
            for k in set(cfg) | set(configs[0])
            if k not in ("seed", "output") and cfg.get(k) != configs[0].get(k)
        )
        if differ:
            raise SystemExit(f"{run}: differs from {runs[0]} in {differ}, not only the seed")
    seeds = [cfg["seed"] for cfg in configs]
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"the runs repeat a seed: {seeds}")
    return [int(seed) for seed in seeds]


def seeds_record(runs: list[Path], seeds: list[int], records: list[dict], folder: Path) -> dict:
    """Each seed's figures, their mean and spread; copies each metrics.csv into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for run, seed in zip(runs, seeds):
        name = f"seed{seed}-metrics.csv"
        shutil.copyfile(run / "metrics.csv", folder / name)
        files.append(f"{folder.name}/{name}")
    top1 = [r["top1"] for r in records]
    return {
        "seed": seeds,
        "top1": top1,
        "top5": [r["top5"] for r in records],
        "minutes": [r["minutes"] for r in records],
        "final_train_loss": [r["final_epoch"]["train_loss"] for r in records],
        "metrics": files,
        "top1_mean": round(statistics.mean(top1), 4),
        "top1_std": round(statistics.stdev(top1), 4) if len(top1) > 1 else None,
        "top5_mean": round(statistics.mean(r["top5"] for r in records), 4),
        "minutes_max": max(r["minutes"] for r in records),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="run folders (-o of squeezenet train)")
    p.add_argument("--as", dest="kind", choices=("from_scratch", "fine_tuning"), required=True)
    p.add_argument("--command", required=True, help="the command that made the runs")
    p.add_argument("--machine", required=True, help="what they ran on")
    p.add_argument("--note", default=None, help="a sentence stored with the record")
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/imagenette.json")
    args = p.parse_args(argv)
    seeds = same_setting(args.runs)
    records = [summarise(run) for run in args.runs]
    record = dict(records[0])
    if len(records) > 1:
        record["seeds"] = seeds_record(
            args.runs, seeds, records, args.json.parent / f"{args.json.stem}-seeds"
        )
        # The headline is the recipe's, not one draw's: the mean over the seeds.
        record["top1"] = record["seeds"]["top1_mean"]
        record["top5"] = record["seeds"]["top5_mean"]
        record["minutes"] = record["seeds"]["minutes_max"]
        record["headline_scope"] = (
            f"top-1 and top-5: mean over {len(records)} seeds; minutes: the slowest seed's; "
            "final_epoch and the curves: the first run's"
        )
    record.update(command=args.command, machine=args.machine)
    if args.note:
        record["note"] = args.note
    doc = json.loads(args.json.read_text()) if args.json.is_file() else {}
    png = "imagenette.png" if args.kind == "from_scratch" else "imagenette-finetune.png"
    shutil.copyfile(args.runs[0] / "curves.png", args.json.parent / png)
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
