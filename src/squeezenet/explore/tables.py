"""Render the paper-style report: Table 1, Table 2, Figure 3 analogs and the bypass table,
with the paper's published numbers beside ours.

Inputs are the files the other commands write (so the report can be re-rendered at no cost):
the sweep's ``explore.csv`` (one row per training: point and seed; several seeds of a point
are shown as their mean +- sample standard deviation and each seed's value, as error bars
on the paper's Figure 3 axes), ``results.json`` beside it (the sweep's budget, which names
the recipe and data), ``compression.json`` (``squeezenet compress`` results) and
``cifar10.json`` (the training result). Missing inputs leave their section saying so.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch
from torch import nn

from ..files import write_text
from ..summary import count_params
from ..weights import create_model
from . import paper
from .points import PCT3X3_VALUES, SR_VALUES

MiB = 2**20


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in ("sr", "pct3x3", "size_mb", "imagenet_size_mb", "top1", "top5", "minutes"):
            if r.get(k) not in (None, ""):
                r[k] = float(r[k])
        for k in ("params", "imagenet_params", "epochs", "seed"):
            if r.get(k) not in (None, ""):
                r[k] = int(float(r[k]))
        # A record from before seeds (docs/results/explore.csv) is one seed-0 training a point.
        r.setdefault("seed", 0)
        if r.get("top5") == "":
            r["top5"] = None
    return rows


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1; None for a single value, whose spread is
    unknown, not zero)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per (experiment, point), in first-seen order: the first seed's row with
    ``top1`` / ``top5`` replaced by the mean over seeds, plus ``top1_std`` / ``top5_std``,
    ``top1_values`` / ``top5_values`` (each seed's, in seed order), ``seeds`` and ``n``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        point = (r["experiment"], r.get("sr"), r.get("pct3x3"), r.get("bypass"))
        groups.setdefault(point, []).append(r)
    out = []
    for members in groups.values():
        members = sorted(members, key=lambda r: r.get("seed", 0))
        agg = dict(members[0])
        agg["seeds"] = [r.get("seed", 0) for r in members]
        agg["n"] = len(members)
        for metric in ("top1", "top5"):
            values = [r[metric] for r in members if r.get(metric) is not None]
            agg[f"{metric}_values"] = values
            agg[metric], agg[f"{metric}_std"] = mean_std(values) if values else (None, None)
        out.append(agg)
    return out


def _pm(mean: float | None, std: float | None) -> str:
    """``mean +- std`` in percent (the spread left out for a single seed)."""
    if mean is None:
        return ""
    return f"{100 * mean:.2f}%" + ("" if std is None else f" ± {100 * std:.2f}")


def read_json(path: Path):
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# -- Table 1 ------------------------------------------------------------------------------------
def _paper_layer_name(prefix: str, fire_names: dict[str, str]) -> str:
    if prefix == "features.0":
        return "conv1"
    if prefix == "classifier.1":
        return "conv10"
    block, _, part = prefix.rpartition(".")
    return f"{fire_names[block]} {part}"


def table1_rows(han_layers=None) -> list[dict]:
    """Per conv layer of v1.0: filter shape, output size at 224, parameters, the paper's
    pruning density and, if given, the density measured in Han's release."""
    model = create_model("squeezenet1_0").eval()
    sizes: dict[str, tuple[int, ...]] = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: sizes.__setitem__(n, tuple(o.shape[1:])))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, 227, 227))  # Caffe input size, as Table 1
    for h in hooks:
        h.remove()
    fire_names = {
        f"features.{i}": f"fire{n}" for n, i in zip(range(2, 10), (3, 4, 5, 7, 8, 9, 10, 12))
    }
    measured = {layer.name: layer for layer in (han_layers or [])}
    rows = []
    for name, m in model.named_modules():
        if not isinstance(m, nn.Conv2d):
            continue
        block, _, part = name.rpartition(".")
        density = paper.TABLE1_DENSITY.get(name, paper.TABLE1_DENSITY.get(block))
        if isinstance(density, tuple):
            density = density[("squeeze", "expand1x1", "expand3x3").index(part)]
        row = {
            "layer": _paper_layer_name(name, fire_names),
            "key": name,
            "filter": f"{m.kernel_size[0]}x{m.kernel_size[1]}/{m.stride[0]} x {m.out_channels}",
            "output": "x".join(str(s) for s in sizes[name][::-1]),
            "params": m.weight.numel() + (m.bias.numel() if m.bias is not None else 0),
            "paper_density": density,
        }
        if name in measured:
            dense = measured[name].dense()
            row["han_density"] = float((dense != 0).mean())
        rows.append(row)
    return rows


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.0f}%"


