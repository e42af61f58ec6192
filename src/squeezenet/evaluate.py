"""Top-1 / top-5 accuracy of a classifier over a labelled image collection."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from .data import ImageDataset, ImageError, LabelledImages


class _Skipping(torch.utils.data.Dataset):
    """``ImageDataset`` that turns an unreadable image into ``(None, label, message)``, so
    the error reaches the main process as the project's own message, not as a worker's
    traceback, and the other images in its batch are still scored."""

    def __init__(self, images: LabelledImages, transform: Callable) -> None:
        self.inner = ImageDataset(images, transform)

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int):
        try:
            x, y = self.inner[i]
            return x, y, ""
        except ImageError as e:
            return None, self.inner.images.samples[i][1], str(e)


def _collate(items):
    good = [(x, y) for x, y, _ in items if x is not None]
    errors = [message for x, _, message in items if x is None]
    if not good:
        return None, None, errors
    return torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good]), errors


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
    strict: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> dict:
    """Return ``{"top1", "top5"}`` as fractions plus ``n`` and the raw counts.

    ``model`` is any callable from a float batch to logits (a module or a runtime session).
    An unreadable image raises :class:`ImageError` naming it when ``strict``; otherwise it is
    left out of ``n``, counted in ``skipped`` and its message passed to ``on_skip``.
    """
    if isinstance(model, torch.nn.Module):
        model.eval()
    loader = torch.utils.data.DataLoader(
        _Skipping(images, transform),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_collate,
    )
    n = c1 = c5 = skipped = 0
    bar = tqdm(
        total=len(images), desc="evaluate", unit="img", file=sys.stderr, disable=not progress
    )
    try:
        for x, y, errors in loader:
            for message in errors:
                if strict:
                    raise ImageError(message)
                skipped += 1
                if on_skip is not None:
                    on_skip(message)
            bar.update(len(errors))
            if x is None:
                continue
            logits = torch.as_tensor(model(x))
            a, b = topk_correct(logits, y)
            n, c1, c5 = n + len(y), c1 + a, c5 + b
            bar.update(len(y))
            bar.set_postfix(top1=f"{c1 / n:.3f}", top5=f"{c5 / n:.3f}")
    finally:  # a run stopped by --strict still ends its bar
        bar.close()
    return {
        "top1": c1 / n if n else 0.0,
        "top5": c5 / n if n else 0.0,
        "n": n,
        "correct1": c1,
        "correct5": c5,
        "skipped": skipped,
    }
