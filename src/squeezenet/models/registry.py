"""Registered model names and the one architecture factory, :func:`build_model`.

Each entry point imports its builder when called: the names are read by the command line's
parsers, which answer without loading PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from .squeezenet import SqueezeNetSpec

_MODELS: dict[str, Callable[..., nn.Module]] = {}
#: The model every command builds when neither a flag nor the weights file names one.
DEFAULT_MODEL = "squeezenet1_1"
_DEFAULT_INPUT_SIZE: dict[str, int] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, input_size: int = 224):
    """Register ``fn`` under its own name. ``input_size`` is its default (square) input."""

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if f.__name__ in _MODELS:
            raise ValueError(f"model {f.__name__!r} is already registered")
        _MODELS[f.__name__] = f
        _DEFAULT_INPUT_SIZE[f.__name__] = input_size
        return f

    return wrap(fn) if fn is not None else wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def default_input_size(name: str) -> int:
    _check_name(name)
    return _DEFAULT_INPUT_SIZE[name]


def _check_name(name: str) -> None:
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")


def build_model(name: str, num_classes: int | None = None, **overrides) -> nn.Module:
    """Build registered architecture ``name`` with fresh (random) parameters.

    ``num_classes`` sets the classifier's width. Overrides whose value is ``None`` are dropped,
    so CLI flags can pass straight through. To build it with trained weights, use
    :func:`squeezenet.create_model` (``squeezenet.weights``), which calls this.
    """
    _check_name(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    return _MODELS[name](**overrides)


def build_from_spec(spec: SqueezeNetSpec | dict) -> nn.Module:
    """Build a SqueezeNet from a spec or its dict form (as stored in compressed files)."""
    from .squeezenet import SqueezeNetSpec, build_squeezenet

    if isinstance(spec, dict):
        spec = SqueezeNetSpec.from_dict(spec)
    return build_squeezenet(spec)


# -- the registered architectures ---------------------------------------------------------------
@register_model
def squeezenet(**kwargs) -> nn.Module:
    """Any SqueezeNet from the metaparameters (base_e, incr_e, freq, pct3x3, sr, ...);
    defaults are v1.0's."""
    from .squeezenet import SQUEEZENET1_0, build_squeezenet

    return build_squeezenet(SQUEEZENET1_0, **kwargs)


@register_model
def squeezenet1_0(**kwargs) -> nn.Module:
    """SqueezeNet v1.0 (paper Table 1): base_e=128, incr_e=128, pct3x3=0.5, freq=2, SR=0.125."""
    from .squeezenet import SQUEEZENET1_0, build_squeezenet

    return build_squeezenet(SQUEEZENET1_0, **kwargs)


@register_model
def squeezenet1_1(**kwargs) -> nn.Module:
    """SqueezeNet v1.1: 3x3/64 stem, pools after conv1, fire3, fire5; same Fire widths."""
    from .squeezenet import SQUEEZENET1_1, build_squeezenet

    return build_squeezenet(SQUEEZENET1_1, **kwargs)


@register_model
def squeezenet1_0_simple_bypass(**kwargs) -> nn.Module:
    """v1.0 with identity shortcuts around fire3, 5, 7, 9 (section 6; no extra parameters)."""
    from .squeezenet import SQUEEZENET1_0, build_squeezenet

    return build_squeezenet(SQUEEZENET1_0, **{"bypass": "simple", **kwargs})


@register_model
def squeezenet1_0_complex_bypass(**kwargs) -> nn.Module:
    """v1.0 with simple bypasses plus 1x1 conv shortcuts around fire2, 4, 6, 8 (section 6)."""
    from .squeezenet import SQUEEZENET1_0, build_squeezenet

    return build_squeezenet(SQUEEZENET1_0, **{"bypass": "complex", **kwargs})


@register_model
def alexnet(**kwargs) -> nn.Module:
    """AlexNet (torchvision's definition), the paper's baseline."""
    from .alexnet import build_alexnet

    return build_alexnet(**kwargs)


@register_model(input_size=32)
def squeezenet_cifar(**kwargs) -> nn.Module:
    """SqueezeNet v1.1 Fire widths for 32x32 images: 3x3/2 stem, pools before fire4/6,
    simple bypass, 10 classes (``cifar.py``)."""
    from .cifar import SQUEEZENET_CIFAR
    from .squeezenet import build_squeezenet

    return build_squeezenet(SQUEEZENET_CIFAR, **kwargs)
