"""The layer below ``train`` and ``compress``: what both run on a model and its batches.

Modules: ``loop`` (the optimisation step, the loop of steps, one training epoch, batch-norm
recalibration), ``evaluate`` (the one top-1/top-5 loop, over batches or a labelled image
collection), ``batches`` (normalised batches, autocast, ``auto`` precision), ``optim``
(parameter groups, lr schedules), ``teacher`` (distillation), ``health`` (a diverged, dead
or stalled training; the trainer's) and ``distributed`` (device, torchrun/DDP).
"""

from .batches import NormalizeBatch, autocast, first_inputs, resolve_amp, resolve_precision
from .distributed import resolve_device
from .evaluate import evaluate, evaluate_batches, topk_correct
from .loop import EpochSettings, Step, recalibrate_batchnorm, run_steps, tail_mean, train_one_epoch
from .optim import build_optimizer, build_scheduler, param_groups
from .teacher import Teacher, distillation_loss
