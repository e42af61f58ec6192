"""The end-to-end demo: train a small SqueezeNet on scikit-learn's handwritten digits (no
download: the 1,797 8x8 images ship inside scikit-learn), compress it with the full Deep
Compression pipeline, check the written file, and plot size against accuracy; then classify
scikit-learn's two sample photographs with the compressed ImageNet model that ships inside the
package."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .compress.pipeline import CompressConfig, compress
from .compress.report import STORAGE
from .engine import Step, run_steps, topk_correct
from .models.squeezenet import SqueezeNetSpec, build_squeezenet
from .predict import predict
from .weights import create_model, get_weights_record, preprocess_for
from .weights.sqz import fileformat

# A SqueezeNet for 1x16x16 inputs: a 3x3 stride-1 stem, v1.1's pool placement and an
# quarter of v1.0's expand widths (base_e=32, incr_e=32), SR=0.25: 92,266 parameters.
DIGITS_SPEC = SqueezeNetSpec(
    base_e=32,
    incr_e=32,
    freq=2,
    pct3x3=0.5,
    sr=0.25,
    in_channels=1,
    stem_channels=32,
    stem_kernel=3,
    stem_stride=1,
    stem_padding=1,
    pool_before=(0, 2, 4),
    dropout=0.2,
    num_classes=10,
)
SIZE = 16  # 2x the native 8x8: enough room for three max-pools
LR = 2e-3
SHIFT = 1  # pixels of random translation

# Paper-style profile, scaled to a small network: prune the 3x3 and classifier hardest.
DEMO_PRUNE = {
    "features.0.weight": 0.8,
    "fire*.expand3x3.weight": 0.33,
    "fire*.squeeze.weight": 0.5,
    "fire*.expand1x1.weight": 0.5,
    "classifier.*.weight": 0.4,
}
DEMO_BITS = {"features.0.weight": 6, "classifier.*.weight": 5, "*": 4}
# Intra-op threads while the demo computes. Multi-threaded kernels split their sums by the
# thread count and training amplifies the last-bit differences, so with PyTorch's default (a
# thread per core) the printed bytes and accuracies changed with the machine's core count (one
# thread and two differ on the same CPU). One thread also ran about 4x faster than two on a
# busy 2-core CPU: the network is too small to gain from threads.
DEMO_THREADS = 1


@contextlib.contextmanager
def reproducible(threads: int = DEMO_THREADS) -> Iterator[None]:
    """Fixed intra-op threads and deterministic algorithms for the block; the caller's
    settings come back afterwards. The figures then repeat exactly on any machine whose CPU
    runs the same kernels (PyTorch's choice follows the instruction set: AVX-512 and AVX2
    machines differ in the last bits, hence in the figures)."""
    previous = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])


def load_digits_tensors(seed: int = 0):
    """Digits as (N, 1, 32, 32) floats in [0, 1] and labels, split 75/25 (stratified)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ValueError("the demo needs scikit-learn: pip install 'squeezenet-dc[demo]'") from None
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    y = torch.tensor(digits.target, dtype=torch.int64)
    tr, te = train_test_split(
        np.arange(len(y)), test_size=0.25, random_state=seed, stratify=digits.target
    )
    mean, std = x[tr].mean(), x[tr].std()
    x = (x - mean) / std
    return x[tr], y[tr], x[te], y[te]


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    (correct,) = topk_correct(model(x), y, ks=(1,))
    return correct / len(y)


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translations of up to 3 pixels: the one augmentation digits need."""
    dx, dy = (int(v) for v in torch.randint(-SHIFT, SHIFT + 1, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int,
    seed: int,
    progress: bool = True,
) -> None:
    """AdamW with a one-cycle schedule, batches of 64 randomly shifted digits."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-4)
    steps = epochs * (len(x) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=steps)

    def batches():
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=g)
            for i in range(0, len(x) - 63, 64):
                idx = order[i : i + 64]
                yield _shift(x[idx], g), y[idx]

    def loss_of(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(model(batch[0]), batch[1])

    model.train()
    run_steps(model, batches(), loss_of, Step(opt, sched), steps, desc="train", progress=progress)
    model.eval()


def plot(stages: list[dict], path: Path) -> bool:
    """Bytes as stored after each stage (bars) and test accuracy (line): the Deep Compression
    story of size falling stage by stage while accuracy holds. False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, PercentFormatter
    except ImportError:
        return False
    base = stages[0]["bytes"]
    x = np.arange(len(stages))
    labels = [f"{s['stage'].replace(' + ', chr(10) + '+ ')}" for s in stages]
    fig, ax = plt.subplots(figsize=(9, 5))
    bars = ax.bar(x, [s["bytes"] / 1000 for s in stages], color="#4c72b0", width=0.6)
    for bar, s in zip(bars, stages):
        ratio = base / s["bytes"]
        ax.annotate(
            f"{s['bytes']:,} B\n{ratio:.1f}x smaller" if ratio > 1.05 else f"{s['bytes']:,} B",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, [f"{lab}\n({STORAGE[s['stored_as']][0]})" for lab, s in zip(labels, stages)])
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel("weights as stored (kB)", color="#4c72b0")
    ax.set_ylim(0, base / 1000 * 1.25)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    acc = ax.twinx()
    acc.plot(x, [100 * s["score"] for s in stages], "o-", color="#dd8452", lw=2)
    for xi, s in zip(x, stages):
        acc.annotate(
            f"{100 * s['score']:.2f}%",
            (xi, 100 * s["score"]),
            xytext=(0, -14),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="#dd8452",
        )
    acc.set_ylim(0, 105)
    acc.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    acc.set_ylabel("test accuracy", color="#dd8452")
    ax.set_title("Deep Compression of a SqueezeNet on scikit-learn's digits")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def run_demo(
    out: str | os.PathLike,
    epochs: int = 40,
    seed: int = 0,
    coder: str | None = None,
    progress: bool = True,
) -> dict:
    """Train, compress, verify; writes model.pth, model.sqz, report.json, plot.png. The
    figures are the same on every run with the same arguments (see :func:`reproducible`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with reproducible():
        torch.manual_seed(seed)
        xtr, ytr, xte, yte = load_digits_tensors(seed)
        model = build_squeezenet(DIGITS_SPEC)
        # conv10 feeds a ReLU then the average pool: a positive bias keeps every class's output
        # alive at the start (with zero bias, classes whose outputs die are never predicted).
        conv10 = model.classifier[1]
        assert isinstance(conv10, nn.Conv2d) and conv10.bias is not None
        nn.init.constant_(conv10.bias, 1.0)
        train(model, xtr, ytr, epochs, seed, progress)
        torch.save(model.state_dict(), out / "model.pth")
        coder_arg: dict[str, Any] = {"coder": coder} if coder else {}
        # Distillation without mirroring: a mirrored digit is another symbol.
        config = CompressConfig(
            prune=DEMO_PRUNE,
            prune_rounds=2,
            bits=DEMO_BITS,
            finetune_steps=200,
            codebook_steps=200,
            lr=2e-3,
            codebook_lr=3e-4,
            batch_size=64,
            distill_temperature=2.0,
            seed=seed,
            flip=False,
            progress=progress,
            **coder_arg,
        )
        cm, report = compress(
            model, "squeezenet", config, score=lambda m: accuracy(m, xte, yte), calibration=xtr
        )
        cm.meta.update(source="squeezenet demo (scikit-learn digits)")
        size = fileformat.save(cm, out / "model.sqz")
        report.set_file_bytes(size)
        # The file, decoded from scratch, must score exactly what the pipeline reported.
        check = build_squeezenet(DIGITS_SPEC)
        check.load_state_dict(fileformat.load(out / "model.sqz").state_dict())
        reloaded = accuracy(check, xte, yte)
        result = {
            **report.to_dict(),
            "file_bytes": size,
            "reloaded_accuracy": reloaded,
            "seconds": round(time.time() - t0, 1),
            "test_images": len(yte),
        }
    (out / "report.json").write_text(json.dumps(result, indent=1))
    result["plot"] = str(out / "plot.png") if plot(report.stages, out / "plot.png") else None
    result["table"] = report.format("test acc")
    return result


# The compressed ImageNet SqueezeNet 1.1 that ships inside the package (weights/files/), and
# the two photographs that scikit-learn ships (sklearn.datasets.load_sample_image).
SHIPPED_WEIGHTS = "squeezenet1_1.dc_in1k"
SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")


def classify_sample_photos(k: int = 5) -> list[dict[str, Any]]:
    """Top-``k`` ImageNet classes of scikit-learn's sample photographs by the shipped
    compressed SqueezeNet 1.1: the paper's promise (AlexNet-level accuracy in under 0.5 MB)
    at work, with no download."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    name = get_weights_record(SHIPPED_WEIGHTS).model
    model = create_model(name, weights=SHIPPED_WEIGHTS).eval()
    preprocess = preprocess_for(name, model)
    photos = [Image.fromarray(load_sample_image(photo)) for photo in SAMPLE_PHOTOS]
    return [
        {
            "photo": photo,
            "top": [{"class": c["name"], "probability": round(c["prob"], 4)} for c in r["top"]],
        }
        for photo, r in zip(SAMPLE_PHOTOS, predict(model, photos, preprocess, k))
    ]
