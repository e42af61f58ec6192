"""One training epoch and one evaluation pass (torchvision-references style plain functions)."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..evaluate import topk_correct, topk_hits
from . import distributed as dist


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message says where and what was kept."""


class NormalizeBatch:
    """Turns uint8 batches into normalised float batches on the device."""

    def __init__(self, device: torch.device, mean, std, channels_last: bool):
        self.device, self.channels_last = device, channels_last
        # Fold /255 into mean and std: x_norm = (x - 255 mean) / (255 std).
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        non_blocking = self.device.type == "cuda"
        x = x.to(self.device, non_blocking=non_blocking)
        y = y.to(self.device, non_blocking=non_blocking)
        x = (x.float() - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y


def first_inputs(batches, prepare: NormalizeBatch, n: int = 8):
    """Normalised inputs of the first ``n`` batches (to start inserted batch norm as the
    identity on the data)."""
    for i, (x, y) in enumerate(batches):
        if i >= n:
            return
        yield prepare(x, y)[0]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    """KL(teacher || student) at temperature t, scaled by t**2 (Hinton et al., 2015)."""
    return (
        F.kl_div(
            F.log_softmax(student / t, 1),
            F.log_softmax(teacher / t, 1),
            reduction="batchmean",
            log_target=True,
        )
        * t
        * t
    )


class Teacher:
    """Knowledge distillation from a fixed trained network (Hinton et al., 2015): the loss
    becomes ``(1 - weight) * cross-entropy + weight * distillation_loss`` at ``temperature``.
    Used to retrain a pruned copy of a model toward the original's outputs."""

    def __init__(self, model: nn.Module, weight: float, temperature: float) -> None:
        self.model = model.eval().requires_grad_(False)
        self.weight, self.temperature = weight, temperature

    def loss(
        self,
        x: torch.Tensor,
        logits: torch.Tensor,
        ce: torch.Tensor,
        device: torch.device,
        amp: str,
    ) -> torch.Tensor:
        with torch.no_grad(), autocast(device, amp):
            target = self.model(x).float()
        kd = distillation_loss(logits.float(), target, self.temperature)
        return (1 - self.weight) * ce + self.weight * kd


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


def autocast(device: torch.device, amp: str):
    """bf16 / fp16 autocast, or nothing for ``off``."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


class CutMix:
    """CutMix (Yun et al., 2019): with probability ``prob``, a batch gets a box of each image
    replaced by the same box of another image in the batch, and the loss weighs the two labels
    by the areas they cover. The box area is uniform (the paper's Beta(1, 1)). Reseeded per
    (seed, epoch, rank) so that a resumed run mixes exactly as an uninterrupted one."""

    def __init__(self, prob: float, seed: int, rank: int) -> None:
        self.prob, self.seed, self.rank = prob, seed, rank
        self.gen = torch.Generator()

    def set_epoch(self, epoch: int) -> None:
        self.gen.manual_seed((self.seed * 1_000_003 + epoch) * 8191 + self.rank + 7)

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """(mixed images, the pasted images' labels or None, weight of ``y``)."""
        draw = torch.rand(4, generator=self.gen).tolist()
        if draw[0] >= self.prob or len(y) < 2:
            return x, None, 1.0
        h, w = x.shape[-2:]
        side = math.sqrt(1 - draw[1])  # the box covers 1 - lam of the image before clipping
        cy, cx = int(draw[2] * h), int(draw[3] * w)
        half_h, half_w = int(h * side / 2), int(w * side / 2)
        top, bottom = max(cy - half_h, 0), min(cy + half_h, h)
        left, right = max(cx - half_w, 0), min(cx + half_w, w)
        if bottom <= top or right <= left:
            return x, None, 1.0
        perm = torch.randperm(len(y), generator=self.gen).to(y.device)
        x = x.clone()
        x[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
        return x, y[perm], 1 - (bottom - top) * (right - left) / (h * w)


def train_one_epoch(
    model: nn.Module,
    batches,
    prepare: NormalizeBatch,
    optimizer,
    scheduler,
    scaler,
    *,
    device: torch.device,
    amp: str,
    accum_steps: int,
    label_smoothing: float,
    epoch: int,
    epochs: int,
    progress: bool,
    check_every: int = 20,
    teacher: Teacher | None = None,
    cutmix: CutMix | None = None,
    after_step: Callable[[], None] | None = None,
) -> dict:
    """Train for one pass over ``batches``; returns summed-over-processes metrics.

    Gradients are accumulated over ``accum_steps`` micro-batches (DDP syncs only on the last
    one). With a ``teacher``, the loss adds knowledge distillation. The loss is checked for
    NaN/inf every ``check_every`` steps and at the end, on all processes at once, before any
    checkpoint of this epoch is written. ``after_step`` runs after every optimizer step
    (a weight average's update).
    """
    model.train()
    total = len(batches)
    world = dist.world_size()
    bar = _epoch_bar(total * getattr(batches, "batch_size", 1) * world, epoch, epochs, progress)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen, start = 0, time.perf_counter()
    update = Step(
        optimizer, scheduler, scaler=scaler, accum_steps=accum_steps, after_step=after_step
    )
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
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
            if pasted is not None:
                loss = lam * loss + (1 - lam) * F.cross_entropy(
                    logits.float(), pasted, label_smoothing=label_smoothing
                )
            if teacher is not None:
                loss = teacher.loss(x, logits, loss, device, amp)
            update(loss, update=last_micro)
        loss_sum += loss.detach().double() * len(y)
        correct += topk_hits(logits.detach(), y, ks=(1,))[0]
        seen += len(y)
        if (step + 1) % check_every == 0 or step + 1 == total:
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
def evaluate(
    model: nn.Module,
    batches,
    prepare: NormalizeBatch,
    *,
    device: torch.device,
    amp: str,
    desc: str = "validate",
    progress: bool = False,
    tta: bool = False,
) -> dict:
    """Top-1 / top-5 accuracy and mean loss, summed over all processes. With ``tta``, also
    ``tta_top1`` / ``tta_top5``: the mean logits of each image and its mirror image."""
    from tqdm import tqdm

    model.eval()
    # loss, top1, top5, n, tta top1, tta top5, images whose logits are all equal
    sums = torch.zeros(7, dtype=torch.float64)
    for x, y in tqdm(
        batches, desc=desc, unit="batch", file=sys.stderr, disable=not progress, leave=False
    ):
        x, y = prepare(x, y)
        if len(y) == 0:
            continue
        with autocast(device, amp):
            logits = model(x).float()
            mirrored = model(x.flip(3)).float() if tta else None
        sums[0] += F.cross_entropy(logits, y, reduction="sum").item()
        sums[1:3] += torch.tensor(topk_correct(logits, y), dtype=torch.float64)
        sums[3] += len(y)
        # A dead classifier (SqueezeNet's conv10 + ReLU outputting 0 everywhere) gives every
        # class the same logit for every image.
        sums[6] += (logits.amax(1) == logits.amin(1)).sum().item()
        if tta:
            sums[4:6] += torch.tensor(topk_correct((logits + mirrored) / 2, y), dtype=torch.float64)
    loss_sum, c1, c5, n, t1, t5, flat = dist.all_reduce_sum(sums.tolist(), device)
    n = max(n, 1)
    out = {
        "loss": loss_sum / n,
        "top1": c1 / n,
        "top5": c5 / n,
        "n": int(n),
        "flat_outputs": flat / n,
    }
    if tta:
        out.update(tta_top1=t1 / n, tta_top5=t5 / n)
    return out


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


class DeadClassifierWarning(UserWarning):
    """The classifier outputs the same value for every class on every validation image."""


def dead_classifier(val: dict, num_classes: int) -> bool:
    """True when validation shows a dead classifier: every image's logits are all equal
    (a ReLU-capped conv10 that outputs 0 everywhere gets no gradient and never recovers), or
    the loss sits at ln(num_classes), the loss of a uniform guess."""
    uniform = abs(val["loss"] - math.log(num_classes)) < 1e-6
    return val.get("flat_outputs", 0.0) >= 1.0 or (num_classes > 1 and uniform)


def dead_classifier_message(val: dict, num_classes: int, epoch: int, lr: float | None) -> str:
    shown = f"{lr:g}" if lr is not None else "the default"
    return (
        f"the classifier is dead after epoch {epoch}: it gives every class the same score "
        f"on every validation image (validation loss {val['loss']:.4f}, ln {num_classes} = "
        f"{math.log(num_classes):.4f}); its ReLU outputs 0 everywhere and no gradient can "
        f"revive it. Likely cause: a learning rate too high for these weights (lr {shown}); "
        "retry with a lower --lr (fine-tuning default 0.001) or a warmup (--schedule onecycle)"
    )


class NotLearningWarning(UserWarning):
    """The training loss is still that of a uniform guess after the first epochs."""


def not_learning(train_loss: float, num_classes: int) -> bool:
    """True when the mean training loss is within 2% of ln(num_classes), the cross-entropy
    of a uniform guess (label smoothing does not change it): a learning network is well
    below it after one or two epochs."""
    return num_classes > 1 and train_loss > 0.98 * math.log(num_classes)


def not_learning_message(
    train_loss: float, num_classes: int, epoch: int, lr: float | None, batchnorm: bool
) -> str:
    head = (
        f"the network is not learning: after epoch {epoch} the training loss is "
        f"{train_loss:.4f}, the loss of a uniform guess (ln {num_classes} = "
        f"{math.log(num_classes):.4f}). "
    )
    if not batchnorm:
        return head + (
            "A SqueezeNet trained from scratch without batch norm often stalls here; train "
            "with --batchnorm (the default from scratch: it is folded into the convs when the "
            "model is saved), or with a much lower --lr and a warmup (--schedule onecycle)"
        )
    shown = f"{lr:g}" if lr is not None else "the default"
    return head + f"Retry with a lower --lr (now {shown}) or a warmup (--schedule onecycle)"
