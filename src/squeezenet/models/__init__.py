"""Model definitions: the Fire module, the metaparameter builder, the registry.

The registry imports no PyTorch (its entry points import their builders when called); the
names defined with PyTorch are imported on first use (PEP 562), so that the command line's
parsers list the models without loading it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .params import check_model_args
from .registry import (
    DEFAULT_MODEL,
    build_from_spec,
    build_model,
    default_input_size,
    list_models,
    register_model,
)

if TYPE_CHECKING:
    from .fire import Fire
    from .squeezenet import (
        SQUEEZENET1_0,
        SQUEEZENET1_1,
        SqueezeNet,
        SqueezeNetSpec,
        build_squeezenet,
    )

__all__ = [
    "DEFAULT_MODEL",
    "SQUEEZENET1_0",
    "SQUEEZENET1_1",
    "Fire",
    "SqueezeNet",
    "SqueezeNetSpec",
    "build_from_spec",
    "build_model",
    "build_squeezenet",
    "check_model_args",
    "default_input_size",
    "list_models",
    "register_model",
]

_SOURCES = {
    "Fire": "fire",
    "SQUEEZENET1_0": "squeezenet",
    "SQUEEZENET1_1": "squeezenet",
    "SqueezeNet": "squeezenet",
    "SqueezeNetSpec": "squeezenet",
    "build_squeezenet": "squeezenet",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES)
