"""SqueezeNet (Iandola et al., 2016) and Deep Compression (Han et al., 2016), end to end."""

from .models import SqueezeNetSpec, list_models, register_model
from .weights import (
    WeightsError,
    create_model,
    get_weights_record,
    list_weights,
    load_weights,
    read_state_dict,
    save_state_dict,
)

__version__ = "0.1.0"

__all__ = [
    "SqueezeNetSpec",
    "WeightsError",
    "create_model",
    "get_weights_record",
    "list_models",
    "list_weights",
    "load_weights",
    "read_state_dict",
    "register_model",
    "save_state_dict",
]
