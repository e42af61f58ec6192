"""Pretrained weights: the registry, pickle-safe loading, downloads, the Deep Compression
release reader and the compressed ``.sqz`` file format (``weights.sqz``)."""

from .deep_compression import SharedWeightLayer, deep_compression_state_dict, read_deep_compression
from .errors import WeightsError
from .fetch import fetch, sha256_file
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
from .records import WeightsRecord, get_weights_record, list_weights, register_weights
from .saving import save_state_dict
