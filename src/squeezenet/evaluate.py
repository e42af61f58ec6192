"""Top-1 / top-5 accuracy of a classifier over a labelled image collection."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from .data import ImageDataset, LabelledImages


def topk_hits(
    logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> torch.Tensor:
    """How many rows have their label among the top-k logits, for each k: an int64 tensor on
    the logits' device, so that a training loop can sum it every step without waiting for
    the device."""
    k_max = min(max(ks), logits.shape[1])
    top = logits.topk(k_max, dim=1).indices
    hits = top == labels[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


def topk_correct(
    logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> list[int]:
    """How many rows have their label among the top-k logits, for each k."""
    return [int(c) for c in topk_hits(logits, labels, ks)]


@torch.inference_mode()
def evaluate(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: LabelledImages,
    transform: Callable,
    batch_size: int = 50,
    num_workers: int = 0,
    progress: bool = True,
) -> dict:
    """Return ``{"top1", "top5"}`` as fractions plus ``n`` and the raw counts.

    ``model`` is any callable from a float batch to logits (a module or a runtime session).
    """
    if isinstance(model, torch.nn.Module):
        model.eval()
    loader = torch.utils.data.DataLoader(
        ImageDataset(images, transform), batch_size=batch_size, num_workers=num_workers
    )
    n = c1 = c5 = 0
    bar = tqdm(
        total=len(images), desc="evaluate", unit="img", file=sys.stderr, disable=not progress
    )
    for x, y in loader:
        logits = torch.as_tensor(model(x))
        a, b = topk_correct(logits, y)
        n, c1, c5 = n + len(y), c1 + a, c5 + b
        bar.update(len(y))
        bar.set_postfix(top1=f"{c1 / n:.3f}", top5=f"{c5 / n:.3f}")
    bar.close()
    return {
        "top1": c1 / n if n else 0.0,
        "top5": c5 / n if n else 0.0,
        "n": n,
        "correct1": c1,
        "correct5": c5,
    }
