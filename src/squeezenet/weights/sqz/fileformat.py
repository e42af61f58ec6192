"""The compressed weights container (format versions 1 to 3), pickle-free, self-describing.

Layout (little-endian)::

    magic      8 bytes  b"\\x89SQZ\\r\\n\\x1a\\n" (PNG-style: catches text-mode mangling)
    version    u16      3 (1 and 2 are read: see below)
    header_len u32
    header     zlib-deflated UTF-8 JSON: model (name + SqueezeNetSpec dict, or name +
               keyword overrides for other models), coder, one entry per tensor (name,
               shape, encoding, stored dtype, section size; ``block`` = k*k for
               kernel-sparse convolutions, from version 2), free-form metadata
    sections   one per "shared" tensor, in header order (see codec.py)
    raw        every "raw" tensor (biases, ...) byte-shuffled and compressed together:
               raw DEFLATE in version 3, raw LZMA2 in versions 1 and 2 (rawsection.py)
    crc32      u32 over everything before it

Version 1 files have no ``block`` entries; version 2 added them; version 3 changed the raw
section's coder to one web browsers have natively. docs/sqz-format.md specifies it all.

Readers validate every size against the file length and hard limits before allocating,
so truncated, corrupted or hostile files raise :class:`CompressedFormatError`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ...files import write_bytes
from .codec import SharedTensor, decode_shared, encode_shared, kernel_block
from .entropy import CODERS
from .errors import CompressedFormatError
from .rawsection import compress_raw, decompress_raw

if TYPE_CHECKING:
    import torch

MAGIC = b"\x89SQZ\r\n\x1a\n"
VERSION = 3  # what this module writes; it reads every version in VERSIONS
VERSIONS = (1, 2, 3)
_PREFIX = struct.Struct("<8sHI")
MAX_HEADER_BYTES = 4 << 20
MAX_TENSORS = 10_000
MAX_TOTAL_ELEMENTS = 1 << 27  # 128M weights = 512 MiB as float32; AlexNet has 61M
MAX_RAW_ELEMENTS = 1 << 24  # raw tensors are biases and the like
MAX_HEADER_DEPTH = 8  # the header's JSON nests 4 deep; more is hostile (recursion)
# A constant tensor codes to nothing, so the payload alone cannot bound what a file decodes
# to: a file may declare at most this many weights per byte of its length (the shipped
# SqueezeNet file holds 2.7), or MIN_ELEMENTS_ALLOWED,
# whichever is more (small models compress to a few hundred bytes).
MAX_ELEMENTS_PER_BYTE = 1024
MIN_ELEMENTS_ALLOWED = 1 << 21
_HEADER_KEYS = {"format", "model", "coder", "tensors", "raw_bytes", "meta"}
_ENTRY_KEYS = {
    "shared": {"name", "shape", "encoding", "bytes", "block"},
    "raw": {"name", "shape", "encoding", "stored", "dtype"},
}
RAW_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "uint8": np.uint8,
    "bool": np.bool_,
}


@dataclass
class CompressedModel:
    """Decoded file contents: the model description, the tensors, and metadata."""

    model: dict  # {"name": str, "spec": dict} or {"name": str, "kwargs": dict}
    tensors: dict[str, SharedTensor | np.ndarray]
    coder: str = "ans"
    meta: dict = field(default_factory=dict)
    raw_dtypes: dict[str, str] = field(default_factory=dict)  # name -> dtype stored in file

    def state_dict(self) -> dict[str, torch.Tensor]:
        import torch  # here, not above: decoding runs without torch (squeezenet.lite)

        out = {}
        for name, t in self.tensors.items():
            array = t.dense() if isinstance(t, SharedTensor) else t
            out[name] = torch.from_numpy(np.ascontiguousarray(array))
        return out


@dataclass(frozen=True)
class Architecture:
    """What a file's tensors must be. ``shapes(description, source)`` checks the header's
    model description (raising :class:`CompressedFormatError`) and returns the parameter
    shapes it needs; ``name`` is how error messages call it."""

    shapes: Callable[[object, str], dict[str, tuple[int, ...]]]
    name: str = "the header's model"


def _model_shapes(desc: object, source: str) -> dict[str, tuple[int, ...]]:
    from .modeldesc import model_shapes  # builds on torch's meta device

    return model_shapes(desc, source)


#: The default: the registered model the header names, built on torch's meta device.
HEADER_MODEL = Architecture(_model_shapes)


def _shuffle(array: np.ndarray) -> bytes:
    # Byte planes (all low bytes, then the next, ...): exponents and signs compress well.
    raw = np.ascontiguousarray(array).view(np.uint8).reshape(-1, array.dtype.itemsize)
    return raw.T.tobytes()


def _unshuffle(data: bytes, dtype: np.dtype, count: int) -> np.ndarray:
    planes = np.frombuffer(data, dtype=np.uint8).reshape(dtype.itemsize, count)
    return planes.T.copy().view(dtype).reshape(-1)


def to_bytes(cm: CompressedModel) -> bytes:
    if cm.coder not in CODERS:
        raise ValueError(f"unknown coder {cm.coder!r}; choose from {CODERS}")
    entries, sections, raw_parts = [], [], []
    for name, t in cm.tensors.items():
        if isinstance(t, SharedTensor):
            block = kernel_block(t)
            section = encode_shared(t, cm.coder, block)
            sections.append(section)
            entries.append(
                {"name": name, "shape": list(t.shape), "encoding": "shared", "bytes": len(section)}
            )
            if block > 1:
                entries[-1]["block"] = block
        else:
            stored = cm.raw_dtypes.get(name, str(t.dtype))
            if stored not in RAW_DTYPES:
                raise ValueError(f"{name}: cannot store dtype {stored}")
            raw_parts.append(_shuffle(np.asarray(t).astype(RAW_DTYPES[stored])))
            entries.append(
                {
                    "name": name,
                    "shape": list(t.shape),
                    "encoding": "raw",
                    "stored": stored,
                    "dtype": str(t.dtype),
                }
            )
    raw = compress_raw(b"".join(raw_parts), VERSION)
    header = {
        "format": "squeezenet-compressed",
        "model": cm.model,
        "coder": cm.coder,
        "tensors": entries,
        "raw_bytes": len(raw),
        "meta": cm.meta,
    }
    header_bytes = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    body = _PREFIX.pack(MAGIC, VERSION, len(header_bytes)) + header_bytes
    body += b"".join(sections) + raw
    return body + struct.pack("<I", zlib.crc32(body))


def save(cm: CompressedModel, path: str | os.PathLike) -> int:
    """Write atomically (temp file + os.replace); returns the file size."""
    return write_bytes(path, to_bytes(cm), mkdir=False)


def _fail(source: str, problem: str) -> CompressedFormatError:
    return CompressedFormatError(f"{source}: {problem}")


def _check_header(
    h: object, source: str, version: int, architecture: Architecture
) -> dict[str, tuple[int, ...]]:
    """Check the header's fields; returns the shapes ``architecture`` needs."""
    if not isinstance(h, dict) or h.get("format") != "squeezenet-compressed":
        raise _fail(source, "header is not a squeezenet-compressed header")
    # Keys this reader does not know are refused, not ignored: a newer writer's field that
    # changes the meaning of the data must not be silently dropped.
    unknown = sorted(set(h) - _HEADER_KEYS)
    if unknown:
        raise _fail(source, f"unknown header key {str(unknown[0])[:40]!r}")
    if h.get("coder") not in CODERS:
        raise _fail(source, f"unknown coder {h.get('coder')!r}")
    expected = architecture.shapes(h.get("model"), source)
    tensors = h.get("tensors")
    if not isinstance(tensors, list) or len(tensors) > MAX_TENSORS:
        raise _fail(source, "header has no valid tensor list")
    total = 0
    for e in tensors:
        if not _valid_entry(e, version):
            raise _fail(source, f"malformed tensor entry {str(e)[:80]}")
        unknown = sorted(set(e) - _ENTRY_KEYS[e["encoding"]])
        if unknown:
            raise _fail(source, f"tensor {e['name'][:40]!r}: unknown key {unknown[0][:40]!r}")
        total += int(np.prod(e["shape"], dtype=np.float64))
        if total > MAX_TOTAL_ELEMENTS:
            raise _fail(source, f"declares more than {MAX_TOTAL_ELEMENTS} elements in all")
    if type(h.get("raw_bytes")) is not int or h["raw_bytes"] < 0:
        raise _fail(source, "header has no valid raw_bytes")
    return expected


