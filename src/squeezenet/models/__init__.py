"""Model definitions: the Fire module, the metaparameter builder, the registry."""

from . import cifar  # registers squeezenet_cifar (32x32)
from .fire import Fire
from .registry import (
    DEFAULT_MODEL,
    build_from_spec,
    build_model,
    default_input_size,
    list_models,
    register_model,
)
from .squeezenet import SQUEEZENET1_0, SQUEEZENET1_1, SqueezeNet, SqueezeNetSpec, build_squeezenet
