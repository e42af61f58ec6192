"""Per-epoch metrics to CSV and TensorBoard, and a PNG of the curves at the end (rank 0 only).

TensorBoard and matplotlib are optional (``pip install 'squeezenet-dc[train]'``); without them the
run goes on with a one-line notice.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from ..files import atomic_path, write_text

COLUMNS = [
    "epoch",
    "lr",
    "train_loss",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "images_per_s",
    "train_seconds",
    "val_tta_top1",
    # The epoch's wall time with its validation (and, last, the recalibration): what a
    # resumed run adds up to report its whole training time.
    "epoch_seconds",
]


class RunLog:
    def __init__(
        self, out: Path, *, enabled: bool, tensorboard: bool, history: list[dict], plot: bool = True
    ):
        self.out, self.enabled, self.history, self.plot = Path(out), enabled, history, plot
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print(
                    "note: tensorboard is not installed; skipping TensorBoard logs "
                    "(pip install 'squeezenet-dc[train]')",
                    file=sys.stderr,
                )
            else:
                self.writer = SummaryWriter(str(self.out / "tensorboard"))

    def epoch(self, metrics: dict) -> None:
        """Rewrite metrics.csv from the whole history (so a resumed run keeps one file)."""
        if not self.enabled:
            return
        buf = io.StringIO()
        # Optional columns (tta) only when the run has them.
        columns = [k for k in COLUMNS if any(k in row for row in self.history)]
        w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for row in self.history:
            w.writerow(
                {
                    k: (f"{row[k]:.6g}" if isinstance(row.get(k), float) else row.get(k))
                    for k in columns
                }
            )
        write_text(self.out / "metrics.csv", buf.getvalue())
        if self.writer is not None:
            step = metrics["epoch"]
            for k in COLUMNS[1:]:
                if k in metrics:
                    self.writer.add_scalar(k.replace("_", "/", 1), metrics[k], step)
            self.writer.flush()

    def finish(self, result: dict) -> None:
        if not self.enabled:
            return
        summary = {k: v for k, v in result.items() if k != "model"}
        write_text(self.out / "results.json", json.dumps(summary, indent=2) + "\n")
        if self.writer is not None:
            self.writer.close()
        if self.plot:
            plot_curves(self.history, self.out / "curves.png")


def plot_curves(history: list[dict], path: Path, title: str | None = None) -> bool:
    """Loss and top-1 against epoch; returns False (with a notice) without matplotlib."""
    if not history:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "note: matplotlib is not installed; skipping the curves PNG "
            "(pip install 'squeezenet-dc[train]')",
            file=sys.stderr,
        )
        return False
    epochs = [h["epoch"] for h in history]
    # Epochs without validation (val_every > 1) have no validation point.
    validated = [h for h in history if "val_top1" in h]
    val_epochs = [h["epoch"] for h in validated]
    marker = "o" if len(validated) < len(history) else None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(val_epochs, [h["val_loss"] for h in validated], label="validation", marker=marker)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [100 * h["train_top1"] for h in history], label="train")
    ax_acc.plot(
        val_epochs, [100 * h["val_top1"] for h in validated], label="validation", marker=marker
    )
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return True