def _valid_entry(e: object, version: int) -> bool:
    """Whether a header's tensor entry has a name, a shape and a known encoding's fields."""
    ok = (
        isinstance(e, dict)
        and isinstance(e.get("name"), str)
        and isinstance(e.get("shape"), list)
        and len(e["shape"]) <= 8
        # No zero-size dimension: (10**9, 0) holds nothing yet declares 10**9 classes.
        and all(type(d) is int and 1 <= d < 1 << 31 for d in e["shape"])
    )
    if not ok:
        return False
    assert isinstance(e, dict)
    if e.get("encoding") == "shared":
        ok = type(e.get("bytes")) is int and e["bytes"] >= 0
        if "block" in e:
            ok = ok and version >= 2 and type(e["block"]) is int and 1 <= e["block"] <= 1024
        return ok
    return (
        e.get("encoding") == "raw"
        and isinstance(e.get("stored"), str)
        and isinstance(e.get("dtype"), str)
        and e["stored"] in RAW_DTYPES
        and e["dtype"] in RAW_DTYPES
    )


def _check_against_model(
    h: dict,
    expected: dict[str, tuple[int, ...]],
    against: str,
    file_size: int,
    source: str,
) -> None:
    """Every declared shape must be one ``expected`` holds (``against`` names where they
    come from), and the total within what a file of this size can justify: checked before
    any section is decoded, so a small file cannot make the reader allocate gigabytes."""
    declared: dict[str, tuple[int, ...]] = {}
    for e in h["tensors"]:
        if e["name"] in declared:
            raise _fail(source, f"tensor {e['name'][:40]!r} is listed twice")
        declared[e["name"]] = tuple(e["shape"])
    for name, shape in declared.items():
        if name not in expected:
            raise _fail(source, f"tensor {name[:40]!r} is not in {against}")
        if shape != expected[name]:
            raise _fail(
                source,
                f"tensor {name!r} has shape {shape}, {against} needs {expected[name]}",
            )
    missing = sorted(set(expected) - set(declared))
    if missing:
        raise _fail(source, f"tensor {missing[0]!r} of {against} is missing")
    total = sum(int(np.prod(s, dtype=np.float64)) for s in declared.values())
    allowed = max(MIN_ELEMENTS_ALLOWED, MAX_ELEMENTS_PER_BYTE * file_size)
    if total > allowed:
        raise _fail(
            source,
            f"declares {total:,} weights in {file_size:,} bytes (at most "
            f"{MAX_ELEMENTS_PER_BYTE} per byte of file are accepted)",
        )


