"""Named recipes: partial configurations that a YAML file or flags can still override.

* ``paper``: the SqueezeNet paper's ImageNet solver (section 5 and the released Caffe solver):
  SGD with momentum 0.9, base lr 0.04 decayed linearly to 0, weight decay 2e-4, batch 512
  (reached here by gradient accumulation), random crops and horizontal flips.
* ``cifar10-fast``: a short CIFAR-10 schedule for a 2-core CPU: ``squeezenet_cifar`` with
  train-time batch norm (folded away when saved), one-cycle lr with Nesterov SGD, label
  smoothing, padded random crops and flips, bf16 autocast and channels_last.
* ``imagenette``: full-size photographs (an ImageFolder tree such as Imagenette2) on a
  2-core CPU: ``squeezenet1_1`` with squeeze ratio SR 0.25 (section 5.1; twice 1.1's
  squeeze filters), simple bypasses (section 6) and train-time batch norm, held in memory
  at 160 px; Inception-style random-resized crops grown from 64 to 128 px over the run
  (progressive resizing), batch norm recalibrated and validation at 160 px; one-cycle
  Nesterov SGD with label smoothing.
* ``explore-photos``: the design-space sweep (sections 5 and 6) on photographs (an
  ImageFolder tree such as Imagenette2) on a CPU: the paper's ImageNet macro architecture
  (``squeezenet1_0``: conv1 7x7/2 with 96 filters, Fire2-9, max pools after conv1, Fire4 and
  Fire8), whose base_e, incr_e, freq, SR, pct3x3 and bypass ``squeezenet explore`` sets per
  point; batch norm while training (not in the paper; folded away when saved, so the sizes
  are the paper's network's); images held in memory at 80 px, Inception-style
  random-resized crops at 64 px and flips, validation on whole 80 px images after batch norm
  recalibration; one-cycle Nesterov SGD with label smoothing; a fixed 12-epoch budget, the
  same for every point: 12 points times 3 seeds took 230 minutes of an idle 2-core CPU
  (16 s an epoch at SR 0.125, 52 s at SR 1.0; docs/reproduction.md).
"""

from __future__ import annotations

from ..data.transforms import CIFAR10_MEAN, CIFAR10_STD
from ..settings import named

# What both photo recipes share: SqueezeNet with batch norm, SGD with a one-cycle schedule,
# label smoothing, small random-resized crops of images held in memory, mixed precision,
# batch-norm statistics re-estimated at the evaluation side, and the last epoch kept.
_PHOTOS: dict = {
    "batchnorm": True,
    "optimizer": "sgd",
    "nesterov": True,
    "momentum": 0.9,
    "lr": 0.1,
    "schedule": "onecycle",
    "warmup_fraction": 0.15,
    "decay_norm_and_bias": False,
    "label_smoothing": 0.1,
    "batch_size": 64,
    "in_memory": "yes",
    "crop_scale": 0.25,
    "flip": True,
    "recalibrate_bn": True,
    "amp": "auto",
    "channels_last": True,
    # The validation split is what is reported: keep the last epoch, never pick the
    # best-scoring one on it (which would favour runs with noisier curves).
    "select": "last",
}

RECIPES: dict[str, dict] = {
    "paper": {
        "model": "squeezenet1_0",
        "optimizer": "sgd",
        "momentum": 0.9,
        "lr": 0.04,
        "schedule": "linear",
        "weight_decay": 2e-4,
        "batch_size": 32,
        "effective_batch": 512,
        "epochs": 68,  # the Caffe solver's 170k iterations of 512 images on ImageNet-1k
        "label_smoothing": 0.0,
        "batchnorm": False,
    },
    "cifar10-fast": {
        "model": "squeezenet_cifar",
        "batchnorm": True,
        "model_args": {"dropout": 0.1},
        "optimizer": "sgd",
        "nesterov": True,
        "momentum": 0.9,
        "lr": 0.2,
        "schedule": "onecycle",
        "warmup_fraction": 0.25,
        "weight_decay": 5e-4,
        "decay_norm_and_bias": False,
        "label_smoothing": 0.1,
        "batch_size": 256,
        "epochs": 32,
        "val_fraction": 0.1,
        "mean": CIFAR10_MEAN,
        "std": CIFAR10_STD,
        "crop_padding": 4,
        "amp": "auto",
        "channels_last": True,
    },
    "imagenette": {
        **_PHOTOS,
        "model": "squeezenet1_1",
        # SR 0.25 doubles squeezenet1_1's squeeze filters: 1.45 M parameters with 10
        # classes (0.73 M at SR 0.125), a training step about 1.4 times as long.
        "model_args": {"bypass": "simple", "dropout": 0.2, "sr": 0.25},
        # With batch norm, weight decay sets how fast the weights' direction keeps moving
        # (the effective learning rate): 2.5e-4 / 5e-4 / 1e-3 / 2e-3 scored 88.5 / 89.6 / 90.1 /
        # 90.2%; 4e-3 scored 0.2 points below 2e-3 with another seed.
        "weight_decay": 2e-3,
        "effective_batch": 128,
        # 48 epochs with crops grown to 144 px take about as long as 52 grown to 128 px did
        # (whose seeds averaged 89.8%); FixRes's evaluation side grows with them, 128 -> 160
        # px becoming 144 -> 176 px.
        "epochs": 48,
        "decode_size": 176,
        "image_size": 144,
        "image_size_start": 64,
        # FixRes (recalibrate_bn): statistics gathered on 64-144 px crops, re-estimated on
        # whole 176 px images.
        "eval_image_size": 176,
        # Validating at 176 px costs about as much as a 64 px training epoch, so the curve
        # gets a point past halfway and at the end.
        "val_every": 26,
    },
    "explore-photos": {
        **_PHOTOS,
        "model": "squeezenet1_0",
        # The paper's dropout after Fire9 (section 3.3 / the released Caffe model).
        "model_args": {"dropout": 0.5},
        "weight_decay": 5e-4,
        "epochs": 12,
        # 64 px crops leave v1.0's Fire5-8 a 7x7 map and Fire9 a 3x3 one (conv1/2 and
        # three stride-2 pools); 80 px crops would cost about 1.6x, over 6 hours for the
        # 36 trainings of a 3-seed sweep.
        "decode_size": 80,
        "image_size": 64,
        "eval_image_size": 80,
        "val_every": 6,
    },
}


def get_recipe(name: str) -> dict:
    return dict(
        named(RECIPES, name, lambda: f"unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    )
