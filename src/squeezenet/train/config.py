"""The training configuration: one flat dataclass, filled from a recipe, a YAML file and flags.

Precedence (lowest first): the dataclass defaults, the named ``recipe``, the YAML file, then
explicit overrides (command-line flags). The resolved configuration is written beside the
run's outputs as ``config.yaml`` so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.spec import DEFAULTS as _DATA
from ..data.spec import FORMATS, IN_MEMORY, DataSpec
from ..devices import check_device
from ..files import write_text
from ..pruning import GRANULARITIES
from ..settings import SettingError, check_choices, check_finite, setting

DEFAULT_LR = 0.1
# The rate of PyTorch's fine-tuning tutorial for SqueezeNet (SGD, momentum 0.9, batch 8);
# at 0.01 and batch 8, squeezenet1_1's new conv10 dies within the first epoch.
FINETUNE_LR = 0.001


@dataclass
class TrainConfig:
    """What a training run does; each field with a help text is the ``squeezenet train`` flag
    of the same name (cli/train.py generates them from this table)."""

    # -- model ------------------------------------------------------------------------------
    # None until validate() derives it (from `weights`, else the data): a str after that.
    model: str = setting(
        None,
        "registered model name (see `squeezenet summary`); default: the `recipe`'s, else the "
        "architecture the `weights` file fits (a squeezenet1_1 state_dict: squeezenet1_1), "
        "else from the data: "
        "squeezenet_cifar for CIFAR-10 and other images of at most 64 px, squeezenet1_1 for "
        "photographs",
        short="-m",
    )
    weights: str | None = setting(
        None,
        "start from these weights (registered name, path or URL); the classifier is replaced "
        "when the data has a different number of classes (fine-tuning) (default: none, a "
        "random initialisation)",
        short="-w",
    )
    freeze_features: bool = setting(
        False,
        "train only the classifier (conv10); the features stay fixed",
    )
    batchnorm: bool | None = setting(
        None,
        "add batch norm after every conv for training; it is folded into the convs when the "
        "model is saved, so model.pth is a plain SqueezeNet (default: on when training from "
        "scratch, where a plain SqueezeNet often stalls; off when fine-tuning from `weights`; "
        "a `recipe` may set it)",
    )
    model_args: dict = field(default_factory=dict)  # SqueezeNetSpec overrides, e.g. dropout
    # -- data -------------------------------------------------------------------------------
    data: str | None = setting(
        None,
        "training data: the CIFAR-10 JPEG zip, an ImageFolder root with train/ (and val/, "
        "test/), or torchvision's cifar-10-batches-py folder (default: the `config` file's)",
        short="-d",
    )
    data_format: str = setting(
        _DATA["data_format"],
        "layout of the training data (auto: recognised from the path)",
        choices=FORMATS,
    )
    image_size: int | None = setting(
        _DATA["image_size"],
        "training/eval image side (default: the model's input size; a `recipe` may set it)",
    )
    in_memory: str = setting(
        _DATA["in_memory"],
        "auto, yes or no: decode the data once into uint8 tensors in memory (auto: yes below 4 "
        "GiB of pixels) instead of streaming files with worker processes",
        choices=IN_MEMORY,
    )
    val_fraction: float = setting(
        _DATA["val_fraction"],
        "fraction of train held out for validation (best-checkpoint selection) when the data "
        "has no val/ split; the test split is never used to select",
    )
    strict_data: bool = setting(
        _DATA["strict_data"],
        "stop at the first corrupt image instead of warning and skipping it",
    )
    workers: int = setting(
        _DATA["workers"], "image-decoding worker processes when streaming from files"
    )
    mean: tuple[float, float, float] = _DATA["mean"]
    std: tuple[float, float, float] = _DATA["std"]
    crop_padding: int = setting(
        _DATA["crop_padding"],
        "in-memory data without `crop_scale`: pad by this many pixels, then random-crop back",
    )
    flip: bool = setting(_DATA["flip"], "random horizontal flips")
    cutout: int = setting(
        _DATA["cutout"], "in-memory data: zero a random square this many pixels wide (0: off)"
    )
    cutmix: float = setting(
        0.0,
        "probability that a training batch is mixed by CutMix (Yun et al., 2019): a box of "
        "each image is replaced by another image's, and the loss weighs both labels by area "
        "(0: off)",
    )
    crop_scale: float | None = setting(
        _DATA["crop_scale"],
        "random-resized crops (as torchvision's RandomResizedCrop) covering at least this "
        "fraction of the image, resized to `image_size`: for in-memory data instead of padded "
        "crops, e.g. 0.35 for photographs; for streamed data the minimum area of its crops "
        "(default: 0.35 for photo folders without a `recipe`, whose images are then held at "
        "`decode_size` 256/224 of `image_size`; else the `recipe`'s, or none: 0.08 for "
        "streamed data)",
    )
    decode_size: int | None = setting(
        _DATA["decode_size"],
        "in-memory ImageFolder data: side at which training images are held in memory "
        "(default: 256/224 of `image_size` for photo folders without a `recipe`, else the "
        "`recipe`'s or `image_size`); larger than `image_size` with `crop_scale`, so crops "
        "keep detail",
    )
    image_size_start: int | None = setting(
        _DATA["image_size_start"],
        "with `crop_scale`: progressive resizing, the training side grows from this to "
        "`image_size` over the first three quarters of the epochs (cheaper early epochs) "
        "(default: none, every epoch at `image_size`; a `recipe` may set it)",
    )
    eval_image_size: int | None = setting(
        _DATA["eval_image_size"],
        "side of validation/test images (default: `image_size`; a `recipe` may set it); a "
        "little larger than the "
        "training side suits random-resized-crop training (Touvron et al., 2019)",
    )
    eval_crop: float = setting(
        _DATA["eval_crop"],
        "in-memory ImageFolder data: validation/test images are resized to `eval_image_size` / "
        "this, then centre-cropped to `eval_image_size` (default: 0.875 for photo folders "
        "without a `recipe`, as `squeezenet evaluate`'s 256/224; else 1.0: whole images)",
    )
    recalibrate_bn: bool = setting(
        False,
        "after the last epoch, re-estimate the batch-norm statistics on the training images "
        "seen as at evaluation (whole images at `eval_image_size`, no augmentation) before the "
        "final validation and the fold into model.pth (FixRes, Touvron et al., 2019)",
    )
    # -- optimisation -----------------------------------------------------------------------
    epochs: int = setting(30, "number of epochs")
    batch_size: int = setting(
        _DATA["batch_size"],
        "images per forward pass, per process, at most each process's share of the training "
        "images; a last partial batch is trained on when dropping it would leave out over a "
        "20th of them",
        short="-b",
    )
    effective_batch: int | None = setting(
        None,
        "images per optimizer step, reached by gradient accumulation (must be a multiple of "
        "batch size x processes) (default: batch size x processes, no accumulation; a `recipe` "
        "may set it)",
    )
    optimizer: str = setting("sgd", "the optimizer", choices=("sgd", "adamw"))
    lr: float | None = setting(
        None,
        "peak learning rate (for the effective batch); default: the `recipe`'s, else "
        f"{DEFAULT_LR}, or {FINETUNE_LR} when fine-tuning from `weights` (higher rates can kill "
        "a fresh conv10: a warning says so)",
    )
    momentum: float = setting(0.9, "SGD momentum")
    nesterov: bool = setting(False, "Nesterov momentum")
    weight_decay: float = setting(5e-4, "L2 weight decay")
    decay_norm_and_bias: bool = setting(
        True,
        "weight decay on 1-D parameters (biases, batch-norm scales) too",
    )
    schedule: str = setting(
        "linear",
        "lr schedule per step: linear (to 0), onecycle, cosine or constant",
        choices=("linear", "onecycle", "cosine", "constant"),
    )
    warmup_fraction: float = setting(0.0, "fraction of the steps spent warming the lr up")
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy loss")
    ema_decay: float | None = setting(
        None,
        "keep an exponential moving average of the weights, updated after every optimizer step "
        "with this decay (e.g. 0.998: about the last 500 steps); it replaces the final epoch's "
        "weights before the last validation, `recalibrate_bn` and model.pth (default: off)",
    )
    # -- knowledge distillation (Hinton et al., 2015) ---------------------------------------------
    teacher: str | None = setting(
        None,
        "distil from this trained copy of the model (weights: registered name, path, URL or "
        "compressed file; Hinton et al. 2015), e.g. when retraining a pruned model (default: "
        "none, no distillation)",
    )
    distill_weight: float = setting(
        0.5,
        "with `teacher`: weight of the distillation term (the rest goes to the cross-entropy "
        "with the labels)",
    )
    distill_temperature: float = setting(
        4.0,
        "with `teacher`: softmax temperature of the distillation (higher than compress's "
        "2.0: a separate teacher's softer outputs carry more about the other classes)",
    )
    # -- pruning (Deep Compression section 2) ------------------------------------------------
    prune: str | float | dict | None = setting(
        None,
        "prune while training (Deep Compression section 2) to these densities: one number for "
        "every conv (0.25), 'paper' (Table 1's profile) or 'pattern=density,...' over "
        "parameter names or fire aliases; masks are re-applied after every step, kept in "
        "checkpoints, and the best checkpoint is chosen only at the final density (default: "
        "none, no pruning)",
    )
    prune_rounds: int = setting(
        3,
        "pruning rounds (each removes the same fraction of what is left)",
    )
    prune_until: float = setting(0.5, "spread the rounds over this first fraction of the epochs")
    prune_granularity: str = setting(
        "weight",
        "'weight' (each weight by magnitude, as Deep Compression) or 'kernel' (whole k x k "
        "kernels by L2 norm, Mao et al. 2017: positions cost far less in the compressed file, "
        "so a kernel-sparse layer can keep more weights; 1x1 layers are pruned weight by "
        "weight either way)",
        choices=GRANULARITIES,
    )
    # -- speed ------------------------------------------------------------------------------
    device: str = setting(
        "auto",
        "auto, cpu, cuda, cuda:N or mps (under torchrun each process takes its LOCAL_RANK's GPU)",
    )
    amp: str = setting(
        "auto",
        "mixed precision: auto (bf16 on CPUs/GPUs that have it, else fp16 with a GradScaler on "
        "CUDA, else off), bf16, fp16 or off",
        choices=("auto", "bf16", "fp16", "off"),
    )
    channels_last: bool = setting(True, "channels-last memory format (faster convolutions)")
    compile: bool = setting(False, "torch.compile the model")
    threads: int | None = setting(None, "CPU threads for the model (default: torch's choice)")
    # -- run --------------------------------------------------------------------------------
    recipe: str | None = setting(
        None,
        "named recipe to start from: 'paper' (the paper's ImageNet solver), 'cifar10-fast' "
        "(CIFAR-10 on a CPU in under 30 minutes) or 'imagenette' (a folder of full-size "
        "photographs, such as Imagenette2, on a CPU) (default: none)",
    )
    output: str = setting(
        "runs/train",
        "run directory: config.yaml, metrics.csv, last.pt, best.pt, model.pth, results.json, "
        "curves.png, tensorboard/",
        short="-o",
    )
    resume: bool = setting(
        False,
        "continue from <output>/last.pt (model, optimizer, schedule, scaler, epoch, RNG "
        "state); refused if it was written with different settings. Under torchrun "
        "--max-restarts a restarted run resumes by itself",
    )
    seed: int = setting(_DATA["seed"], "random seed (data order, augmentation, initialisation)")
    deterministic: bool = setting(False, "use deterministic algorithms only")
    eval_test: bool = setting(True, "score the best checkpoint on the test split at the end")
    tta: bool = setting(
        False,
        "also score val/test with mirrored-image test-time augmentation (mean logits); the "
        "best checkpoint is then chosen by that score",
    )
    val_every: int = setting(
        1,
        "validate every N epochs and after the last one; checkpoints are still "
        "written every epoch, and 'best' selection only sees validated epochs",
    )
    select: str = setting(
        "best",
        "which epoch's weights become best.pt / model.pth and are tested: 'best' (highest "
        "validation top-1) or 'last' (e.g. when the validation split is too small to rank "
        "epochs)",
        choices=("best", "last"),
    )
    max_steps_per_epoch: int | None = setting(
        None,
        "stop each epoch after this many batches (smoke tests) (default: none, every batch)",
    )
    progress: bool = setting(_DATA["progress"], "progress bar with images/s and ETA")
    tensorboard: bool = setting(True, "write TensorBoard logs (needs the tensorboard package)")
    plot: bool = setting(True, "write curves.png at the end (needs matplotlib)")

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
        """Check every section and fill in what is derived (`model`, `batchnorm`, `lr`)."""
        check_choices(self)
        check_finite(self)
        try:
            check_device(self.device)
        except ValueError as e:
            raise SettingError(f"`device`: {e}", "device") from None
        if self.data is None:
            raise SettingError("no training data: set `data` (a path)", "data")
        if self.model is None:
            self.model = _derived_model(self.data, self.data_format, self.weights, self.model_args)
        self.data_spec()  # the data section checks itself
        _positive_ints(self, "epochs", "val_every")
        if self.prune is not None:
            self._check_pruning(self.prune)
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.model_args:
            from ..models.params import check_model_args

            try:
                check_model_args(self.model, self.model_args)
            except ValueError as e:
                raise ValueError(f"model_args: {e}") from None
        self._check_distillation()
        if not 0 <= self.cutmix <= 1:
            raise ValueError(f"cutmix must be a probability in [0, 1], got {self.cutmix}")
        if self.batchnorm is None:
            self.batchnorm = self.weights is None
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.recalibrate_bn and not self.batchnorm:
            raise ValueError("recalibrate_bn needs batchnorm (there are no statistics to redo)")
        self._check_optimizer()

    def _check_pruning(self, prune: str | float | dict) -> None:
        from ..pruning import parse_prune

        try:
            parse_prune(prune)
        except ValueError:
            raise ValueError(
                f"prune must be a density, 'paper', 'none' or "
                f"'pattern=density,...', got {self.prune!r}"
            ) from None
        _positive_ints(self, "prune_rounds")
        if not 0 <= self.prune_until < 1:
            raise ValueError(f"prune_until must be in [0, 1), got {self.prune_until}")

    def _check_distillation(self) -> None:
        if not 0 <= self.distill_weight <= 1:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            raise ValueError(
                f"distill_temperature must be positive, got {self.distill_temperature}"
            )

    def _check_optimizer(self) -> None:
        """The optimisation section; `lr` defaults by whether the run fine-tunes."""
        if self.lr is None:
            self.lr = DEFAULT_LR if self.weights is None else FINETUNE_LR
        if self.lr <= 0:
            raise SettingError(f"`lr` must be positive, got {self.lr}", "lr")
        if not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise SettingError(
                f"`momentum` must be in [0, 1) and `weight_decay` 0 or more, got "
                f"{self.momentum} and {self.weight_decay}",
                "momentum",
                "weight_decay",
            )
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")

    def input_size(self) -> int:
        """The training side: `image_size`, else the model's input size (once `model` is set)."""
        from ..models import default_input_size

        return self.image_size or default_input_size(self.model)

    def data_spec(self) -> DataSpec:
        """The data section, as the loaders read it (once `data` is set)."""
        return DataSpec.from_settings(self)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _positive_ints(settings: object, *names: str) -> None:
    for name in names:
        value = getattr(settings, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


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
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a YAML config file (not UTF-8 text)") from None
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
    if not recipe:
        merged = {**_automatic(merged), **merged}
    cfg = TrainConfig(**merged)
    cfg.validate()
    return cfg


@dataclass(frozen=True)
class ConfiguredData:
    """What a training configuration says of its data, for work other than a training run
    (the compression's retraining, the sensitivity sweep): the ``spec``, the training side
    ``image_size`` (the stated one, else the model's input size), the ``model`` named or
    implied, and the ``label_smoothing`` of its loss."""

    spec: DataSpec
    image_size: int
    model: str
    label_smoothing: float


def resolve_data(
    file: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> ConfiguredData:
    """The data of :func:`resolve_config` (same arguments and precedence)."""
    cfg = resolve_config(file, overrides)
    return ConfiguredData(cfg.data_spec(), cfg.input_size(), cfg.model, cfg.label_smoothing)


def _derived_model(data: str, fmt: str, weights: str | None, model_args: dict) -> str:
    """The model a run names none for: the one its weights fit, else the data's."""
    from ..data.images import DatasetError
    from .defaults import SMALL_IMAGE_MODEL, model_for_data, model_for_weights

    if weights is not None:
        from ..weights import WeightsError

        try:
            found = model_for_weights(weights, model_args)
        except WeightsError:  # fit() reports it before any data is read
            found = ""
        if found is None:
            raise SettingError(
                f"{weights}: fits no registered model at its default settings; name it with "
                "`model` (and its `--model-arg`s)",
                "model",
            )
        if found:
            return found
    try:
        return model_for_data(data, fmt)
    except (DatasetError, OSError):  # reported when the data is opened
        return SMALL_IMAGE_MODEL


def _automatic(merged: dict) -> dict:
    """Settings a run without a recipe gets from its data and weights (lowest precedence: the
    YAML file and flags override each): the normalisation the weights were trained with;
    photo folders get photo augmentation and evaluate's validation crop; fine-tuning one from
    `weights` also gets FINETUNE_PHOTOS. The model a photo folder implies is among them, so
    that it is derived (and a weights file read) once."""
    auto = _weights_normalization(merged.get("weights"))
    return {**auto, **_photo_settings(merged)}


def _weights_normalization(weights: str | None) -> dict:
    """``mean``/``std`` giving, from RGB pixels in 0..1, the input the weights were trained
    with (Caffe's BGR 0..255 for the Deep Compression release, a trained model's own) at the
    scale of ImageNet normalisation (see :func:`.defaults.adapt_to_rgb_unit_input`): a
    fine-tuned network then sees what it learned from. Nothing for plain files."""
    from ..weights import WeightsError
    from .defaults import training_normalization, weights_preprocess

    if weights is None:
        return {}
    try:
        source = weights_preprocess(weights)
    except WeightsError:  # fit() reports it before any data is read
        return {}
    if source is None:
        return {}
    mean, std = training_normalization(source)
    return {"mean": mean, "std": std}


def _photo_settings(merged: dict) -> dict:
    from ..data.images import DatasetError
    from ..data.sources import detect_format
    from ..models import default_input_size
    from .defaults import FINETUNE_PHOTOS, SMALL_IMAGE_SIDE, data_is_small, photo_defaults

    data, fmt = merged.get("data"), merged.get("data_format", "auto")
    if data is None:
        return {}
    try:
        fmt = detect_format(Path(data)) if fmt == "auto" else fmt
        if fmt != "imagefolder" or data_is_small(data, fmt):
            return {}
    except (DatasetError, OSError):  # reported when the data is opened
        return {}
    model = merged.get("model") or _derived_model(
        data, fmt, merged.get("weights"), merged.get("model_args") or {}
    )
    auto: dict = {"model": model}  # derived here once: validate() would read the weights again
    size = merged.get("image_size") or default_input_size(model)
    if size > SMALL_IMAGE_SIDE:
        auto.update(photo_defaults(size))
        if merged.get("weights") is not None:
            auto.update(FINETUNE_PHOTOS)
    return auto


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> None:
    """Write the resolved configuration as YAML, atomically."""
    import yaml

    write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