def _check_nesting(header: object, source: str) -> None:
    """Refuse JSON nested deeper than ``MAX_HEADER_DEPTH`` (checked without recursion: code
    that walks the header later, such as printing it, recurses)."""
    stack = [(header, 1)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, (dict, list)):
            if depth > MAX_HEADER_DEPTH:
                raise _fail(source, f"header nests deeper than {MAX_HEADER_DEPTH} levels")
            children = obj.values() if isinstance(obj, dict) else obj
            stack.extend((c, depth + 1) for c in children)


def from_bytes(
    data: bytes, source: str = "compressed file", architecture: Architecture = HEADER_MODEL
) -> CompressedModel:
    """Decode a whole file, validating every size before it is used and every tensor's
    shape against ``architecture``."""
    header, offset, version = _read_header(data, source, architecture)
    body_end = len(data) - 4
    sizes = [e["bytes"] for e in header["tensors"] if e["encoding"] == "shared"]
    if offset + sum(sizes) + header["raw_bytes"] != body_end:
        raise _fail(source, "section sizes do not add up to the file size")
    tensors: dict[str, SharedTensor | np.ndarray | None] = {}
    raw_entries = []
    for e in header["tensors"]:
        if e["encoding"] == "shared":
            section = memoryview(data)[offset : offset + e["bytes"]]
            offset += e["bytes"]
            tensors[e["name"]] = decode_shared(
                section,
                tuple(e["shape"]),
                header["coder"],
                f"{source}: tensor {e['name']}",
                e.get("block", 1),
            )
        else:
            tensors[e["name"]] = None  # filled below, keeps header order
            raw_entries.append(e)
    raw_tensors = _read_raw(data[offset:body_end], raw_entries, source, version)
    tensors.update(raw_tensors)
    raw_dtypes = {e["name"]: e["stored"] for e in raw_entries}
    meta = header.get("meta")
    if not isinstance(meta, dict):
        meta = {}
    # Every None placeholder is now a raw tensor.
    filled = cast("dict[str, SharedTensor | np.ndarray]", tensors)
    return CompressedModel(header["model"], filled, header["coder"], meta, raw_dtypes)


def _read_header(data: bytes, source: str, architecture: Architecture) -> tuple[dict, int, int]:
    """The checked header, the offset of the first section and the format version."""
    if len(data) < _PREFIX.size + 4:
        raise _fail(source, f"truncated ({len(data)} bytes is shorter than the fixed header)")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise _fail(source, "not a squeezenet compressed file (bad magic bytes)")
    if version not in VERSIONS:
        raise _fail(
            source,
            f"unsupported format version {version} (this reader knows "
            f"versions {', '.join(map(str, VERSIONS))}; upgrade squeezenet)",
        )
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) != crc:
        raise _fail(source, "checksum mismatch (the file is truncated or corrupted)")
    start = _PREFIX.size
    if header_len > min(MAX_HEADER_BYTES, len(data) - start - 4):
        raise _fail(source, f"declared header size {header_len} exceeds the file")
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(data[start : start + header_len], MAX_HEADER_BYTES)
        if inflater.unconsumed_tail:
            raise _fail(source, "header inflates past the size limit")
        header = json.loads(text)
    except RecursionError:
        raise _fail(source, f"header nests deeper than {MAX_HEADER_DEPTH} levels") from None
    except (zlib.error, ValueError) as e:  # ValueError: bad JSON, UTF-8 or a 5000-digit int
        raise _fail(source, f"unreadable header ({str(e)[:200]})") from None
    _check_nesting(header, source)
    expected = _check_header(header, source, version, architecture)
    _check_against_model(header, expected, architecture.name, len(data), source)
    return header, start + header_len, version


