"""The optimisation step, the loop of steps, one training epoch and batch-norm
recalibration (torchvision-references style plain functions)."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import CutMix
from . import distributed as dist
from .batches import NormalizeBatch, autocast
from .evaluate import topk_hits
from .health import TrainingDiverged
from .teacher import Teacher


class Step:
    """The one optimisation step every loop here uses (training epochs, retraining and
    distillation while compressing, the demo): zeroed gradients and backward, then every
    ``accum_steps`` calls ``before_step`` (gradient masks, per-cluster gradient sums), the
    optimizer (through ``scaler`` for fp16), the scheduler, and ``after_step`` (re-applying
    masks or shared values).

    Gradients are zeroed just before the first backward of each update, not after it: the
    gradients of the last update stay readable until the next one starts. (Compression's
    codebook stage relies on that ordering to reproduce its published numbers: the first
    centroid update also sums the weight gradients the last pruning step left behind.)"""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler=None,
        *,
        scaler: torch.amp.GradScaler | None = None,
        accum_steps: int = 1,
        before_step: Callable[[], None] | None = None,
        after_step: Callable[[], None] | None = None,
    ) -> None:
        self.optimizer, self.scheduler, self.scaler = optimizer, scheduler, scaler
        self.accum_steps = accum_steps
        self.before_step, self.after_step = before_step, after_step
        self._zero = True

    def __call__(self, loss: torch.Tensor, update: bool = True) -> None:
        """Backpropagate ``loss``; with ``update`` (the last micro-batch), take the step."""
        if self._zero:
            self.optimizer.zero_grad(set_to_none=True)
            self._zero = False
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss / self.accum_steps).backward()
        if not update:
            return
        if self.before_step is not None:
            self.before_step()
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self._zero = True
        if self.scheduler is not None:
            self.scheduler.step()
        if self.after_step is not None:
            self.after_step()


def run_steps(
    model: nn.Module,
    batches: Iterator,
    loss_of: Callable[[Any], torch.Tensor],
    step: Step,
    steps: int,
    *,
    desc: str,
    progress: bool = True,
) -> list[float]:
    """``steps`` optimisation steps, one batch each from ``batches``; ``loss_of(batch)``
    runs the model. Returns each step's loss. The caller sets train/eval mode."""
    from tqdm import tqdm

    losses = []
    for _ in tqdm(range(steps), desc=desc, file=sys.stderr, leave=False, disable=not progress):
        loss = loss_of(next(batches))
        step(loss)
        losses.append(float(loss.detach()))
    return losses


