"""Plot result 2 of docs/results/compression.json (torchvision SqueezeNet 1.1, size against
top-1 on imagenet-sample-100) into docs/results/compression.png.

    python scripts/plot_compression.py [--json docs/results/compression.json] [-o PNG]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/compression.json")
    p.add_argument("-o", "--output", type=Path, default=ROOT / "docs/results/compression.png")
    args = p.parse_args(argv)
    r2 = json.loads(args.json.read_text())["result_2_tv11"]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.8, 5))
    groups = {
        "distillation, GPU": ("o", "tab:blue"),
        "superseded distillation (mirror targets approximate)": ("x", "tab:orange"),
        "distillation, CPU (zip calibration)": ("s", "tab:red"),
    }
    points = [
        (
            run["name"].split("_")[0],
            run["file_bytes"],
            run["final_top1_correct"],
            "distillation, GPU"
            if run["code_version"] == "final"
            else "superseded distillation (mirror targets approximate)",
        )
        for run in r2["runs"]
    ]
    points += [
        (
            a["name"].split("-")[0],
            a["file_bytes"],
            a["top1_correct"],
            "distillation, CPU (zip calibration)",
        )
        for a in r2.get("other_attempts", [])
    ]
    for group, (marker, colour) in groups.items():
        mine = [pt for pt in points if pt[3] == group]
        if mine:
            ax.scatter(
                [b / 1000 for _, b, _, _ in mine],
                [t for _, _, t, _ in mine],
                marker=marker,
                color=colour,
                label=group,
                zorder=3,
            )
    for name, b, t, _ in points:
        ax.annotate(name, (b / 1000, t), textcoords="offset points", xytext=(4, 4), fontsize=8)
    base = r2["uncompressed"]
    ax.axhline(
        base["top1_correct"],
        color="black",
        lw=0.8,
        label=f"uncompressed ({base['fp32_pth_bytes']:,}-byte fp32 .pth): "
        f"{base['top1_correct']}/100",
    )
    a, b = r2["a_target"], r2["b_target"]
    ax.axhline(
        a["min_top1_correct"],
        color="green",
        ls="--",
        lw=0.8,
        label=f"target (a): >= {a['min_top1_correct']}",
    )
    ax.axhline(
        b["min_top1_correct"],
        color="orange",
        ls="--",
        lw=0.8,
        label=f"target (b): >= {b['min_top1_correct']}",
    )
    ax.axvline(
        a["max_bytes"] / 1000,
        color="green",
        ls=":",
        lw=0.8,
        label=f"Han's file: {a['max_bytes']:,} bytes",
    )
    ax.axvline(
        b["max_bytes"] / 1000, color="orange", ls=":", lw=0.8, label=f"{b['max_bytes']:,} bytes"
    )
    ax.set_xlabel("compressed file size (kB)")
    ax.set_ylabel("top-1 correct on imagenet-sample-100")
    ax.set_title("torchvision SqueezeNet 1.1, Deep Compression with CIFAR-image distillation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    tmp = args.output.with_name(f".{args.output.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