def _raw_size(entries: list[dict], source: str) -> int:
    """The bytes the raw section decompresses to (checked against the limit first)."""
    if sum(int(np.prod(e["shape"])) for e in entries) > MAX_RAW_ELEMENTS:
        raise _fail(source, f"declares more than {MAX_RAW_ELEMENTS} raw elements")
    return sum(
        int(np.prod(e["shape"])) * np.dtype(RAW_DTYPES[e["stored"]]).itemsize for e in entries
    )


def _read_raw(
    section: bytes, entries: list[dict], source: str, version: int
) -> dict[str, np.ndarray]:
    """The raw tensors (biases, ...) of the raw section, in header order."""
    raw = decompress_raw(section, _raw_size(entries, source), version, source)
    pos = 0
    tensors: dict[str, np.ndarray] = {}
    for e in entries:
        stored = np.dtype(RAW_DTYPES[e["stored"]])
        count = int(np.prod(e["shape"]))
        chunk = raw[pos : pos + count * stored.itemsize]
        pos += count * stored.itemsize
        array: np.ndarray = _unshuffle(chunk, stored, count).astype(RAW_DTYPES[e["dtype"]])
        tensors[e["name"]] = array.reshape(e["shape"])
    return tensors


def upgrade(
    data: bytes, source: str = "compressed file", architecture: Architecture = HEADER_MODEL
) -> bytes:
    """``data`` as a version-:data:`VERSION` file: the same header and shared sections, byte
    for byte, and the raw section re-compressed with the newest coder (a decoder without
    LZMA, such as a web browser's, reads it). A file already that new is returned as is."""
    header, offset, version = _read_header(data, source, architecture)
    if version == VERSION:
        return data
    body_end = len(data) - 4
    raw_start = offset + sum(e["bytes"] for e in header["tensors"] if e["encoding"] == "shared")
    if raw_start + header["raw_bytes"] != body_end:
        raise _fail(source, "section sizes do not add up to the file size")
    raw_entries = [e for e in header["tensors"] if e["encoding"] == "raw"]
    expected = _raw_size(raw_entries, source)
    plain = decompress_raw(data[raw_start:body_end], expected, version, source)
    raw = compress_raw(plain, VERSION)
    header = {**header, "raw_bytes": len(raw)}
    header_bytes = zlib.compress(json.dumps(header, separators=(",", ":")).encode(), 9)
    body = _PREFIX.pack(MAGIC, VERSION, len(header_bytes)) + header_bytes
    body += data[offset:raw_start] + raw
    return body + struct.pack("<I", zlib.crc32(body))


def load(path: str | os.PathLike, architecture: Architecture = HEADER_MODEL) -> CompressedModel:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CompressedFormatError(f"{path}: cannot read ({e.strerror})") from None
    return from_bytes(data, str(path), architecture)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A compressed file's tensors as a state_dict."""
    return load(path).state_dict()


#: The ``meta`` keys that describe the model beside the header's architecture (the class
#: names and preprocessing of :class:`squeezenet.weights.info.ModelInfo`).
INFO_META_KEYS = ("classes", "preprocess")


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """The reader ``squeezenet.weights.read_weights`` uses for compressed files: the
    state_dict and the (unchecked) model description, the header's architecture plus the
    class names and preprocessing its metadata holds."""
    cm = load(path)
    info = {"model": cm.model, **{k: cm.meta[k] for k in INFO_META_KEYS if k in cm.meta}}
    return cm.state_dict(), info


def describe(path: str | os.PathLike) -> dict:
    """What a compressed file holds (``squeezenet decompress`` prints it): its size, model,
    coder, tensor and parameter counts, non-zero weights and metadata. Every tensor is
    decoded and the state_dict checked against the model the header names."""
    from .modeldesc import model_from_description

    cm = load(path)
    state = cm.state_dict()
    model_from_description(cm.model, {k: tuple(v.shape) for k, v in state.items()}, str(path))
    return {
        "file": str(path),
        "bytes": os.path.getsize(path),
        "model": cm.model["name"],
        "coder": cm.coder,
        "tensors": len(state),
        "shared_tensors": sum(isinstance(t, SharedTensor) for t in cm.tensors.values()),
        "params": sum(v.numel() for v in state.values()),
        "nonzero": sum(int((v != 0).sum()) for v in state.values()),
        "meta": cm.meta,
    }