def tail_mean(losses: list[float]) -> float:
    """Mean of the last 10% of the losses (the final loss, less noisy)."""
    tail = losses[-max(1, len(losses) // 10) :]
    return sum(tail) / len(tail)


@dataclass(frozen=True)
class EpochSettings:
    """What stays the same from one training epoch to the next. With a ``teacher``, the
    loss adds knowledge distillation; with ``cutmix``, batches are mixed. The loss is
    checked for NaN/inf every ``check_every`` steps."""

    device: torch.device
    amp: str = "off"
    label_smoothing: float = 0.0
    epochs: int = 1  # for the progress bar
    progress: bool = False
    teacher: Teacher | None = None
    cutmix: CutMix | None = None
    check_every: int = 20


def train_one_epoch(
    model: nn.Module,
    batches,
    prepare: NormalizeBatch,
    update: Step,
    settings: EpochSettings,
    epoch: int,
) -> dict:
    """Train for one pass over ``batches``; returns summed-over-processes metrics.

    Gradients are accumulated over ``update.accum_steps`` micro-batches (DDP syncs only on
    the last one). The loss is checked for NaN/inf on all processes at once, also at the
    end, before any checkpoint of this epoch is written.
    """
    device, amp, cutmix, teacher = settings.device, settings.amp, settings.cutmix, settings.teacher
    accum_steps, optimizer = update.accum_steps, update.optimizer
    model.train()
    total = len(batches)
    world = dist.world_size()
    images = total * getattr(batches, "batch_size", 1) * world
    bar = _epoch_bar(images, epoch, settings.epochs, settings.progress)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, start = 0, time.perf_counter()
    for step, (x, y) in enumerate(batches):
        x, y = prepare(x, y)
        if len(y) == 0:
            continue
        pasted, lam = None, 1.0
        if cutmix is not None:
            x, pasted, lam = cutmix(x, y)
        last_micro = (step + 1) % accum_steps == 0 or step + 1 == total
        no_sync = getattr(model, "no_sync", None)  # DistributedDataParallel's
        sync = no_sync() if no_sync is not None and not last_micro else contextlib.nullcontext()
        with sync:
            with autocast(device, amp):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=settings.label_smoothing)
            if pasted is not None:
                loss = lam * loss + (1 - lam) * F.cross_entropy(
                    logits.float(), pasted, label_smoothing=settings.label_smoothing
                )
            if teacher is not None:
                loss = teacher.loss(x, logits, loss, device, amp)
            update(loss, update=last_micro)
        loss_sum += loss.detach().double() * len(y)
        correct += topk_hits(logits.detach(), y, ks=(1,))[0]
        seen += len(y)
        if (step + 1) % settings.check_every == 0 or step + 1 == total:
            _check_finite(loss_sum, device, epoch, step)
            bar.set_postfix(
                loss=f"{loss_sum.item() / seen:.3f}",
                lr=f"{optimizer.param_groups[0]['lr']:.4g}",
                refresh=False,
            )
        bar.update(len(y) * world)
    bar.close()
    return _epoch_metrics(loss_sum, correct, seen, time.perf_counter() - start, device)


def _epoch_bar(images: int, epoch: int, epochs: int, progress: bool):
    """The epoch's progress bar; it counts images over all processes (each takes an equal
    share per step)."""
    from tqdm import tqdm

    return tqdm(
        total=images,
        unit="img",
        file=sys.stderr,
        desc=f"epoch {epoch + 1}/{epochs}",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )


def _epoch_metrics(
    loss_sum: torch.Tensor, correct: torch.Tensor, seen: int, elapsed: float, device
) -> dict:
    """Mean loss, top-1 and throughput, summed over all processes."""
    loss_total, correct_total, seen_total = dist.all_reduce_sum(
        [loss_sum.item(), float(correct.item()), float(seen)], device
    )
    return {
        "train_loss": loss_total / max(seen_total, 1),
        "train_top1": correct_total / max(seen_total, 1),
        "images_per_s": seen_total / elapsed if elapsed > 0 else 0.0,
        "train_seconds": elapsed,
    }


def _check_finite(loss_sum: torch.Tensor, device, epoch: int, step: int) -> None:
    bad = not math.isfinite(loss_sum.item())
    if dist.broadcast_flag(bad, device):
        raise TrainingDiverged(
            f"the loss became NaN or infinite in epoch {epoch + 1} (by step {step + 1}); stopping"
        )


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    batches,
    prepare: NormalizeBatch,
    *,
    device: torch.device,
    amp: str,
    size: int | None = None,
) -> int:
    """Re-estimate every batch norm's running mean and variance on ``batches`` (the training
    images as they are evaluated), averaged over all processes; returns the images seen.

    A network trained on random-resized crops sees objects larger than in whole test images,
    and the statistics of its activations shift with the apparent object size; FixRes
    (Touvron et al., 2019, section 3) re-estimates them at the test resolution. Each batch
    counts equally (``momentum=None``); ``size`` resizes batches of another side first."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    model.eval()  # dropout off: only the statistics change
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    seen = 0
    for x, y in batches:
        x, y = prepare(x, y)
        if len(y) == 0:
            continue
        if size is not None and x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        with autocast(device, amp):
            model(x)
        seen += len(y)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()
    total = int(dist.all_reduce_sum([seen], device)[0])
    if total == 0:
        raise ValueError("batch-norm recalibration got no images")
    if dist.world_size() > 1:
        # Every process saw its own shard: average the statistics, weighted by images.
        for m in norms:
            for buffer in (m.running_mean, m.running_var):
                assert buffer is not None  # reset_running_stats needs them
                buffer.mul_(seen / total)
                torch.distributed.all_reduce(buffer)
    return total
