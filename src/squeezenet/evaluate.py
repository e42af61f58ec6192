"""Top-1 / top-5 accuracy of a classifier over a labelled image collection."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence

import torch
from tqdm import tqdm

from .data import ImageDataset, ImageError, LabelledImages, Preprocess


class _Skipping(torch.utils.data.Dataset):
    """``ImageDataset`` that turns an unreadable image into ``(None, label, message)``, so
    the error reaches the main process as the project's own message, not as a worker's
    traceback, and the other images in its batch are still scored."""

    def __init__(
        self, images: LabelledImages, transform: Callable, decode_size: int | None
    ) -> None:
        self.inner = ImageDataset(images, transform, decode_size)

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


DECODE_MODES = ("fast", "exact")
PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX): only there is bf16
    inference faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on CPUs with native bf16, else ``fp32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return precision


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
    decode: str = "fast",
    channels_last: bool = True,
    precision: str = "fp32",
) -> dict:
    """Return ``{"top1", "top5"}`` as fractions plus ``n`` and the raw counts.

    ``model`` is any callable from a float batch to logits (a module or a runtime session).
    An unreadable image raises :class:`ImageError` naming it when ``strict``; otherwise it is
    left out of ``n``, counted in ``skipped`` and its message passed to ``on_skip``.

    ``decode="fast"`` decodes JPEGs at reduced size (DCT scaling) down to the transform's
    ``decode_size`` (a :class:`~squeezenet.data.Preprocess` has one), which changes pixels
    slightly; ``"exact"`` decodes every image in full. ``channels_last`` runs a module in
    the channels-last memory layout (oneDNN's fast path on CPUs; the same arithmetic up to
    float rounding) on a copy, leaving ``model`` as it was. ``precision="bf16"`` runs a
    module under bf16 autocast (about twice as fast on CPUs with native bf16; a prediction
    whose top classes are nearly tied can change), ``"auto"`` chooses bf16 only on such CPUs.
    Neither applies to other callables, which keep their own layout and precision.
    """
    if decode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {DECODE_MODES}, got {decode!r}")
    decode_size = getattr(transform, "decode_size", None) if decode == "fast" else None
    # A Preprocess hands uint8 crops from the workers (a quarter of the bytes of floats
    # through shared memory) and normalises whole batches here.
    per_image = transform.crop_uint8 if isinstance(transform, Preprocess) else transform
    is_module = isinstance(model, torch.nn.Module)
    channels_last = channels_last and is_module
    bf16 = resolve_precision(precision) == "bf16" and is_module
    device = torch.device("cpu")
    if isinstance(model, torch.nn.Module):  # (not is_module: mypy narrows on isinstance)
        # A module moved to a GPU (--device) gets its batches there.
        device = next(model.parameters(), torch.empty(0)).device
        model.eval()
        if channels_last:
            model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    loader = torch.utils.data.DataLoader(
        _Skipping(images, per_image, decode_size),
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
            if channels_last:  # on the uint8 batch: a quarter of the bytes to move
                x = x.contiguous(memory_format=torch.channels_last)
            if isinstance(transform, Preprocess):
                x = transform.normalize(x)
            if channels_last:  # (normalize keeps the layout; this is then a no-op)
                x = x.contiguous(memory_format=torch.channels_last)
            x = x.to(device)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = torch.as_tensor(model(x)).float().cpu()
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
