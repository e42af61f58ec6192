"""Fine-tuning with labels, as Deep Compression does it: retrain the surviving weights after
each pruning round (section 2) and the shared centroids after quantization (section 3.3).

The batches come from the training engine (``squeezenet.data.loaders``): the same formats
(CIFAR-10 zip, ImageFolder, torchvision CIFAR-10), in-memory uint8 tensors, the recipe's
crops, flips and normalisation. Best used when the training data of the model is at hand
(the CIFAR-10 model of ``squeezenet train``); without labels, ``distill.py`` is the fallback.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.loaders import build_loaders
from ..data.transforms import Preprocess
from ..engine import (
    NormalizeBatch,
    Step,
    autocast,
    build_scheduler,
    evaluate_batches,
    first_inputs,
    param_groups,
    resolve_amp,
    run_steps,
    tail_mean,
)
from ..models.batchnorm import batchnorm_inserted
from ..settings import SettingError
from ..train import resolve_data
from .tuner import FineTune


class LabelledRetraining:
    """SGD (momentum 0.9, Nesterov, cosine decay to 0) on labelled batches.

    With ``batchnorm`` (the default) the weights are retrained with a batch norm after every
    conv, started as the identity and folded back afterwards: a network whose batch norm was
    folded away at export (``squeezenet_cifar``) diverges at any useful SGD learning rate
    without it. Codebook fine-tuning never inserts batch norm (folding would rescale the
    shared values of each output channel differently).

    ``data`` is anything the training engine reads. Its normalisation and resolution are the
    model's own ``preprocess`` (mean, std and crop; photo folders then get the training
    engine's photo augmentation, 32 px data padded crops), or a named training ``recipe``'s,
    which must match how the model was trained (with neither: ``squeezenet train``'s defaults
    for the data). Scoring uses the data's test split when it
    has one, else its validation split, in float32.
    """

    def __init__(
        self,
        data: str,
        recipe: str | None = None,
        batch_size: int = 128,
        device: str | torch.device = "cpu",
        seed: int = 0,
        label_smoothing: float | None = None,
        weight_decay: float = 5e-5,
        amp: str = "auto",
        progress: bool = True,
        batchnorm: bool = True,
        preprocess: Preprocess | None = None,
        model: str | None = None,
    ) -> None:
        own: dict = {}
        if recipe is None and preprocess is not None:
            if preprocess.bgr or preprocess.scale != 1 / 255:
                raise SettingError(
                    f"retraining with `data` takes RGB pixels / 255 with a mean and std; the "
                    f"model's preprocessing {preprocess.name!r} is not such: name a `recipe`",
                    "recipe",
                )
            own = {
                "model": model,
                "image_size": preprocess.crop,
                "mean": preprocess.mean,
                "std": preprocess.std,
            }
        configured = resolve_data(
            overrides={
                "recipe": recipe,
                "data": data,
                "seed": seed,
                "batch_size": batch_size,
                "progress": progress,
                **own,
            }
        )
        self.device = torch.device(device)
        spec, size = configured.spec, configured.image_size
        if recipe is not None and preprocess is not None:
            _check_recipe_fits(recipe, size, spec.mean, spec.std, preprocess)
        self.data = build_loaders(spec, image_size=size, pin_memory=self.device.type == "cuda")
        self.prepare = NormalizeBatch(self.device, spec.mean, spec.std, channels_last=False)
        self.amp = resolve_amp(amp, self.device)
        if self.amp == "fp16":  # no GradScaler here; bf16 needs none
            self.amp = "off"
        self.label_smoothing = (
            configured.label_smoothing if label_smoothing is None else label_smoothing
        )
        self.weight_decay = weight_decay
        self.progress = progress
        self.batchnorm = batchnorm
        self._epoch = 0

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data.train)

    def _batches(self):
        """Endless training batches; each pass is a new (seeded) epoch of the sampler."""
        while True:
            self.data.train.set_epoch(self._epoch)
            self._epoch += 1
            yield from self.data.train

    def run(self, job: FineTune) -> float:
        """``job.steps`` SGD steps on ``job.params``; returns the mean loss of the last 10%.

        With ``job.centroids`` (codebook fine-tuning) the optimizer is Adam: a centroid's
        gradient is the sum over its cluster (section 3.3), and cluster sizes differ by orders
        of magnitude between layers, which no single SGD learning rate suits."""
        if job.steps <= 0 or not job.params:
            return float("nan")
        if self.batchnorm and not job.centroids:
            inputs = first_inputs(self.data.train, self.prepare)
            with batchnorm_inserted(job.model, inputs) as bn_params:
                return self._run(job, list(job.params) + bn_params)
        return self._run(job, job.params)

    def _run(self, job: FineTune, params: list[nn.Parameter]) -> float:
        model, lr, desc = job.model, job.lr, job.desc
        # Weight decay on weight tensors only; centroids and biases are few and decaying
        # centroids would drag every weight of a cluster toward zero at once.
        optimizer = (
            torch.optim.Adam(params, lr=lr)
            if job.centroids
            else torch.optim.SGD(
                param_groups(params, self.weight_decay), lr=lr, momentum=0.9, nesterov=True
            )
        )
        schedule = build_scheduler(optimizer, "cosine", job.steps)
        model.train()

        def loss_of(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            x, y = self.prepare(*batch)
            with autocast(self.device, self.amp):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
            if not torch.isfinite(loss):
                raise ValueError(f"{desc}: the loss became {loss.item()} (lr {lr} too high?)")
            return loss

        step = Step(optimizer, schedule, before_step=job.before_step, after_step=job.after_step)
        losses = run_steps(
            model, self._batches(), loss_of, step, job.steps, desc=desc, progress=self.progress
        )
        model.eval()
        return tail_mean(losses)

    @property
    def score_split(self) -> str:
        return "test" if self.data.test is not None else "val"

    def score(self, model: nn.Module) -> float:
        """Top-1 on the test split (else the validation split), float32."""
        split = self.data.test if self.data.test is not None else self.data.val
        return evaluate_batches(model, split, self.prepare, device=self.device)["top1"]


def _check_recipe_fits(recipe: str, size: int, mean, std, preprocess: Preprocess) -> None:
    """Refuse a recipe that would retrain the model on other input than its own (a CIFAR
    recipe on a photo model retrains it at 32 px and destroys it)."""
    own_mean, own_std = preprocess.rgb_statistics()
    same = size == preprocess.crop and all(
        abs(a - b) <= 1e-3 * max(abs(b), 1e-3) for a, b in zip((*mean, *std), (*own_mean, *own_std))
    )
    if not same:
        raise SettingError(
            f"`recipe` {recipe} retrains at {size} px with mean {_short(mean)} and std "
            f"{_short(std)}, but the model takes {preprocess.crop} px with mean "
            f"{_short(own_mean)} and std {_short(own_std)} (its preprocessing "
            f"{preprocess.name!r}): leave out `recipe` to retrain at the model's own",
            "recipe",
        )


def _short(values) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"
