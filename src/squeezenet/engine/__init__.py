"""The layer below ``train`` and ``compress``: what both run on a model and its batches.

Modules: ``loop`` (the optimisation step, the loop of steps, one training epoch, batch-norm
recalibration), ``evaluate`` (the one top-1/top-5 loop, over batches or a labelled image
collection), ``inputs`` (normalised batches), ``optim`` (parameter groups, lr schedules),
``precision`` (autocast, ``auto`` precision), ``teacher`` (distillation), ``health`` (a
diverged, dead or stalled training) and ``distributed`` (device, torchrun/DDP).
"""

from .distributed import resolve_device
from .evaluate import evaluate, evaluate_batches, topk_correct, topk_hits
from .health import (
    DeadClassifierWarning,
    NotLearningWarning,
    TrainingDiverged,
    dead_classifier,
    dead_classifier_message,
    not_learning,
    not_learning_message,
)
from .inputs import NormalizeBatch, first_inputs
from .loop import EpochSettings, Step, recalibrate_batchnorm, run_steps, tail_mean, train_one_epoch
from .optim import build_optimizer, build_scheduler, lr_factor, param_groups
from .precision import autocast, cpu_has_native_bf16, resolve_amp, resolve_precision
from .teacher import Teacher, distillation_loss

__all__ = [
    "DeadClassifierWarning",
    "EpochSettings",
    "NormalizeBatch",
    "NotLearningWarning",
    "Step",
    "Teacher",
    "TrainingDiverged",
    "autocast",
    "build_optimizer",
    "build_scheduler",
    "cpu_has_native_bf16",
    "dead_classifier",
    "dead_classifier_message",
    "distillation_loss",
    "evaluate",
    "evaluate_batches",
    "first_inputs",
    "lr_factor",
    "not_learning",
    "not_learning_message",
    "param_groups",
    "recalibrate_batchnorm",
    "resolve_amp",
    "resolve_device",
    "resolve_precision",
    "run_steps",
    "tail_mean",
    "topk_correct",
    "topk_hits",
    "train_one_epoch",
]
