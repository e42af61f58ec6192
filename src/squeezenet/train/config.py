"""The training configuration: one flat dataclass, filled from a recipe, a YAML file and flags.

Precedence (lowest first): the dataclass defaults, the named ``recipe``, the YAML file, then
explicit overrides (command-line flags). The resolved configuration is written beside the
run's outputs as ``config.yaml`` so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..files import write_text

DEFAULT_LR = 0.1
# The rate of PyTorch's fine-tuning tutorial for SqueezeNet (SGD, momentum 0.9, batch 8);
# at 0.01 and batch 8, squeezenet1_1's new conv10 dies within the first epoch.
FINETUNE_LR = 0.001


@dataclass
class TrainConfig:
    # -- model ------------------------------------------------------------------------------
    model: str = "squeezenet_cifar"
    weights: str | None = None  # any source create_model accepts (fine-tuning)
    freeze_features: bool = False  # train only the classifier (conv10)
    # Train-time BN after each conv, folded away at the end. None: on when training from
    # scratch (plain SqueezeNet from scratch often stalls at the uniform-guess loss), off
    # when fine-tuning from ``weights``.
    batchnorm: bool | None = None
    model_args: dict = field(default_factory=dict)  # SqueezeNetSpec overrides, e.g. dropout
    # -- data -------------------------------------------------------------------------------
    data: str | None = None  # zip, ImageFolder root (train/, val/), torchvision dir
    data_format: str = "auto"  # auto | cifar10-zip | imagefolder | torchvision-cifar10
    image_size: int | None = None  # default: the model's input size
    in_memory: str = "auto"  # auto | yes | no: decode once into uint8 tensors
    val_fraction: float = 0.1  # held out from train when there is no val/ split
    strict_data: bool = False  # a corrupt image stops the run instead of a warning
    workers: int = 2  # decoding processes for streamed (not in-memory) data
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_padding: int = 4  # in-memory: random crop from a zero-padded image
    flip: bool = True
    cutout: int = 0  # in-memory: zero a random square this wide (0: off)
    cutmix: float = 0.0  # probability that a batch is mixed by CutMix (Yun et al., 2019)
    # Random-resized crops covering this fraction of the image or more (Inception crops, as
    # torchvision's RandomResizedCrop), resized to image_size. In memory, None means padded
    # crops; streamed data always makes random-resized crops (None: torchvision's 0.08).
    crop_scale: float | None = None
    decode_size: int | None = None  # in-memory ImageFolder: side kept in memory for training
    # With crop_scale: the training side grows from this to image_size (progressive resizing).
    image_size_start: int | None = None
    eval_image_size: int | None = None  # validation/test side (default: image_size)
    # After the last epoch, re-estimate batch-norm statistics on the training images as they
    # are evaluated (whole images at eval_image_size, no augmentation): FixRes's answer to the
    # train/test resolution discrepancy (Touvron et al., 2019). Needs batchnorm.
    recalibrate_bn: bool = False
    # -- optimisation -----------------------------------------------------------------------
    epochs: int = 30
    batch_size: int = 128  # per process
    effective_batch: int | None = None  # reached by gradient accumulation (paper: 512)
    optimizer: str = "sgd"
    # For the effective batch. Default: 0.1 from scratch, FINETUNE_LR when starting from
    # ``weights`` (a fresh conv10 behind a ReLU dies at high rates on pretrained features).
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    decay_norm_and_bias: bool = True  # False: no weight decay on 1-D parameters
    schedule: str = "linear"  # linear (to 0) | onecycle | cosine | constant
    warmup_fraction: float = 0.0  # onecycle: fraction of the steps spent warming up
    label_smoothing: float = 0.0
    # Exponential moving average of the weights, updated after every optimizer step with
    # this decay (about 1 / (1 - decay) steps remembered); the average replaces the final
    # epoch's weights before its validation. None: off.
    ema_decay: float | None = None
    # -- knowledge distillation (Hinton et al., 2015) ---------------------------------------------
    teacher: str | None = None  # weights of a trained `model` to distil from
    distill_weight: float = 0.5  # loss = (1 - w) cross-entropy + w T^2 KL(teacher||student)
    distill_temperature: float = 4.0  # T
    # -- pruning (Deep Compression section 2) ------------------------------------------------
    prune: str | float | dict | None = None  # target densities: 0.25, 'paper', 'pattern=d,...'
    prune_rounds: int = 3  # iterative pruning: reach the targets in this many rounds
    prune_until: float = 0.5  # ... spread over this first fraction of the epochs
    prune_granularity: str = "weight"  # weight | kernel (whole k x k kernels by L2 norm)
    # -- speed ------------------------------------------------------------------------------
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto | bf16 | fp16 | off
    channels_last: bool = True
    compile: bool = False
    threads: int | None = None  # CPU intra-op threads (default: torch's choice)
    # -- run --------------------------------------------------------------------------------
    recipe: str | None = None
    output: str = "runs/train"  # the run directory
    resume: bool = False  # continue from <output>/last.pt (automatic after a torchrun restart)
    seed: int = 0
    deterministic: bool = False
    eval_test: bool = True  # score the best checkpoint on the test split at the end
    tta: bool = False  # also score val/test on mirrored images (mean logits)
    val_every: int = 1  # validate every N epochs (and always after the last)
    select: str = "best"  # best (by validation) | last: the epoch model.pth keeps
    max_steps_per_epoch: int | None = None  # cut epochs short (smoke tests)
    progress: bool = True
    tensorboard: bool = True
    plot: bool = True

    def accum_steps(self, world_size: int) -> int:
        """Micro-batches per optimizer step so that batch x world x accum = effective batch."""
        if not self.effective_batch:
            return 1
        per_step = self.batch_size * world_size
        if self.effective_batch % per_step:
            raise ValueError(
                f"effective_batch {self.effective_batch} is not a multiple of "
                f"batch_size x processes = {per_step}"
            )
        return self.effective_batch // per_step

    def validate(self) -> None:
        choices = {
            "data_format": ("auto", "cifar10-zip", "imagefolder", "torchvision-cifar10"),
            "in_memory": ("auto", "yes", "no"),
            "optimizer": ("sgd", "adamw"),
            "schedule": ("linear", "onecycle", "cosine", "constant"),
            "amp": ("auto", "bf16", "fp16", "off"),
            "select": ("best", "last"),
            "prune_granularity": ("weight", "kernel"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.data is None:
            raise ValueError("no training data: set `data` (a path) in the config or --data")
        for name in ("epochs", "batch_size", "val_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.prune is not None:
            from ..pruning import parse_prune

            try:
                parse_prune(self.prune)
            except ValueError:
                raise ValueError(
                    f"prune must be a density, 'paper', 'none' or "
                    f"'pattern=density,...', got {self.prune!r}"
                ) from None
            if not isinstance(self.prune_rounds, int) or self.prune_rounds < 1:
                raise ValueError(
                    f"prune_rounds must be a positive integer, got {self.prune_rounds!r}"
                )
            if not 0 <= self.prune_until < 1:
                raise ValueError(f"prune_until must be in [0, 1), got {self.prune_until}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.model_args:
            from ..models.params import check_model_args

            try:
                check_model_args(self.model, self.model_args)
            except ValueError as e:
                raise ValueError(f"model_args: {e}") from None
        if not 0 <= self.distill_weight <= 1:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            raise ValueError(
                f"distill_temperature must be positive, got {self.distill_temperature}"
            )
        if self.crop_scale is not None and not 0 < self.crop_scale <= 1:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")
        for name in ("image_size", "image_size_start", "decode_size", "eval_image_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.cutmix <= 1:
            raise ValueError(f"cutmix must be a probability in [0, 1], got {self.cutmix}")
        if not isinstance(self.cutout, int) or self.cutout < 0:
            raise ValueError(f"cutout must be a non-negative integer, got {self.cutout!r}")
        if self.batchnorm is None:
            self.batchnorm = self.weights is None
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.recalibrate_bn and not self.batchnorm:
            raise ValueError("recalibrate_bn needs batchnorm (there are no statistics to redo)")
        if self.lr is None:
            self.lr = DEFAULT_LR if self.weights is None else FINETUNE_LR
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _check_keys(d: dict, where: str) -> None:
    unknown = sorted(set(d) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown setting(s) {unknown}; known: {sorted(_FIELDS)}")


def read_yaml(path: str | os.PathLike) -> dict:
    """A YAML mapping of TrainConfig fields (errors name the file)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            d = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(d).__name__}")
    _check_keys(d, str(path))
    return d


def resolve_config(
    file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """defaults < recipe < YAML ``file`` < ``overrides`` (``None`` values are ignored)."""
    from .recipes import get_recipe

    from_file = read_yaml(file) if file else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(overrides, "overrides")
    recipe = overrides.get("recipe", from_file.get("recipe"))
    merged: dict[str, Any] = {}
    if recipe:
        merged.update(get_recipe(recipe))
    merged.update(from_file)
    merged.update(overrides)
    if "model_args" in merged and not isinstance(merged["model_args"], dict):
        raise ValueError(f"model_args must be a mapping, got {merged['model_args']!r}")
    for key in ("mean", "std"):
        if key in merged:
            merged[key] = tuple(float(v) for v in merged[key])
    cfg = TrainConfig(**merged)
    cfg.validate()
    return cfg


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved configuration as YAML, atomically."""
    import yaml

    write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
