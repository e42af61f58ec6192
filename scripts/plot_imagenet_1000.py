"""Plot the 1000-class compression attempts of docs/results/compression.json (torchvision
SqueezeNet 1.1: file bytes against top-1 loss over imagenet-dev, 1000-way, every seed) into
docs/results/compression-imagenet-1000.png.

    python scripts/plot_imagenet_1000.py [--json docs/results/compression.json] [-o PNG]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = "imagenet-dev"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/compression.json")
    p.add_argument(
        "-o", "--output", type=Path, default=ROOT / "docs/results/compression-imagenet-1000.png"
    )
    args = p.parse_args(argv)
    result = json.loads(args.json.read_text())["imagenet_1000_classes"]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 6.2))
    groups: dict[str, list[tuple[float, float]]] = {}
    for run in result["runs"]:
        groups.setdefault(run["calibration"], []).append(
            (run["bytes"] / 1000, -run[DEV]["top1_loss_points"])
        )
    markers = "osD^vPX*"
    for i, (label, points) in enumerate(groups.items()):
        ax.scatter(
            [b for b, _ in points], [d for _, d in points], marker=markers[i % 8], label=label
        )
    target = result["targets"]
    ax.axhline(-target["max_mean_top1_loss_points"], color="grey", linestyle="--", linewidth=1)
    ax.axvline(target["max_bytes"] / 1000, color="grey", linestyle=":", linewidth=1)
    ax.text(
        target["max_bytes"] / 1000 + 0.3,
        -target["max_mean_top1_loss_points"] + 0.05,
        "470 kB, 1-point loss",
        color="grey",
        fontsize=8,
    )
    ax.set_xlabel("file size (kB)")
    ax.set_ylabel("top-1 change vs dense (points)")
    ax.set_title(
        "SqueezeNet 1.1 on imagenet-dev (781 photos, 223 classes, 1000-way); every seed",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
