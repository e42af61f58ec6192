"""Plot the size / accuracy frontier of the rounding levers: each setting of a
``benchmarks/rounding_kl.py --grid-scales ...`` run as a curve, file bytes against the mean KL
from the dense model and against the top-1 loss (1000-way, imagenet-dev), into a PNG.

    python scripts/plot_frontier.py [--json docs/results/compression-frontier.json] [-o PNG]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, default=ROOT / "docs/results/compression-frontier.json")
    p.add_argument(
        "-o", "--output", type=Path, default=ROOT / "docs/results/compression-frontier.png"
    )
    args = p.parse_args(argv)
    result = json.loads(args.json.read_text())
    dense, n = result["dense_top1_correct"], result["n"]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[dict]] = {}
    for name, run in result["runs"].items():
        curves.setdefault(run.get("curve", name.split("@")[0]), []).append(run)
    fig, (kl_ax, top1_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    markers = "osD^vPX*"
    for i, (curve, runs) in enumerate(curves.items()):
        runs.sort(key=lambda r: r["bytes"])
        kb = [r["bytes"] / 1000 for r in runs]
        label = result.get("curves", {}).get(curve, curve)
        kl_ax.plot(kb, [r["kl"] for r in runs], marker=markers[i % 8], label=label)
        loss = [100 * (dense - r["top1_correct"]) / n for r in runs]
        top1_ax.plot(kb, loss, marker=markers[i % 8], label=label)
    for ax, target in ((kl_ax, 0.025), (top1_ax, 1.0)):
        ax.axvline(470, color="grey", linestyle=":", linewidth=1)
        ax.axhline(target, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("file size (kB)")
        ax.grid(alpha=0.3)
    kl_ax.set_yscale("log")  # nearest rounding is several times further than the rest
    kl_ax.set_ylabel("mean KL(dense || compressed), log scale")
    top1_ax.set_ylabel("top-1 loss vs dense (points; one draw, about +-0.9)")
    fig.suptitle(
        f"SqueezeNet 1.1 on imagenet-dev ({n} photos, 1000-way), one calibration seed; "
        "dashed: the target, dotted: 470 kB",
        fontsize=10,
    )
    kl_ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
