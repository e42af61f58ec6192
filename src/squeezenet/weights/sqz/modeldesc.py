"""How a compressed file names its architecture, and how to rebuild it safely.

A header describes an architecture and nothing else: a registered model name plus either a
full SqueezeNet spec or keyword overrides, both from an allow-list of keys and value types.
Anything else (a ``weights`` URL or path, an unknown key, a nested object) is refused, so
loading a file can never cause a download, a file read or a call the file chooses.
"""

from __future__ import annotations

import torch
from torch import nn

from ...models import build_from_spec, build_model
from ...models.params import check_value, spec_kinds
from ..errors import WeightsError
from .errors import CompressedFormatError


def check_model_desc(
    desc: object, source: str, error: type[WeightsError] = CompressedFormatError
) -> None:
    """Raise ``error`` unless ``desc`` is ``{"name": <registered model>}`` plus
    ``"spec"`` (all SqueezeNetSpec fields) or ``"kwargs"`` (some of them, or
    ``num_classes``/``dropout`` for any model), with values of the fields' types."""
    from ...models import list_models

    def fail(problem: str) -> WeightsError:
        where = "header's" if error is CompressedFormatError else "description's"
        return error(f"{source}: the {where} model is invalid ({problem})")

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
    kinds = spec_kinds()
    for key, value in values.items():
        if key not in kinds:
            raise fail(f"{part} key {str(key)[:40]!r} is not allowed (allowed: {', '.join(kinds)})")
        why = check_value(key, value, kinds[key])
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


def model_shapes(desc: object, source: str) -> dict[str, tuple[int, ...]]:
    """The parameter shapes of the model a header describes, from a build on the meta device
    (no memory): what the file's tensors must be before any of them is decoded."""
    check_model_desc(desc, source)
    assert isinstance(desc, dict)  # check_model_desc refuses anything else
    try:
        with torch.device("meta"):
            probe = build_described(desc)
    except (ValueError, TypeError) as e:
        raise CompressedFormatError(f"{source}: the header's model is invalid ({e})") from None
    return {k: tuple(v.shape) for k, v in probe.state_dict().items()}


def build_described(desc: dict, **overrides) -> nn.Module:
    """The model a (checked) description names, with fresh parameters; ``overrides`` replace
    spec fields or keyword arguments (``--model-arg``)."""
    if "spec" in desc:
        return build_from_spec({**desc["spec"], **overrides})
    return build_model(desc["name"], **{**desc["kwargs"], **overrides})


def model_from_description(
    desc: dict, shapes: dict[str, tuple[int, ...]], source: str
) -> nn.Module:
    """Rebuild the model a header describes, after checking on the meta device (no memory)
    that its parameter shapes are exactly the file's."""
    if model_shapes(desc, source) != shapes:
        raise CompressedFormatError(
            f"{source}: tensors do not match the header's model {desc.get('name')!r}"
        )
    return build_described(desc)
