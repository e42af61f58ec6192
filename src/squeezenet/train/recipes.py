"""Named recipes: partial configurations that a YAML file or flags can still override.

* ``paper``: the SqueezeNet paper's ImageNet solver (section 5 and the released Caffe solver):
  SGD with momentum 0.9, base lr 0.04 decayed linearly to 0, weight decay 2e-4, batch 512
  (reached here by gradient accumulation), random crops and horizontal flips.
* ``cifar10-fast``: a short CIFAR-10 schedule for a 2-core CPU: ``squeezenet_cifar`` with
  train-time batch norm (folded away when saved), one-cycle lr with Nesterov SGD, label
  smoothing, padded random crops and flips, bf16 autocast and channels_last.
"""

from __future__ import annotations

from ..data.transforms import CIFAR10_MEAN, CIFAR10_STD

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
}


def get_recipe(name: str) -> dict:
    try:
        return dict(RECIPES[name])
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}") from None
