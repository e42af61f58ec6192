"""SqueezeNet (Iandola et al., 2016) and Deep Compression (Han et al., 2016), end to end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .models import SqueezeNetSpec, list_models, register_model
    from .weights import (
        ModelCard,
        WeightsError,
        create_model,
        get_weights_record,
        list_weights,
        load_weights,
        model_card,
        read_state_dict,
        save_state_dict,
    )

__version__ = "0.1.0"

__all__ = [
    "ModelCard",
    "SqueezeNetSpec",
    "WeightsError",
    "create_model",
    "get_weights_record",
    "list_models",
    "list_weights",
    "load_weights",
    "model_card",
    "read_state_dict",
    "register_model",
    "save_state_dict",
]

# Each public name and the subpackage that defines it, imported on first use (PEP 562): both
# subpackages import torch, and ``squeezenet.lite`` must run on a device without it.
_SOURCES = {
    "SqueezeNetSpec": "models",
    "list_models": "models",
    "register_model": "models",
    "ModelCard": "weights",
    "WeightsError": "weights",
    "create_model": "weights",
    "get_weights_record": "weights",
    "list_weights": "weights",
    "load_weights": "weights",
    "model_card": "weights",
    "read_state_dict": "weights",
    "save_state_dict": "weights",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES)
