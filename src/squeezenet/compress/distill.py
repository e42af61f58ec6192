"""Fine-tuning without labels: knowledge distillation from the uncompressed model
(Hinton et al., 2015) on unlabeled calibration images.

Deep Compression retrains with the ImageNet labels; where none are available, matching the
uncompressed network's softened outputs on any natural images recovers most of the accuracy
that pruning and quantization cost.
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine import Step, distillation_loss, run_steps, tail_mean
from .tuner import FineTune


class Calibration:
    """Inputs (kept as float16 to halve memory) and the teacher's logits for them; with
    ``flip``, also the logits of the mirrored inputs, for exact flip augmentation."""

    def __init__(
        self, inputs: torch.Tensor, teacher: nn.Module, batch_size: int = 64, flip: bool = True
    ) -> None:
        self.inputs = inputs.to(torch.float16)
        self.flip = flip
        teacher.eval()
        device = next(teacher.parameters()).device

        def logits(x: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                return torch.cat(
                    [
                        teacher(x[i : i + batch_size].float().to(device)).cpu()
                        for i in range(0, len(x), batch_size)
                    ]
                )

        self.logits = logits(inputs)
        self.flipped_logits = logits(inputs.flip(-1)) if flip else None

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, batch_size: int, generator: torch.Generator):
        """Endless shuffled batches (randomly mirrored when ``flip``) with their targets."""
        while True:
            order = torch.randperm(len(self), generator=generator)
            for i in range(0, len(self) - batch_size + 1, batch_size):
                idx = order[i : i + batch_size]
                x = self.inputs[idx.to(self.inputs.device)].float()
                target = self.logits[idx]
                if self.flip:
                    assert self.flipped_logits is not None  # computed when flip
                    mirror = torch.rand(len(idx), generator=generator) < 0.5
                    x[mirror.to(x.device)] = x[mirror.to(x.device)].flip(-1)
                    target = torch.where(mirror[:, None], self.flipped_logits[idx], target)
                yield x, target


class Distillation:
    """The distillation tuner: Adam on the stage's parameters, matching the teacher's logits
    of a :class:`Calibration` (Adam already suits centroids: ``centroids`` changes nothing)."""

    def __init__(
        self,
        calib: Calibration,
        batch_size: int = 32,
        temperature: float = 2.0,
        progress: bool = True,
    ):
        self.calib, self.batch_size, self.temperature = calib, batch_size, temperature
        self.progress = progress

    def run(self, job: FineTune) -> float:
        """Adam on ``job.params`` for ``job.steps`` batches; returns the mean loss of the last
        10%."""
        model = job.model
        if job.steps <= 0 or not job.params:
            return float("nan")
        g = torch.Generator().manual_seed(job.seed)
        optimizer = torch.optim.Adam(job.params, lr=job.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, job.steps)
        model.train()
        # Dropout would make the student chase noise the teacher (in eval mode) never had.
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        batches = self.calib.batches(min(self.batch_size, len(self.calib)), g)
        device = next(model.parameters()).device

        def loss_of(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            x, target = batch
            return distillation_loss(model(x.to(device)), target.to(device), self.temperature)

        step = Step(optimizer, schedule, before_step=job.before_step, after_step=job.after_step)
        losses = run_steps(
            model, batches, loss_of, step, job.steps, desc=job.desc, progress=self.progress
        )
        model.eval()
        return tail_mean(losses)
