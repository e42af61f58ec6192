"""The weightless graph: an ONNX model whose weights are external-data placeholders.

``squeezenet export --weightless`` writes it: every weight initializer keeps its name (the
model's state_dict key), its type and its shape, and points at :data:`WEIGHTS_LOCATION`
instead of holding data; ONNX Runtime receives the decoded ``.sqz`` tensors in memory under
those names (``SessionOptions.add_external_initializers``). The graph's metadata entry
:data:`METADATA_KEY` holds the model's description (architecture, preprocessing, class
names) as JSON, as ``.pth`` and ``.safetensors`` files do.

The placeholders are read here from the protobuf wire format, so the device needs neither
the ``onnx`` package nor torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..weights.sqz.bytestream import ByteReader
from ..weights.sqz.errors import CompressedFormatError

#: The external-data location of every stripped weight: a name, not a file (the data comes
#: from the decoded ``.sqz``).
WEIGHTS_LOCATION = "weights.sqz"
#: The metadata entry holding the model's description (``weights.info.INFO_KEY``).
METADATA_KEY = "squeezenet"
#: ONNX element types the placeholders may have (TensorProto.DataType) and their numpy names.
DTYPES = {1: "float32", 10: "float16", 11: "float64", 6: "int32", 7: "int64"}
_MAX_GRAPH_BYTES = 64 << 20  # a weightless SqueezeNet graph is a few KB
# Field numbers of onnx.proto.
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_GRAPH_INITIALIZER = 5
_TENSOR_DIMS, _TENSOR_TYPE, _TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 1, 2, 8, 13, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class GraphError(ValueError):
    """A weightless graph cannot be read, or does not fit the weights given to it."""


@dataclass(frozen=True)
class WeightlessGraph:
    """``data``: the ONNX bytes; ``weights``: each placeholder's shape and numpy dtype name;
    ``metadata``: the model's metadata entries; ``source``: where it was read from."""

    data: bytes
    weights: dict[str, tuple[tuple[int, ...], str]]
    metadata: dict[str, str]
    source: str

    def description(self) -> dict:
        """The model description the graph carries (empty when it has none)."""
        text = self.metadata.get(METADATA_KEY)
        if text is None:
            return {}
        try:
            info = json.loads(text)
        except (ValueError, RecursionError):
            raise GraphError(f"{self.source}: its model description is not valid JSON") from None
        if not isinstance(info, dict):
            raise GraphError(f"{self.source}: its model description is not a JSON object")
        return info


def read_graph(path: str | os.PathLike) -> WeightlessGraph:
    """Read a weightless graph; raises :class:`GraphError` naming the file and the problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > _MAX_GRAPH_BYTES:
            raise GraphError(
                f"{path}: {size:,} bytes, more than a weightless graph "
                f"({_MAX_GRAPH_BYTES:,} at most); was it exported with --weightless?"
            )
        data = path.read_bytes()
    except OSError as e:
        raise GraphError(f"{path}: cannot read ({e.strerror})") from None
    return parse_graph(data, str(path))


def parse_graph(data: bytes, source: str = "graph") -> WeightlessGraph:
    try:
        return _parse(data, source)
    except CompressedFormatError as e:  # the byte reader's bounds checks
        raise GraphError(f"{e} (not an ONNX model)") from None


def _fields(data: memoryview, what: str) -> Iterator[tuple[int, int | memoryview]]:
    """The (field number, value) pairs of one protobuf message; values of fixed-size fields
    (never needed here) are skipped."""
    r = ByteReader(data, what)
    while r.remaining:
        key = r.varint(limit=(1 << 32) - 1)
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, r.varint(limit=(1 << 64) - 1)
        elif wire == 2:
            yield number, r.raw(r.varint(limit=r.remaining))
        elif wire in (1, 5):
            r.raw(8 if wire == 1 else 4)
        else:
            raise r.fail(f"protobuf wire type {wire} is not used by ONNX")


def _text(value: int | memoryview, what: str) -> str:
    if not isinstance(value, memoryview):
        raise CompressedFormatError(f"{what}: a string field holds a number")
    try:
        return bytes(value).decode()
    except UnicodeDecodeError:
        raise CompressedFormatError(f"{what}: a string field is not UTF-8") from None


def _entry(value: int | memoryview, what: str) -> tuple[str, str]:
    """A StringStringEntryProto's key and value."""
    if not isinstance(value, memoryview):
        raise CompressedFormatError(f"{what}: a key-value entry holds a number")
    out = {1: "", 2: ""}
    for number, v in _fields(value, what):
        if number in out:
            out[number] = _text(v, what)
    return out[1], out[2]


def _parse(data: bytes, source: str) -> WeightlessGraph:
    graph = None
    metadata: dict[str, str] = {}
    for number, value in _fields(memoryview(data), source):
        if number == _MODEL_GRAPH and isinstance(value, memoryview):
            graph = value
        elif number == _MODEL_METADATA:
            key, text = _entry(value, source)
            metadata[key] = text
    if graph is None:
        raise GraphError(f"{source}: holds no ONNX graph")
    weights: dict[str, tuple[tuple[int, ...], str]] = {}
    for number, value in _fields(graph, source):
        if number != _GRAPH_INITIALIZER or not isinstance(value, memoryview):
            continue
        name, shape, dtype, location = _initializer(value, source)
        if location is None:
            continue  # a constant kept in the graph (a reshape's target shape, ...)
        if location != WEIGHTS_LOCATION:
            raise GraphError(
                f"{source}: initializer {name[:40]!r} reads file {location[:40]!r}; a "
                f"weightless graph takes its weights from the .sqz ({WEIGHTS_LOCATION!r})"
            )
        if dtype not in DTYPES:
            raise GraphError(f"{source}: weight {name[:40]!r} has ONNX element type {dtype}")
        if name in weights:
            raise GraphError(f"{source}: weight {name[:40]!r} is listed twice")
        weights[name] = (shape, DTYPES[dtype])
    if not weights:
        raise GraphError(
            f"{source}: has no weight placeholders (export it with squeezenet export --weightless)"
        )
    return WeightlessGraph(bytes(data), weights, metadata, source)


def _initializer(data: memoryview, source: str) -> tuple[str, tuple[int, ...], int, str | None]:
    """A TensorProto's name, shape, element type and external-data location (None when
    its data is inline)."""
    name, dims, dtype, external = "", [], 0, False
    location: str | None = None
    for number, value in _fields(data, source):
        if number == _TENSOR_NAME:
            name = _text(value, source)
        elif number == _TENSOR_DIMS:
            if isinstance(value, memoryview):  # packed
                r = ByteReader(value, source)
                while r.remaining:
                    dims.append(r.varint(limit=(1 << 31) - 1))
            else:
                dims.append(value)
        elif number == _TENSOR_TYPE and isinstance(value, int):
            dtype = value
        elif number == _TENSOR_LOCATION:
            external = value == _EXTERNAL
        elif number == _TENSOR_EXTERNAL:
            key, text = _entry(value, source)
            if key == "location":
                location = text
    if len(dims) > 8 or any(d >= 1 << 31 for d in dims):
        raise GraphError(f"{source}: initializer {name[:40]!r} has an invalid shape")
    # An external tensor without a location reads as one in an unnamed file: refused.
    return name, tuple(dims), dtype, (location or "") if external else None
