"""Training-health checks: a diverged loss stops the run, a dead classifier or a network that
is not learning is warned about (the messages name the settings to change, as the CLI spells
them)."""

from __future__ import annotations

import math


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message says where and what was kept."""


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
    train_loss: float, num_classes: int, epoch: int, lr: float | None, scratch_without_bn: bool
) -> str:
    head = (
        f"the network is not learning: after epoch {epoch} the training loss is "
        f"{train_loss:.4f}, the loss of a uniform guess (ln {num_classes} = "
        f"{math.log(num_classes):.4f}). "
    )
    if scratch_without_bn:  # fine-tuning keeps the weights' own (batch-norm-free) layers
        return head + (
            "A SqueezeNet trained from scratch without batch norm often stalls here; train "
            "with --batchnorm (the default from scratch: it is folded into the convs when the "
            "model is saved), or with a much lower --lr and a warmup (--schedule onecycle)"
        )
    shown = f"{lr:g}" if lr is not None else "the default"
    return head + f"Retry with a lower --lr (now {shown}) or a warmup (--schedule onecycle)"
