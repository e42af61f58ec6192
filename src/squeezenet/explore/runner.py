"""Run a sweep (section 5 and 6 of the paper) pair by pair, resumably, over any number of
processes or machines.

A pair is one distinct configuration trained with one seed. Each pair trains in its own
``<out>/points/<key>/seed<S>/`` with per-epoch checkpoints and, once finished, writes its own
``sweep-result.json`` there (atomically). Those files are the record: a restarted sweep skips
every pair that has one and resumes an interrupted pair from its last epoch, so stopping it
at any moment loses at most one epoch of work.

Spreading the work: ``shard=(K, N)`` trains every N-th pair starting at K. Independent
processes (on one machine or several sharing ``<out>``, e.g. over NFS) rather than one
torchrun job, because the pairs are independent trainings: no gradient is shared, a process
that dies costs only its own pair, and shards may run at different times. Because every pair
writes only its own file, concurrent shards never write the same file, so no locking is
needed. ``results.json`` and ``explore.csv`` are views rebuilt from all pair files after
every pair; two shards finishing at the same moment may leave one of them a pair short, which
the next run of the command (any shard, or none) writes back, as nothing is lost from the
pair files.

Result files written before seeds existed (one ``results.json`` whose keys name no seed) are
still read: such a training is the sweep's ``seed`` setting of that time (0 by default), and
it is copied into its pair file on first read.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..files import write_text
from ..summary import count_params
from .points import SweepPoint, shard_of, sweep_points, training_pairs

MiB = 2**20
CSV_FIELDS = [
    "experiment",
    "sr",
    "pct3x3",
    "bypass",
    "seed",
    "params",
    "size_mb",
    "imagenet_params",
    "imagenet_size_mb",
    "top1",
    "top5",
    "val_top1",
    "epochs",
    "minutes",
    "key",
    "recipe",
    "data",
]
PAIR_FILE = "sweep-result.json"
_SEEDED = re.compile(r"^(?P<key>.+)_seed(?P<seed>\d+)$")


def pair_key(point: SweepPoint, seed: int) -> str:
    return f"{point.key}_seed{seed}"


def pair_dir(out: Path, point_key: str, seed: int) -> Path:
    return out / "points" / point_key / f"seed{seed}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); move it away to start over") from None


def load_results(out: Path) -> dict:
    """The merged results: ``{"budget", "trainings": {"<key>_seed<S>": result}}``, from
    the pair files and any ``results.json`` written before seeds existed."""
    out = Path(out)
    merged: dict = {"budget": None, "trainings": {}}
    path = out / "results.json"
    if path.exists():
        old = _read_json(path)
        budget = dict(old.get("budget") or {})
        # The seed was once part of the budget (one seed per sweep); now each pair has its own.
        old_seed = int(budget.pop("seed", 0))
        merged["budget"] = budget or None
        # A results.json that is a view of the pair files adds nothing (and must not bring
        # back a pair whose folder was deleted to train it again); one from before pair
        # files holds the trainings themselves.
        legacy = {} if old.get("view") else old.get("trainings", {})
        for key, result in legacy.items():
            if _SEEDED.match(key):
                merged["trainings"][key] = result
            else:
                merged["trainings"][f"{key}_seed{old_seed}"] = {**result, "seed": old_seed}
    for pair_path in sorted(out.glob(f"points/*/seed*/{PAIR_FILE}")):
        record = _read_json(pair_path)
        if merged["budget"] is not None and record["budget"] != merged["budget"]:
            raise ValueError(
                f"{pair_path} was made with the budget {record['budget']}, another file in "
                f"{out} with {merged['budget']}; keep one budget per --output folder"
            )
        merged["budget"] = record["budget"]
        merged["trainings"][record["pair"]] = record["result"]
    return merged


def _write_pair(out: Path, key: str, budget: dict, result: dict) -> None:
    m = _SEEDED.match(key)
    assert m is not None, key
    path = pair_dir(out, m["key"], int(m["seed"])) / PAIR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"pair": key, "budget": budget, "result": result}, indent=2))


def rows_for(points: list[SweepPoint], trainings: dict, budget: dict | None = None) -> list[dict]:
    """One CSV row per (experiment, point, seed) whose training has finished; each row names
    the budget's recipe and data (the folder's name only) so that a copied CSV describes
    itself."""
    budget = budget or {}
    recipe = budget.get("recipe", "cifar10-fast")
    data = Path(str(budget["data"])).name if budget.get("data") else ""
    rows = []
    by_point: dict[str, list[tuple[int, dict]]] = {}
    for key, t in trainings.items():
        m = _SEEDED.match(key)
        if m is not None:
            by_point.setdefault(m["key"], []).append((int(m["seed"]), t))
    for p in points:
        if p.key not in by_point:
            continue
        imagenet = count_params_of_spec(p)
        for seed, t in sorted(by_point[p.key], key=lambda st: st[0]):
            rows.append(
                {
                    "experiment": p.experiment,
                    "sr": p.sr,
                    "pct3x3": p.pct3x3,
                    "bypass": p.bypass,
                    "seed": seed,
                    "params": t["params"],
                    "size_mb": round(t["params"] * 4 / MiB, 4),
                    "imagenet_params": imagenet,
                    "imagenet_size_mb": round(imagenet * 4 / MiB, 3),
                    "top1": t["top1"],
                    "top5": t.get("top5"),
                    "val_top1": t.get("val_top1"),
                    "epochs": t["epochs"],
                    "minutes": t["minutes"],
                    "key": p.key,
                    "recipe": recipe,
                    "data": data,
                }
            )
    return rows


def count_params_of_spec(point: SweepPoint) -> int:
    from ..models import build_squeezenet

    return count_params(build_squeezenet(point.imagenet_spec()))


def write_tables(out: Path, points: list[SweepPoint], results: dict) -> list[dict]:
    rows = rows_for(points, results["trainings"], results.get("budget"))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    view = {"view": f"rebuilt from points/*/seed*/{PAIR_FILE}", **results}
    write_text(out / "results.json", json.dumps(view, indent=2))
    write_text(out / "explore.csv", buf.getvalue())
    return rows


# Where and how fast a pair trains is not part of the budget that makes points comparable,
# and the seed is the pair's own.
_NOT_BUDGET = ("progress", "output", "device", "threads", "seed")


def run_sweep(
    out: str | os.PathLike,
    train_overrides: dict,
    experiments: tuple[str, ...] = ("sr", "pct3x3", "bypass"),
    train_fn: Callable[[dict], dict] | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
    seeds: list[int] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> list[dict]:
    """Train every (point, seed) pair of this ``shard`` not yet finished in ``out`` and
    return the CSV rows of all finished pairs (every shard's).

    ``train_overrides`` is the fixed budget (recipe, data, epochs, ...) shared by all pairs;
    a restarted sweep must use the same budget (checked) so that its points stay comparable.
    ``seeds`` defaults to ``[train_overrides.get("seed", 0)]``. ``train_fn(overrides) ->
    {"params", "top1", "top5", "val_top1", "epochs"}`` defaults to the training engine.
    """
    out = Path(out)
    train_fn = train_fn or train_point
    seeds = list(seeds) if seeds is not None else [int(train_overrides.get("seed", 0))]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, not {seeds}")
    points = sweep_points(experiments)
    results = load_results(out)
    budget = {k: v for k, v in sorted(train_overrides.items()) if k not in _NOT_BUDGET}
    if results["budget"] is not None and results["budget"] != budget:
        raise ValueError(
            f"{out} was made with a different budget {results['budget']}; "
            f"use another --output or the same settings (now {budget})"
        )
    results["budget"] = budget
    # Pairs recorded only in a results.json from before seeds get their own file now, so
    # that the pair files alone hold every finished training.
    for key, result in results["trainings"].items():
        m = _SEEDED.match(key)
        if m and not (pair_dir(out, m["key"], int(m["seed"])) / PAIR_FILE).exists():
            _write_pair(out, key, budget, result)
    mine = shard_of(training_pairs(points, seeds), shard)
    todo = [(p, s) for p, s in mine if pair_key(p, s) not in results["trainings"]]
    where = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
    log(
        f"explore: {len(mine) - len(todo)} of {len(mine)} trainings{where} already done; "
        f"{len(todo)} to go"
    )
    for i, (point, seed) in enumerate(todo, 1):
        log(f"explore: [{i}/{len(todo)}] {point.key} seed {seed}")
        start = time.perf_counter()
        overrides = {
            **train_overrides,
            "seed": seed,
            "output": str(pair_dir(out, point.key, seed)),
        }
        overrides["model_args"] = {**train_overrides.get("model_args", {}), **point.model_args()}
        result = train_fn(overrides)
        result["minutes"] = round(result.get("minutes", (time.perf_counter() - start) / 60), 2)
        result["seed"] = seed
        _write_pair(out, pair_key(point, seed), budget, result)
        # Rebuilt from every pair file, so the views include other shards' pairs too.
        write_tables(out, points, load_results(out))
    return write_tables(out, points, load_results(out))


def train_point(overrides: dict) -> dict:
    """Train one configuration with the training engine (resuming its own checkpoint)."""
    from ..train import fit, resolve_config
    from ..weights import create_model

    last = Path(overrides["output"]) / "last.pt"
    cfg = resolve_config(overrides={**overrides, "resume": last.exists()})
    summary = fit(cfg)
    # Count the deployed network (train-time batch norm folds away), not the training wrapper.
    plain = create_model(cfg.model, num_classes=summary["num_classes"], **cfg.model_args)
    on_test = "test_top1" in summary
    return {
        "params": count_params(plain),
        # The test split when the data has one (CIFAR-10), else the validation split.
        "top1": summary["test_top1"] if on_test else summary["best_val_top1"],
        "top5": summary.get("test_top5") if on_test else _val_top5(cfg.output, summary),
        "top1_split": "test" if on_test else "val",
        "val_top1": summary["best_val_top1"],
        "epochs": cfg.epochs,
        "minutes": summary["train_minutes"],
    }


def _val_top5(output: str | os.PathLike, summary: dict) -> float | None:
    """Validation top-5 of the kept epoch, from the run's metrics.csv (the engine's summary
    carries only its top-1): the paper's Figure 3 is drawn in top-5."""
    path = Path(output) / "metrics.csv"
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("epoch") == str(summary["best_epoch"]) and row.get("val_top5"):
                return float(row["val_top5"])
    return None
