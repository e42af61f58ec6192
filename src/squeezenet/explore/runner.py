"""Run a sweep point by point, resumably.

Every finished training is written to ``<out>/results.json`` at once (atomically), and every
training runs in its own ``<out>/points/<key>/`` with per-epoch checkpoints, so a killed sweep
restarted with the same arguments skips finished points and resumes the interrupted one from its
last epoch: stopping it at any moment loses at most one epoch of work.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..files import write_text
from ..summary import count_params
from .points import SweepPoint, sweep_points, unique_trainings

MiB = 2**20
CSV_FIELDS = [
    "experiment",
    "sr",
    "pct3x3",
    "bypass",
    "params",
    "size_mb",
    "imagenet_params",
    "imagenet_size_mb",
    "top1",
    "val_top1",
    "epochs",
    "minutes",
    "key",
]


def load_results(out: Path) -> dict:
    path = out / "results.json"
    if not path.exists():
        return {"budget": None, "trainings": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); move it away to start over") from None


def rows_for(points: list[SweepPoint], trainings: dict) -> list[dict]:
    """One CSV row per (experiment, point) whose training has finished."""
    rows = []
    for p in points:
        t = trainings.get(p.key)
        if t is None:
            continue
        imagenet = count_params_of_spec(p)
        rows.append(
            {
                "experiment": p.experiment,
                "sr": p.sr,
                "pct3x3": p.pct3x3,
                "bypass": p.bypass,
                "params": t["params"],
                "size_mb": round(t["params"] * 4 / MiB, 4),
                "imagenet_params": imagenet,
                "imagenet_size_mb": round(imagenet * 4 / MiB, 3),
                "top1": t["top1"],
                "val_top1": t.get("val_top1"),
                "epochs": t["epochs"],
                "minutes": t["minutes"],
                "key": p.key,
            }
        )
    return rows


def count_params_of_spec(point: SweepPoint) -> int:
    from ..models import build_squeezenet

    return count_params(build_squeezenet(point.imagenet_spec()))


def write_tables(out: Path, points: list[SweepPoint], results: dict) -> list[dict]:
    rows = rows_for(points, results["trainings"])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "explore.csv", buf.getvalue())
    return rows


_NOT_BUDGET = ("progress", "output", "device", "threads")


def run_sweep(
    out: str | os.PathLike,
    train_overrides: dict,
    experiments: tuple[str, ...] = ("sr", "pct3x3", "bypass"),
    train_fn: Callable[[dict], dict] | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> list[dict]:
    """Train every point not yet in ``<out>/results.json`` and return the CSV rows.

    ``train_overrides`` is the fixed budget (recipe, data, epochs, ...) shared by all points;
    a restarted sweep must use the same budget (checked) so that its points stay comparable.
    ``train_fn(overrides) -> {"params", "top1", "val_top1", "epochs"}`` defaults to the
    training engine.
    """
    out = Path(out)
    train_fn = train_fn or train_point
    points = sweep_points(experiments)
    results = load_results(out)
    # Where and how fast a point trains is not part of the budget that makes points comparable.
    budget = {k: v for k, v in sorted(train_overrides.items()) if k not in _NOT_BUDGET}
    if results["budget"] is not None and results["budget"] != budget:
        raise ValueError(
            f"{out / 'results.json'} was made with a different budget {results['budget']}; "
            f"use another --output or the same settings (now {budget})"
        )
    results["budget"] = budget
    todo = [p for p in unique_trainings(points) if p.key not in results["trainings"]]
    log(
        f"explore: {len(unique_trainings(points)) - len(todo)} of "
        f"{len(unique_trainings(points))} trainings already done; {len(todo)} to go"
    )
    for i, point in enumerate(todo, 1):
        log(f"explore: [{i}/{len(todo)}] {point.key}")
        start = time.perf_counter()
        overrides = {**train_overrides, "output": str(out / "points" / point.key)}
        overrides["model_args"] = {**train_overrides.get("model_args", {}), **point.model_args()}
        result = train_fn(overrides)
        result["minutes"] = round(result.get("minutes", (time.perf_counter() - start) / 60), 2)
        results["trainings"][point.key] = result
        write_text(out / "results.json", json.dumps(results, indent=2))
        write_tables(out, points, results)
    return write_tables(out, points, results)


def train_point(overrides: dict) -> dict:
    """Train one configuration with the training engine (resuming its own checkpoint)."""
    from ..train import fit, resolve_config
    from ..weights import create_model

    last = Path(overrides["output"]) / "last.pt"
    cfg = resolve_config(overrides={**overrides, "resume": last.exists()})
    summary = fit(cfg)
    # Count the deployed network (train-time batch norm folds away), not the training wrapper.
    plain = create_model(cfg.model, num_classes=summary["num_classes"], **cfg.model_args)
    return {
        "params": count_params(plain),
        # The test split when the data has one (CIFAR-10), else the validation split.
        "top1": summary.get("test_top1", summary["best_val_top1"]),
        "top1_split": "test" if "test_top1" in summary else "val",
        "val_top1": summary["best_val_top1"],
        "epochs": cfg.epochs,
        "minutes": summary["train_minutes"],
    }
