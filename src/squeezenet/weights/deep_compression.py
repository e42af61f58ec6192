"""Reader for the original Deep Compression release of SqueezeNet v1.0 (Han et al., 2016).

Layout (little-endian, no magic): ``uint32[26]`` entry counts, then per conv layer in network
order a ``float32[256]`` codebook, ``float32[out]`` biases, ``uint8[n]`` codebook indices and
``uint8[ceil(n/2)]`` 4-bit relative position gaps (low nibble first). A gap ``g`` puts an entry
``g + 1`` positions after the previous one; zero runs longer than 15 are bridged by filler
entries that point at the 0.0 centroid (Deep Compression section 3, Figure 3).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models import build_model
from .errors import WeightsError

CODEBOOK_SIZE = 256


@dataclass(frozen=True)
class SharedWeightLayer:
    """One pruned, weight-shared conv layer exactly as stored: codebook + indices + gaps."""

    name: str  # state_dict prefix, e.g. "features.3.squeeze"
    shape: tuple[int, ...]
    codebook: np.ndarray  # float32[256]
    bias: np.ndarray  # float32[out]
    indices: np.ndarray  # uint8[n]
    gaps: np.ndarray  # uint8[n], each < 16

    def positions(self) -> np.ndarray:
        """Flat C-order position of each stored entry."""
        return np.cumsum(self.gaps.astype(np.int64) + 1) - 1

    def dense(self) -> np.ndarray:
        """The decoded float32 weight array; positions not stored are 0."""
        flat = np.zeros(int(np.prod(self.shape)), dtype=np.float32)
        flat[self.positions()] = self.codebook[self.indices]
        return flat.reshape(self.shape)


def conv_layer_shapes(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """``(prefix, weight shape)`` for each conv of ``model`` in network order."""
    return [
        (name, tuple(m.weight.shape))
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
    ]


@functools.cache
def _v10_layers() -> list[tuple[str, tuple[int, ...]]]:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return conv_layer_shapes(build_model("squeezenet1_0"))


def read_deep_compression(path: str | os.PathLike) -> list[SharedWeightLayer]:
    """Parse a Deep Compression ``.net`` file into its 26 layers, validating every size
    against the file length before allocating anything."""
    path = Path(path)
    data = path.read_bytes()
    layers_spec = _v10_layers()
    n_layers = len(layers_spec)
    header = 4 * n_layers
    if len(data) < header:
        raise WeightsError(
            f"{path}: truncated Deep Compression file ({len(data)} bytes, the header alone "
            f"is {header})"
        )
    counts = np.frombuffer(data, dtype="<u4", count=n_layers)
    offset = header
    layers = []
    for (name, shape), n in zip(layers_spec, counts.tolist()):
        numel = int(np.prod(shape))
        if n > numel:
            raise WeightsError(
                f"{path}: layer {name} declares {n} entries but has only {numel} weights"
            )
        out = shape[0]
        need = 4 * CODEBOOK_SIZE + 4 * out + n + (n + 1) // 2
        if offset + need > len(data):
            raise WeightsError(
                f"{path}: truncated in layer {name} (needs {need} bytes at offset {offset}, "
                f"file has {len(data)})"
            )
        codebook = np.frombuffer(data, "<f4", CODEBOOK_SIZE, offset).astype(np.float32)
        offset += 4 * CODEBOOK_SIZE
        bias = np.frombuffer(data, "<f4", out, offset).astype(np.float32)
        offset += 4 * out
        indices = np.frombuffer(data, np.uint8, n, offset).copy()
        offset += n
        packed = np.frombuffer(data, np.uint8, (n + 1) // 2, offset)
        offset += (n + 1) // 2
        gaps = np.empty(2 * len(packed), dtype=np.uint8)
        gaps[0::2] = packed & 0x0F
        gaps[1::2] = packed >> 4
        layer = SharedWeightLayer(name, shape, codebook, bias, indices, gaps[:n])
        if n and layer.positions()[-1] >= numel:
            raise WeightsError(
                f"{path}: layer {name}: position gaps run past the layer's {numel} weights"
            )
        layers.append(layer)
    if offset != len(data):
        raise WeightsError(
            f"{path}: {len(data) - offset} unexpected trailing bytes after the last layer "
            "(not a SqueezeNet v1.0 Deep Compression file?)"
        )
    return layers


def deep_compression_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Decode a ``.net`` file into a torchvision-layout ``squeezenet1_0`` state_dict."""
    state = {}
    for layer in read_deep_compression(path):
        state[f"{layer.name}.weight"] = torch.from_numpy(layer.dense())
        state[f"{layer.name}.bias"] = torch.from_numpy(layer.bias.copy())
    return state
