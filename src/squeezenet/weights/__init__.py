"""Pretrained weights: the registry, pickle-safe loading, downloads, the Deep Compression
release reader and the compressed ``.sqz`` file format (``weights.sqz``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .errors import WeightsError
from .fetch import fetch, sha256_file
from .records import WeightsRecord, get_weights_record, list_weights, register_weights

if TYPE_CHECKING:
    from .card import ModelCard, input_size, model_card
    from .deep_compression import (
        SharedWeightLayer,
        deep_compression_state_dict,
        read_deep_compression,
    )
    from .info import ModelInfo
    from .loading import (
        check_state_dict,
        create_model,
        load_weights,
        preprocess_for,
        read_state_dict,
        read_weights,
        register_reader,
        resolve_source,
    )
    from .saving import save_state_dict

# The names from modules that import torch, each with its module, imported on first use
# (PEP 562): the ``.sqz`` decoder (``weights.sqz``) must import without torch. A name that is
# also a module's (``fetch``) is imported above: importing the module later would replace it.
_SOURCES = {
    "ModelCard": "card",
    "model_card": "card",
    "input_size": "card",
    "SharedWeightLayer": "deep_compression",
    "deep_compression_state_dict": "deep_compression",
    "read_deep_compression": "deep_compression",
    "ModelInfo": "info",
    "check_state_dict": "loading",
    "create_model": "loading",
    "load_weights": "loading",
    "preprocess_for": "loading",
    "read_state_dict": "loading",
    "read_weights": "loading",
    "register_reader": "loading",
    "resolve_source": "loading",
    "save_state_dict": "saving",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES)
