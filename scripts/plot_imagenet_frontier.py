"""Plot the ImageNet size/accuracy frontier of docs/results/compression.json (torchvision
SqueezeNet 1.1: file bytes against top-1 loss on imagenette2/val, 1000-way) into
docs/results/compression-imagenet.png.

    python scripts/plot_imagenet_frontier.py [--json docs/results/compression.json] [-o PNG]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/compression.json")
    p.add_argument(
        "-o", "--output", type=Path, default=ROOT / "docs/results/compression-imagenet.png"
    )
    args = p.parse_args(argv)
    result = json.loads(args.json.read_text())["imagenet_squeezenet1_1"]
    dense = result["dense"]["top1_correct"]
    n = result["dense"]["n"]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    styles = {
        "gptq": ("o", "tab:blue", "Fisher grid + GPTQ (compress --preset gptq)"),
        "gptq-bias-correction": ("^", "tab:purple", "the same + bias correction"),
        "nearest": ("s", "tab:orange", "Fisher grid, nearest rounding"),
        "kmeans": ("x", "tab:red", "k-means (4/5 bits) + codebook distillation"),
    }
    for method, (marker, colour, label) in styles.items():
        pts = sorted(
            (pt["bytes"], 100 * (pt["top1_correct"] - dense) / n)
            for pt in result["frontier"]
            if pt["method"] == method
        )
        if pts:
            ax.plot(
                [b / 1000 for b, _ in pts],
                [d for _, d in pts],
                marker=marker,
                color=colour,
                label=label,
                linestyle="-" if method == "gptq" and len(pts) > 1 else "none",
            )
    others = [pt for pt in result["calibration_draws"] if "shipped" not in pt["calibration"]]
    ax.scatter(
        [pt["bytes"] / 1000 for pt in others],
        [100 * (pt["top1_correct"] - dense) / n for pt in others],
        marker="o",
        facecolors="none",
        edgecolors="tab:blue",
        label="the same at grid scale 0.024, other calibration draws",
    )
    ax.axhline(-1.0, color="grey", linestyle="--", linewidth=1)
    ax.axvline(470, color="grey", linestyle=":", linewidth=1)
    ax.text(471, 0.0, "0.47 MB", color="grey", fontsize=8, va="top")
    ax.text(ax.get_xlim()[0] + 2, -0.9, "1-point loss", color="grey", fontsize=8)
    ax.set_xlabel("file size (kB)")
    ax.set_ylabel("top-1 change vs dense (points)")
    ax.set_title("SqueezeNet 1.1 on imagenette2/val (3,925 photos, 1000-way)", fontsize=10)
    ax.legend(fontsize=8, loc="lower center")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
