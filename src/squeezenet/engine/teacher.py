"""Knowledge distillation (Hinton et al., 2015): the loss and a fixed teacher network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .batches import autocast


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