def render_table1(rows: list[dict], ours: dict | None) -> str:
    ours_layers = {r.get("layer"): r for r in (ours or {}).get("layers", [])}
    lines = [
        "| layer | filters | output | params | paper density (6 bit) | Han's release "
        "density (8 bit) | our density | our bits |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o = ours_layers.get(r["key"], {})
        lines.append(
            f"| {r['layer']} | {r['filter']} | {r['output']} | {r['params']:,} | "
            f"{_pct(r['paper_density'])} | {_pct(r.get('han_density'))} | "
            f"{_pct(o.get('density'))} | {o.get('bits', '')} |"
        )
    total = sum(r["params"] for r in rows)
    lines.append(
        f"| **total** | | | {total:,} | {paper.TABLE1_PARAMS_AFTER:,} after pruning | | | |"
    )
    return "\n".join(lines)


# -- Table 2 and the bypass table -----------------------------------------------------------------
def render_table2(ours_rows: list[dict]) -> str:
    lines = [
        "| source | model | compression | data type | size | vs AlexNet | top-1 | top-5 |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    alexnet_mb = count_params(create_model("alexnet")) * 4 / MiB
    for model, approach, dtype, size, ratio, top1, top5 in paper.TABLE2:
        lines.append(
            f"| paper (ImageNet val) | {model} | {approach} | {dtype} | {size} MB | "
            f"{ratio}x | {top1}% | {top5}% |"
        )
    for r in ours_rows:
        size_mb = r["bytes"] / MiB
        top5_text = "" if r.get("top5") is None else f"{r['top5']}"
        lines.append(
            f"| ours ({r['dataset']}) | {r['model']} | {r['approach']} | {r['dtype']} | "
            f"{size_mb:.3f} MB ({r['bytes']:,} B) | {alexnet_mb / size_mb:.0f}x | "
            f"{r['top1']} | {top5_text} |"
        )
    return "\n".join(lines)


def render_bypass(rows: list[dict], data: str = "CIFAR-10 JPEG") -> str:
    """Table 3 with ours beside it: mean +- std over seeds (``rows`` one per training)."""
    ours = {r["bypass"]: r for r in aggregate(rows) if r["experiment"] == "bypass"}
    lines = [
        "| bypass | paper size | paper top-1 / top-5 (ImageNet) | our params | seeds | "
        f"our top-1 ({data}) | our top-5 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in ("none", "simple", "complex"):
        size, top1, top5 = paper.TABLE3[kind]
        o = ours.get(kind)
        ours_cells = (
            f"{o['params']:,} | {o['n']} | {_pm(o['top1'], o['top1_std'])} | "
            f"{_pm(o['top5'], o['top5_std'])}"
            if o
            else "not run | | |"
        )
        label = "vanilla" if kind == "none" else kind
        lines.append(f"| {label} | {size} MB | {top1}% / {top5}% | {ours_cells} |")
    return "\n".join(lines)


# -- Figure 3 ------------------------------------------------------------------------------
def plot_sweeps(rows: list[dict], out_dir: Path, data: str = "CIFAR-10 (JPEG)") -> list[str]:
    """Figure 3 analogs: accuracy vs the 1000-class model size for the SR and pct3x3 sweeps,
    every training (seed) as a dot and each point's mean +- std as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for experiment, key, anchors, label in (
        ("sr", "sr", paper.SR_ANCHORS, "squeeze ratio SR (pct3x3 = 0.5)"),
        ("pct3x3", "pct3x3", paper.PCT3X3_ANCHORS, "pct3x3 (SR = 0.5)"),
    ):
        pts = sorted(
            (r for r in aggregate(rows) if r["experiment"] == experiment), key=lambda r: r[key]
        )
        if not pts:
            continue
        # One panel per metric: on 10 classes top-5 sits near 97% and top-1 near 80%, and a
        # shared axis would flatten both curves and hide the spread over seeds.
        metrics = [m for m in ("top1", "top5") if any(r[f"{m}_values"] for r in pts)]
        fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
        spec_x = {r[key]: r["imagenet_size_mb"] for r in pts}
        ax_pts = [(spec_x[v], a) for v, a in anchors.items() if v in spec_x]
        for ax, metric in zip(axes[0], metrics):
            shown = metric.replace("top", "top-")
            have = [r for r in pts if r[f"{metric}_values"]]
            ax.errorbar(
                [r["imagenet_size_mb"] for r in have],
                [100 * r[metric] for r in have],
                yerr=[100 * (r[f"{metric}_std"] or 0.0) for r in have],
                fmt="o-",
                color="tab:blue",
                capsize=4,
                label=f"ours: {data}, mean ± std over seeds",
            )
            for i, r in enumerate(have):
                ys = [100 * v for v in r[f"{metric}_values"]]
                ax.plot(
                    [r["imagenet_size_mb"]] * len(ys),
                    ys,
                    "x",
                    color="black",
                    markersize=5,
                    label="ours: each seed" if i == 0 else None,
                    zorder=3,
                )
                ax.annotate(
                    f"{r[key]:g}",
                    (r["imagenet_size_mb"], 100 * r[metric]),
                    textcoords="offset points",
                    xytext=(5, -12),
                    fontsize=8,
                )
            ax.set_xlabel("fp32 size of the ImageNet network with these metaparameters (MB)")
            ax.set_ylabel(f"our {shown} (%)")
            ax.set_title(shown, fontsize=10)
            handles, labels = ax.get_legend_handles_labels()
            if metric == "top5" and ax_pts:
                # The paper plots ImageNet top-5; a second scale keeps its numbers readable.
                ax2 = ax.twinx()
                ax2.plot(*zip(*ax_pts), "s", color="tab:red", label="paper: ImageNet top-5")
                ax2.set_ylabel("paper's ImageNet top-5 (%)", color="tab:red")
                more = ax2.get_legend_handles_labels()
                handles, labels = handles + more[0], labels + more[1]
            ax.legend(handles, labels, loc="lower right", fontsize=8)
        fig.suptitle(f"Figure 3 analog: {label}")
        fig.tight_layout()
        name = f"figure3_{experiment}.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def shape_findings(rows: list[dict]) -> list[str]:
    """Plain statements of where our results (means over seeds) agree with the paper's shape."""
    rows = aggregate(rows)
    notes = []

    def best_within(exp, key, tol=0.005):
        pts = sorted((r for r in rows if r["experiment"] == exp), key=lambda r: r[key])
        if len(pts) < 2:
            return None, pts
        top = max(r["top1"] for r in pts)
        first = next(r for r in pts if r["top1"] >= top - tol)
        return first[key], pts

    for exp, key, claim in (
        ("sr", "sr", paper.SR_PLATEAU),
        ("pct3x3", "pct3x3", paper.PCT3X3_PLATEAU),
    ):
        plateau, pts = best_within(exp, key)
        if plateau is None:
            notes.append(f"- {exp} sweep: not enough points yet.")
            continue
        agree = "agrees" if abs(plateau - claim) < 1e-9 else "does not agree"
        series = ", ".join(f"{r[key]:g}: {_pm(r['top1'], r['top1_std'])}" for r in pts)
        expected = len(SR_VALUES if exp == "sr" else PCT3X3_VALUES)
        partial = f" Partial sweep: {len(pts)} of {expected} points." if len(pts) < expected else ""
        notes.append(
            f"- {exp}: accuracy comes within 0.5 point of its best at {key} = "
            f"{plateau:g}; the paper's plateau starts at {claim:g}, so ours {agree} "
            f"({series}).{partial}"
        )
    byp = {r["bypass"]: r["top1"] for r in rows if r["experiment"] == "bypass"}
    if len(byp) == 3:
        order = tuple(sorted(byp, key=lambda b: byp[b], reverse=True))
        agree = "agrees with" if order == paper.BYPASS_ORDER else "differs from"
        names = {"none": "vanilla", "simple": "simple", "complex": "complex"}
        notes.append(
            f"- bypass: our order is {' > '.join(names[k] for k in order)} "
            f"({', '.join(f'{names[k]} {100 * v:.1f}%' for k, v in byp.items())}); "
            f"it {agree} the paper's simple > complex > vanilla."
        )
    else:
        notes.append("- bypass: not all three variants have been trained yet.")
    return notes


# Two-sided 95% quantiles of Student's t by degrees of freedom (larger df: the next lower).
_T975 = {
    1: 12.71,
    2: 4.30,
    3: 3.18,
    4: 2.78,
    5: 2.57,
    6: 2.45,
    7: 2.36,
    8: 2.31,
    9: 2.26,
    10: 2.23,
    12: 2.18,
    15: 2.13,
    20: 2.09,
    30: 2.04,
}


def difference(a: dict, b: dict, metric: str = "top1") -> tuple[float, float | None]:
    """``a``'s mean minus ``b``'s (aggregated rows) and the half-width of its 95% interval
    (Welch's t: each point's seeds are an independent sample), None where a point has a
    single seed and so no known spread."""
    d = a[metric] - b[metric]
    sa, sb = a.get(f"{metric}_std"), b.get(f"{metric}_std")
    if sa is None or sb is None:
        return d, None
    na, nb = len(a[f"{metric}_values"]), len(b[f"{metric}_values"])
    va, vb = sa**2 / na, sb**2 / nb
    se = (va + vb) ** 0.5
    if se == 0:
        return d, 0.0
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    t = next((q for k, q in sorted(_T975.items(), reverse=True) if k <= df), _T975[1])
    return d, (t if df < 30 else 1.96) * se


def verdict(kind: str, d: float, half: float | None) -> str:
    """``confirms``, ``contradicts`` or ``cannot resolve`` a claim, from the 95% interval
    ``d +- half`` of the difference (see :data:`.paper.CLAIMS` for the two kinds)."""
    if half is None:
        return "cannot resolve"
    low, high = d - half, d + half
    if kind == "greater":
        return "confirms" if low > 0 else "contradicts" if high < 0 else "cannot resolve"
    margin = paper.PLATEAU_MARGIN
    return "confirms" if high < margin else "contradicts" if low > margin else "cannot resolve"


def claim_verdicts(rows: list[dict], metric: str = "top1") -> list[dict]:
    """Each testable claim of the paper (:data:`.paper.CLAIMS`) weighed against our seeds:
    the difference of means, its 95% interval and the verdict; claims whose points are not
    both trained are left out."""
    points = {}
    for r in aggregate(rows):
        value = r["bypass"] if r["experiment"] == "bypass" else r[r["experiment"]]
        points[(r["experiment"], value)] = r
    out = []
    for experiment, kind, a, b, text in paper.CLAIMS:
        ra, rb = points.get((experiment, a)), points.get((experiment, b))
        if ra is None or rb is None or ra.get(metric) is None or rb.get(metric) is None:
            continue
        d, half = difference(ra, rb, metric)
        out.append(
            {
                "claim": text,
                "metric": metric,
                "difference": d,
                "interval": half,
                "seeds": (len(ra[f"{metric}_values"]), len(rb[f"{metric}_values"])),
                "verdict": verdict(kind, d, half),
            }
        )
    return out


def render_verdicts(rows: list[dict]) -> str:
    """The claims table: difference of mean accuracy, its 95% interval, the verdict."""
    lines = [
        "| the paper's claim | metric | seeds | our difference (95% interval) | verdict |",
        "|---|---|---:|---:|---|",
    ]
    found = claim_verdicts(rows, "top1") + claim_verdicts(rows, "top5")
    for v in found:
        spread = "spread unknown" if v["interval"] is None else f"± {100 * v['interval']:.2f}"
        lines.append(
            f"| {v['claim']} | {v['metric']} | {v['seeds'][0]} / {v['seeds'][1]} | "
            f"{100 * v['difference']:+.2f} points ({spread}) | {v['verdict']} |"
        )
    if not found:
        return "(no claim has both of its points trained yet)"
    return "\n".join(lines) + (
        "\n\nA difference is resolved when its 95% interval (Welch's t over the seeds of the "
        "two points) excludes zero; a plateau is confirmed when the interval lies below "
        f"+{100 * paper.PLATEAU_MARGIN:g} point, contradicted when it lies above it."
        + (
            " A point with one seed leaves the spread unknown, so its claims cannot be resolved."
            if any(v["interval"] is None for v in found)
            else ""
        )
    )


def render_report(
    results_dir: str | os.PathLike,
    out: str | os.PathLike,
    han_net: str | os.PathLike | None = None,
    sweep: str | os.PathLike | None = None,
) -> Path:
    """Write ``out`` (markdown) and its PNG plots beside it; returns the markdown path.

    ``sweep`` is the sweep's CSV (default ``results_dir/explore.csv``)."""
    results_dir, out = Path(results_dir), Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = Path(sweep) if sweep is not None else results_dir / "explore.csv"
    if sweep is not None and not csv_path.is_file():
        raise ValueError(f"{csv_path}: --sweep is not a file (no such file)")
    rows = read_csv(csv_path)
    compression = read_json(results_dir / "compression.json")
    cifar = read_json(results_dir / "cifar10.json")
    han_layers = None
    if han_net and Path(han_net).is_file():
        from ..weights import read_deep_compression

        han_layers = read_deep_compression(han_net)
    ours_t2 = (compression or {}).get("table2", [])
    # Rows name their recipe and data; older CSVs do not, and then the sweep folder's
    # results.json does, or the CSV is the CIFAR-10 record from before either.
    budget = dict((read_json(csv_path.parent / "results.json") or {}).get("budget") or {})
    for field in ("recipe", "data"):
        named = {str(r[field]) for r in rows if r.get(field)}
        if len(named) > 1:
            raise ValueError(f"{csv_path}: rows from several {field}s {sorted(named)}")
        if named:
            budget[field] = named.pop()
    recipe = budget.get("recipe", "cifar10-fast")
    photos = recipe != "cifar10-fast"
    data = "photographs" if photos else "CIFAR-10 (JPEG)"
    plots = plot_sweeps(rows, out.parent, data) if rows else []
    # One row per training; a point shared by two experiments is listed under each.
    trainings = {(r["key"], r["seed"]): r for r in rows}
    minutes = sum(float(r["minutes"]) for r in trainings.values())
    parts = [
        "# SqueezeNet paper reproduction report",
        "",
        "Generated by `squeezenet report`. Paper numbers are ImageNet (Caffe); ours are measured "
        "on the data named in each table.",
        "",
        "## Table 1: SqueezeNet v1.0 layers and compression",
        "",
        render_table1(table1_rows(han_layers), (compression or {}).get("table1")),
        "",
        "## Table 2: sizes and accuracies vs AlexNet",
        "",
        render_table2(ours_t2)
        if ours_t2
        else render_table2([]) + "\n\n(no `compression.json` with a `table2` list found)",
        "",
        "## Figure 3 analogs: the design-space sweeps",
        "",
    ]
    if rows:
        epochs = {(r["epochs"]) for r in rows}
        seeds = sorted({r["seed"] for r in rows})
        layout = (
            f"{budget.get('data', 'photographs')} with the `{recipe}` recipe"
            if photos
            else "CIFAR-10 JPEG, 32x32 layout"
        )
        parts.append(
            f"{len(trainings)} trainings ({len({r['key'] for r in rows})} points, seeds "
            f"{', '.join(map(str, seeds))}), {minutes:.0f} minutes of compute, "
            f"{', '.join(map(str, sorted(epochs)))} epochs per training ({layout}; the x axis "
            "is the size the same metaparameters give the paper's ImageNet network; accuracy "
            "is the mean ± sample standard deviation over seeds, each seed drawn as a cross). "
            "Made with:"
        )
        command = (
            f"squeezenet explore -d {budget.get('data', 'imagenette2')} --recipe {recipe} "
            f"--epochs {max(epochs)} --seeds {len(seeds)}"
            if photos
            else f"squeezenet explore -d cifar10-jpg.zip --epochs {max(epochs)}"
            + (f" --seeds {len(seeds)}" if len(seeds) > 1 else "")
        )
        parts += [
            "",
            "```bash",
            f"{command} --csv {csv_path}",
            f"squeezenet report --results {results_dir}"
            + (f" --sweep {csv_path}" if sweep is not None else "")
            + f" -o {out.parent}",
            "```",
            "",
        ]
        parts += [f"![{p}]({p})" for p in plots]
        parts += [
            "",
            f"| experiment | SR | pct3x3 | bypass | params ({'ours' if photos else 'CIFAR'}) "
            "| ImageNet-network size | seeds | top-1 | top-1 per seed | top-5 |",
            "|---|---:|---:|---|---:|---:|---:|---:|---|---:|",
        ]
        for r in aggregate(rows):
            each = ", ".join(f"{100 * v:.2f}" for v in r["top1_values"])
            parts.append(
                f"| {r['experiment']} | {r['sr']:g} | {r['pct3x3']:g} | {r['bypass']} "
                f"| {r['params']:,} | {r['imagenet_size_mb']:.1f} MB | {r['n']} | "
                f"{_pm(r['top1'], r['top1_std'])} | {each} | {_pm(r['top5'], r['top5_std'])} |"
            )
    else:
        parts.append("(no `explore.csv` found: run `squeezenet explore` first)")
    parts += [
        "",
        "## Bypass (Table 3)",
        "",
        render_bypass(rows, "photographs" if photos else "CIFAR-10 JPEG"),
        "",
        "## Where our results agree with the paper's shape",
        "",
    ]
    parts += shape_findings(rows)
    parts += ["", "## The paper's claims against our spread", "", render_verdicts(rows)]
    if cifar:
        line = (
            f"`{cifar.get('command')}`: top-1 {cifar.get('top1')} in "
            f"{cifar.get('minutes')} minutes ({cifar.get('model')})"
        )
        if "top1_single_view" in cifar:  # the headline was scored with flip TTA
            line += (
                f"; scored by {cifar.get('top1_scoring', 'test-time augmentation')}; "
                f"single-view top-1 {cifar['top1_single_view']}"
            )
        parts += ["", "## CIFAR-10 training result", "", line + "."]
    write_text(out, "\n".join(parts) + "\n")
    return out
