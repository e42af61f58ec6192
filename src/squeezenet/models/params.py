"""The architecture parameters each registered model accepts, with the types and caps that
keep a model buildable: one check for ``--model-arg`` flags and compressed-file headers.

Caps bound the work that building and running a model takes (each Fire is a module to build,
each pool doubles the minimum input, padding grows every feature map), far above any
SqueezeNet in the papers."""

from __future__ import annotations

import dataclasses
import math

MAX_WIDTH = 1 << 16  # channels
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
_INT_LIMITS = {
    "num_fire": 64,
    "freq": MAX_WIDTH,
    "stem_kernel": 64,
    "stem_stride": 64,
    "stem_padding": 64,
    "conv10_padding": 16,  # the Caffe release uses 1; each unit grows conv10's output map
    "num_classes": MAX_CLASSES,
}
_ALEXNET = {"num_classes": int, "dropout": float}


def spec_kinds() -> dict[str, type]:
    """SqueezeNetSpec's fields and their JSON value types (int, float, str, list of ints)."""
    from .squeezenet import SqueezeNetSpec

    kinds = {}
    for f in dataclasses.fields(SqueezeNetSpec):
        kinds[f.name] = list if isinstance(f.default, tuple) else type(f.default)
    return kinds


def model_kinds(name: str) -> dict[str, type] | None:
    """The parameters built-in model ``name`` accepts and their value types; None for a
    model registered by other code (its builder checks its own arguments)."""
    if name == "alexnet":
        return dict(_ALEXNET)
    return spec_kinds() if name.startswith("squeezenet") else None


def check_value(name: str, value: object, kind: type) -> str | None:
    """Why ``value`` is not an allowed ``kind`` value for parameter ``name``, or None."""
    if kind is int:
        limit = _INT_LIMITS.get(name, MAX_WIDTH)
        if type(value) is not int or not 0 <= value <= limit:
            return f"an integer in [0, {limit}]"
    elif kind is float:
        # An int of 400 digits cannot even become a float (OverflowError): bound it first.
        number = type(value) is float or (type(value) is int and abs(value) <= MAX_WIDTH)
        if not number or not math.isfinite(value):  # type: ignore[arg-type]  # int or float here
            return "a finite number"
    elif kind is str:
        if not isinstance(value, str) or len(value) > 32:
            return "a short string"
    elif kind is list:
        if (
            not isinstance(value, list | tuple)
            or len(value) > 64
            or not all(type(i) is int and 0 <= i <= MAX_WIDTH for i in value)
        ):
            return "a short list of integers"
    return None


def check_model_args(name: str, args: dict) -> None:
    """Raise ValueError naming the first argument model ``name`` does not accept, or whose
    value is not of its type and within its cap."""
    kinds = model_kinds(name)
    if kinds is None:
        return
    for key, value in args.items():
        if key not in kinds:
            raise ValueError(
                f"{name} has no parameter {str(key)[:40]!r} (its parameters: {', '.join(kinds)})"
            )
        why = check_value(key, value, kinds[key])
        if why:
            raise ValueError(f"{key} must be {why}, got {str(value)[:40]!r}")
