"""``squeezenet train``: train or fine-tune from a YAML config and/or flags."""

from __future__ import annotations

import argparse
import dataclasses
import json

from .argtypes import (
    device,
    float_in,
    non_negative_float,
    non_negative_int,
    positive_float,
    prune_spec,
    seed,
    threads,
    workers,
)

# How a flag's text becomes its field's value, where plain int/float/str would admit values
# the field cannot take (a usage error then names the flag); other ints are positive.
_PARSE = {
    "workers": workers,
    "threads": threads,
    "device": device,
    "crop_padding": non_negative_int,
    "cutout": non_negative_int,
    "seed": seed,
    "label_smoothing": float_in(0, 1, high_open=True),
    "lr": positive_float,
    "momentum": float_in(0, 1, high_open=True),
    "weight_decay": non_negative_float,
    "warmup_fraction": float_in(0, 1, high_open=True),
    "val_fraction": float_in(0, 1, high_open=True),
    "prune_until": float_in(0, 1, high_open=True),
    "cutmix": float_in(0, 1),
    "crop_scale": float_in(0, 1, low_open=True),
    "eval_crop": float_in(0, 1, low_open=True),
    "ema_decay": float_in(0, 1, low_open=True, high_open=True),
    "distill_weight": float_in(0, 1),
    "distill_temperature": positive_float,
    "prune": prune_spec,
}


def _options() -> list[dataclasses.Field]:
    """The TrainConfig fields that are flags: those with a help text."""
    from ..train import TrainConfig

    return [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("help")]


# The line `squeezenet --help` shows for the command.
SUMMARY = "train or fine-tune a model (one CPU, or many GPUs with torchrun)"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Train or fine-tune. Settings come from --recipe, then --config (YAML), "
    "then the flags below (a flag given overrides the file). The resolved settings are "
    "saved as <output>/config.yaml. Without --recipe, a photo folder (ImageFolder images "
    "over 64 px) gets random-resized crops and validation resized and cropped as "
    "`squeezenet evaluate` does (256/224); fine-tuning one from --weights also gets batch "
    "8, 15 epochs, --freeze-features and a cosine schedule; any flag or config value "
    "overrides each. Distributed: `torchrun --nproc-per-node N -m squeezenet "
    "train ...` (gloo on CPU, NCCL on CUDA; several machines: --nnodes, --rdzv-backend "
    "c10d, --rdzv-endpoint HOST:PORT); only rank 0 logs and writes."
)


def register(p: argparse.ArgumentParser) -> None:
    from ..train import FINETUNE_PHOTOS, RECIPES
    from .common import add_model_arg_flag, add_setting_flags

    p.add_argument(
        "--config",
        "-c",
        metavar="YAML",
        help="YAML file of settings (the names below, with underscores: lr, batch_size, "
        "model_args, ...) (default: none)",
    )
    # Allowed values are checked with the config (TrainConfig), which a YAML file sets too.
    add_setting_flags(
        p,
        _options(),
        _PARSE,
        RECIPES,
        "--recipe",
        also=(FINETUNE_PHOTOS, "when fine-tuning a photo folder from --weights"),
    )
    add_model_arg_flag(p, "passed to the model")
    p.add_argument(
        "--json", action="store_true", help="print the final summary as one JSON object on stdout"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..api import train
    from .common import parse_model_args

    overrides = {f.name: getattr(args, f.name) for f in _options()}
    result = train(args.config, model_args=parse_model_args(args.model_arg), **overrides)
    result.pop("model", None)
    if args.json:
        print(json.dumps(result))
    return 0
