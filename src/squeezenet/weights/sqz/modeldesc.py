"""How a compressed file names its architecture, and how to rebuild it safely."""

from __future__ import annotations

import torch
from torch import nn

from ...models import build_from_spec, build_model
from .errors import CompressedFormatError


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

    def make() -> nn.Module:
        if "spec" in desc:
            return build_from_spec(desc["spec"])
        kwargs = desc.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise ValueError("kwargs must be an object")
        return build_model(desc["name"], **kwargs)

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
