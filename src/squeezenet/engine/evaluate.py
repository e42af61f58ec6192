"""Top-1 / top-5 accuracy of a classifier: one loop over batches, used by training's
validation, compression's scoring and the evaluation of a labelled image collection."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data import ImageError, LabelledImages, Preprocess
from ..data.images import TolerantImages, decode_min_size, load_transformed, scan_folder
from ..data.spec import DataSpec
from . import distributed as dist
from .batches import autocast, input_device, resolve_precision


class SkippingImages(TolerantImages):
    """Decode + preprocess each of ``images`` (as ``ImageDataset``); an unreadable image
    becomes ``(None, label, message)`` (see :class:`~squeezenet.data.images.TolerantImages`)."""

    def __init__(
        self, images: LabelledImages, transform: Callable, decode_size: int | None
    ) -> None:
        read = partial(load_transformed, transform=transform, min_size=decode_size)
        super().__init__(images.samples, read)


def collate_skipping(items):
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


@torch.no_grad()
def evaluate_batches(
    model: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable,
    prepare: Callable,
    *,
    device: torch.device,
    amp: str = "off",
    tta: bool = False,
    desc: str = "evaluate",
    progress: bool = False,
    total: int | None = None,
) -> dict:
    """Top-1 / top-5 accuracy and mean loss of ``model`` over ``(images, labels)`` batches,
    each made ready by ``prepare(x, y)``, summed over all processes. With ``tta``, also
    ``tta_top1`` / ``tta_top5``: the mean logits of each image and its mirror image.
    ``flat_outputs`` is the fraction of images whose logits are all equal."""
    if isinstance(model, nn.Module):
        model.eval()
    # loss, top1, top5, n, tta top1, tta top5, images whose logits are all equal
    sums = torch.zeros(7, dtype=torch.float64)
    bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not progress)
    try:
        for x, y in batches:
            x, y = prepare(x, y)
            if len(y) == 0:
                continue
            with autocast(device, amp):
                logits = torch.as_tensor(model(x)).float()
                mirrored = torch.as_tensor(model(x.flip(3))).float() if tta else logits
            # (a class list longer than the model's outputs gives labels it has no logit for)
            if int(y.max()) < logits.shape[1]:
                sums[0] += F.cross_entropy(logits, y, reduction="sum").item()
            sums[1:3] += torch.tensor(topk_correct(logits, y), dtype=torch.float64)
            sums[3] += len(y)
            # A dead classifier (SqueezeNet's conv10 + ReLU outputting 0 everywhere) gives
            # every class the same logit for every image.
            sums[6] += (logits.amax(1) == logits.amin(1)).sum().item()
            if tta:
                both = (logits + mirrored) / 2
                sums[4:6] += torch.tensor(topk_correct(both, y), dtype=torch.float64)
            bar.update(len(y))
            bar.set_postfix(top1=f"{sums[1] / sums[3]:.3f}", top5=f"{sums[2] / sums[3]:.3f}")
    finally:  # a run stopped by an unreadable image still ends its bar
        bar.close()
    loss_sum, c1, c5, n, t1, t5, flat = dist.all_reduce_sum(sums.tolist(), device)
    out = {
        "loss": loss_sum / max(n, 1),
        "top1": c1 / max(n, 1),
        "top5": c5 / max(n, 1),
        "n": int(n),
        "correct1": int(c1),
        "correct5": int(c5),
        "flat_outputs": flat / max(n, 1),
    }
    if tta:
        out.update(tta_top1=t1 / max(n, 1), tta_top5=t5 / max(n, 1))
    return out


def evaluate(
    model: Callable[[torch.Tensor], torch.Tensor],
    data: DataSpec,
    transform: Callable,
    *,
    images: LabelledImages | None = None,
    class_list: str | os.PathLike | Sequence[str] | None = None,
    on_skip: Callable[[str], None] | None = None,
    decode: str = "fast",
    channels_last: bool = True,
    precision: str = "fp32",
) -> dict:
    """Return ``{"top1", "top5"}`` as fractions plus ``n`` and the raw counts, scored by
    :func:`evaluate_batches` over the labelled images in ``data.path`` (labelled as
    :func:`~squeezenet.data.scan_folder` labels them with ``class_list``; ``images``: that
    scan, already made), read ``data.batch_size`` at a time by ``data.workers`` processes
    (0: this one), with a progress bar when ``data.progress``.

    ``model`` is any callable from a float batch to logits (a module or a runtime session).
    An unreadable image raises :class:`ImageError` naming it when ``data.strict``; otherwise
    it is left out of ``n``, counted in ``skipped`` and its message passed to ``on_skip``.

    ``decode="fast"`` decodes JPEGs at reduced size (DCT scaling) down to the transform's
    ``decode_size`` (a :class:`~squeezenet.data.Preprocess` has one), which changes pixels
    slightly; ``"exact"`` decodes every image in full. ``channels_last`` runs a module in
    the channels-last memory layout (oneDNN's fast path on CPUs; the same arithmetic up to
    float rounding) on a copy, leaving ``model`` as it was. ``precision="bf16"`` runs a
    module under bf16 autocast (about twice as fast on CPUs with native bf16; a prediction
    whose top classes are nearly tied can change), ``"auto"`` chooses bf16 only on such CPUs.
    Neither applies to other callables, which keep their own layout and precision.
    ``transform`` is the model's preprocessing (a ``Preprocess`` may be Caffe-style, which
    ``data.mean`` and ``data.std`` cannot state: they are not used here).
    """
    decode_size = decode_min_size(decode, getattr(transform, "decode_size", None))
    # A Preprocess hands uint8 crops from the workers (a quarter of the bytes of floats
    # through shared memory) and normalises whole batches here.
    per_image = transform.crop_uint8 if isinstance(transform, Preprocess) else transform
    is_module = isinstance(model, nn.Module)
    channels_last = channels_last and is_module
    bf16 = resolve_precision(precision) == "bf16" and is_module
    device = input_device(model)
    if isinstance(model, nn.Module) and channels_last:  # (mypy narrows on isinstance)
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    images = scan_folder(data.path, class_list) if images is None else images
    loader = torch.utils.data.DataLoader(
        SkippingImages(images, per_image, decode_size),
        batch_size=data.batch_size,
        num_workers=data.workers,
        collate_fn=collate_skipping,
    )
    skipped = []

    def readable():
        for x, y, errors in loader:
            for message in errors:
                if data.strict:
                    raise ImageError(message)
                skipped.append(message)
                if on_skip is not None:
                    on_skip(message)
            if x is not None:
                yield x, y

    def prepare(x: torch.Tensor, y: torch.Tensor):
        if channels_last:  # on the uint8 batch: a quarter of the bytes to move
            x = x.contiguous(memory_format=torch.channels_last)
        if isinstance(transform, Preprocess):
            x = transform.normalize(x)
        if channels_last:  # (normalize keeps the layout; this is then a no-op)
            x = x.contiguous(memory_format=torch.channels_last)
        return x.to(device), y.to(device)

    amp = "bf16" if bf16 else "off"
    scores = evaluate_batches(
        model,
        readable(),
        prepare,
        device=device,
        amp=amp,
        progress=data.progress,
        total=len(images),
    )
    keys = ("top1", "top5", "n", "correct1", "correct5")
    return {**{k: scores[k] for k in keys}, "skipped": len(skipped)}
