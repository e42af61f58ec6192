"""How a compressed file names its architecture, and how to rebuild it safely.

A header describes an architecture and nothing else: a registered model name plus either a
full SqueezeNet spec or keyword overrides, both from an allow-list of keys and value types.
Anything else (a ``weights`` URL or path, an unknown key, a nested object) is refused, so
loading a file can never cause a download, a file read or a call the file chooses.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ...models import build_from_spec, build_model
from .errors import CompressedFormatError

_MAX_WIDTH = 1 << 16  # channels, kernel sizes: far above any SqueezeNet
_LIMITS = {"num_fire": 64}  # each Fire is a module to build: keep the count sane


def _field_kinds() -> dict[str, type]:
    """SqueezeNetSpec's fields and their JSON value types (int, float, str, list of ints)."""
    from ...models.squeezenet import SqueezeNetSpec

    kinds = {}
    for f in dataclasses.fields(SqueezeNetSpec):
        default = f.default
        kinds[f.name] = list if isinstance(default, tuple) else type(default)
    return kinds


def _check_value(name: str, value: object, kind: type) -> str | None:
    """Why ``value`` is not an allowed ``kind`` value, or None."""
    from ..safety import MAX_CLASSES

    if kind is int:
        limit = MAX_CLASSES if name == "num_classes" else _LIMITS.get(name, _MAX_WIDTH)
        if type(value) is not int or not 0 <= value <= limit:
            return f"an integer in [0, {limit}]"
    elif kind is float:
        # An int of 400 digits cannot even become a float (OverflowError): bound it first.
        number = type(value) is float or (type(value) is int and abs(value) <= _MAX_WIDTH)
        if not number or not math.isfinite(value):  # type: ignore[arg-type]  # int or float here
            return "a finite number"
    elif kind is str:
        if not isinstance(value, str) or len(value) > 32:
            return "a short string"
    elif kind is list:
        if (
            not isinstance(value, list)
            or len(value) > 64
            or not all(type(i) is int and 0 <= i <= _MAX_WIDTH for i in value)
        ):
            return "a short list of integers"
    return None


def check_model_desc(desc: object, source: str) -> None:
    """Raise CompressedFormatError unless ``desc`` is ``{"name": <registered model>}`` plus
    ``"spec"`` (all SqueezeNetSpec fields) or ``"kwargs"`` (some of them, or
    ``num_classes``/``dropout`` for any model), with values of the fields' types."""
    from ...models import list_models

    def fail(problem: str) -> CompressedFormatError:
        return CompressedFormatError(f"{source}: the header's model is invalid ({problem})")

    if not isinstance(desc, dict):
        raise fail(f"an object is expected, got {type(desc).__name__}")
    name = desc.get("name")
    if not isinstance(name, str) or name not in list_models():
        raise fail(f"{str(name)[:40]!r} is not a registered model name")
    extra = sorted(set(desc) - {"name", "spec", "kwargs"})
    if extra or ("spec" in desc) == ("kwargs" in desc):
        raise fail("it must hold 'name' and exactly one of 'spec' or 'kwargs'")
    part = "spec" if "spec" in desc else "kwargs"
    values = desc[part]
    if not isinstance(values, dict):
        raise fail(f"{part!r} must be an object, got {type(values).__name__}")
    kinds = _field_kinds()
    for key, value in values.items():
        if key not in kinds:
            raise fail(f"{part} key {str(key)[:40]!r} is not allowed (allowed: {', '.join(kinds)})")
        why = _check_value(key, value, kinds[key])
        if why:
            raise fail(f"{part} {key!r} must be {why}, got {str(value)[:40]!r}")


def describe_model(model: nn.Module, name: str) -> dict:
    """Header entry: a SqueezeNet's full spec, or the registered name + num_classes."""
    spec = getattr(model, "spec", None)
    if spec is not None and hasattr(spec, "to_dict"):
        return {"name": name, "spec": spec.to_dict()}
    last = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    classes = last.out_channels if isinstance(last, nn.Conv2d) else last.out_features
    return {"name": name, "kwargs": {"num_classes": int(classes)}}


def model_from_description(
    desc: dict, shapes: dict[str, tuple[int, ...]], source: str
) -> nn.Module:
    """Rebuild the model a header describes, after checking on the meta device (no memory)
    that its parameter shapes are exactly the file's."""

    check_model_desc(desc, source)

    def make() -> nn.Module:
        if "spec" in desc:
            return build_from_spec(desc["spec"])
        return build_model(desc["name"], **desc["kwargs"])

    try:
        with torch.device("meta"):
            probe = make()
    except (ValueError, TypeError) as e:
        raise CompressedFormatError(f"{source}: the header's model is invalid ({e})") from None
    expected = {k: tuple(v.shape) for k, v in probe.state_dict().items()}
    if expected != shapes:
        raise CompressedFormatError(
            f"{source}: tensors do not match the header's model {desc.get('name')!r}"
        )
    model = make()
    return model
