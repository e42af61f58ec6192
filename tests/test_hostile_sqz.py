"""Compressed files (.sqz): what a file declares is bounded by its payload and by its model's
architecture before anything is allocated, unknown keys and trailing bytes are refused, and
loops over header values are closed-form."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import time_limit
from squeezenet.models import SqueezeNetSpec
from squeezenet.weights import create_model
from squeezenet.weights.sqz import CompressedFormatError, fileformat
from squeezenet.weights.sqz.bits import encode_uints
from squeezenet.weights.sqz.bytestream import ByteReader, ByteWriter
from squeezenet.weights.sqz.entropy import decode_symbols
from squeezenet.weights.sqz.rawsection import compress_raw

TINY_SQZ = Path(__file__).with_name("data") / "tiny.sqz"  # a 4 KB SqueezeNet, 52 tensors


def _sqz(header: dict, body: bytes = b"") -> bytes:
    hb = zlib.compress(json.dumps(header).encode())
    data = struct.pack("<8sHI", fileformat.MAGIC, 1, len(hb)) + hb + body
    return data + struct.pack("<I", zlib.crc32(data))


def _constant_section(n: int) -> bytes:
    """A shared section: ``n`` non-zeros of one value, every stream one repeated symbol (no
    payload): what a constant dense tensor codes to."""
    w = ByteWriter()
    w.varint(n)
    w.varint(1)
    w.blob(encode_uints(np.array([0x3F800000])))  # 1.0
    w.varint(1)  # escape
    w.varint(n)  # gap symbols, all 0
    w.blob(encode_uints(np.array([n, 0])))
    w.blob(b"")
    w.blob(encode_uints(np.array([n])))
    w.blob(b"")
    return w.getvalue()


def _empty_raw() -> bytes:
    return compress_raw(b"", 1)  # the LZMA of the version-1 files built here


def test_section_declaring_more_than_the_tensor_is_refused_by_shape():
    # The 258-byte file of the report: 2**27 - 1 values, one symbol, no payload.
    n = (1 << 27) - 1
    section = _constant_section(n)
    header = {
        "format": "squeezenet-compressed",
        "model": {"name": "squeezenet1_1", "kwargs": {}},
        "coder": "ans",
        "tensors": [
            {"name": "features.0.weight", "shape": [n], "encoding": "shared", "bytes": len(section)}
        ],
        "raw_bytes": len(_empty_raw()),
    }
    with pytest.raises(
        CompressedFormatError,
        match=r"f.sqz: tensor 'features.0.weight' has shape \(134217727,\), the header's "
        r"model needs \(64, 3, 3, 3\)",
    ):
        fileformat.from_bytes(_sqz(header, section + _empty_raw()), "f.sqz")


def test_constant_tensors_of_a_large_model_are_refused_before_decoding():
    # Every tensor of a 2.4M-parameter SqueezeNet one repeated value: a valid coding that
    # costs a few bytes per tensor, refused for declaring far more weights than such a small
    # file can justify (at most 1024 per byte).
    kwargs = {"base_e": 192, "incr_e": 192}
    with torch.device("meta"):
        model = create_model("squeezenet1_1", **kwargs)
    entries, sections = [], []
    for name, value in model.state_dict().items():
        sections.append(_constant_section(value.numel()))
        entries.append(
            {
                "name": name,
                "shape": list(value.shape),
                "encoding": "shared",
                "bytes": len(sections[-1]),
            }
        )
    header = {
        "format": "squeezenet-compressed",
        "model": {"name": "squeezenet1_1", "kwargs": kwargs},
        "coder": "ans",
        "tensors": entries,
        "raw_bytes": len(_empty_raw()),
    }
    data = _sqz(header, b"".join(sections) + _empty_raw())
    with pytest.raises(CompressedFormatError, match=r"c.sqz: declares 2,389,448 weights in 1,814"):
        fileformat.from_bytes(data, "c.sqz")


@pytest.mark.parametrize("coder", ["ans", "huffman"])
def test_symbol_counts_are_bounded_by_the_payload(coder):
    n = (1 << 27) - 1
    w = ByteWriter()
    if coder == "ans":
        w.blob(encode_uints(np.array([n // 2, n - n // 2])))  # two symbols: 1 bit each
    else:
        w.blob(encode_uints(np.array([1, 1])))  # two one-bit codes
    w.blob(b"\x00" * 8)
    with pytest.raises(
        CompressedFormatError, match=f"s: {n} symbols declared, more than the 8-byte payload"
    ):
        decode_symbols(ByteReader(w.getvalue(), "s"), 2, n, coder)


def _edit_header(data: bytes, edit) -> bytes:
    _, version, n = struct.unpack_from("<8sHI", data)
    header = json.loads(zlib.decompress(data[14 : 14 + n]))
    edit(header)
    hb = zlib.compress(json.dumps(header).encode())
    body = struct.pack("<8sHI", fileformat.MAGIC, version, len(hb)) + hb + data[14 + n : -4]
    return body + struct.pack("<I", zlib.crc32(body))


def test_tiny_valid_file_loads():
    assert len(fileformat.from_bytes(TINY_SQZ.read_bytes(), "tiny.sqz").state_dict()) == 52


def test_unknown_keys_are_refused():
    top = _edit_header(TINY_SQZ.read_bytes(), lambda h: h.update(compression="zstd"))
    with pytest.raises(CompressedFormatError, match="t.sqz: unknown header key 'compression'"):
        fileformat.from_bytes(top, "t.sqz")
    entry = _edit_header(TINY_SQZ.read_bytes(), lambda h: h["tensors"][0].update(scale=2.0))
    with pytest.raises(
        CompressedFormatError, match="t.sqz: tensor 'features.0.weight': unknown key 'scale'"
    ):
        fileformat.from_bytes(entry, "t.sqz")


def test_trailing_bytes_after_the_raw_section_are_refused():
    data = TINY_SQZ.read_bytes()
    grown = data[:-4] + b"\x00" * 3 + data[-4:]  # 3 bytes more after the LZMA stream
    grown = _edit_header(grown, lambda h: h.update(raw_bytes=h["raw_bytes"] + 3))
    with pytest.raises(CompressedFormatError, match="t.sqz: 3 bytes after the raw-tensor section"):
        fileformat.from_bytes(grown, "t.sqz")


def test_min_input_size_is_closed_form():
    # 64 pools: the search of earlier versions took about 2**64 steps.
    spec = SqueezeNetSpec(num_fire=64, pool_before=tuple(range(64)))
    with time_limit(20):
        assert spec.min_input_size == ((1 << 64) - 1) * 2 + 7
    assert SqueezeNetSpec().min_input_size == 21
    assert SqueezeNetSpec(stem_kernel=3, pool_before=(0, 2, 4)).min_input_size == 17


def test_header_with_64_pools_is_read_without_a_search():
    def many_pools(h):
        h["model"]["spec"].update(num_fire=64, pool_before=list(range(64)))

    data = _edit_header(TINY_SQZ.read_bytes(), many_pools)
    with (
        time_limit(20),
        pytest.raises(
            CompressedFormatError,
            match="p.sqz: tensor 'features.4.squeeze.weight' is not in the header's model",
        ),
    ):
        fileformat.from_bytes(data, "p.sqz")
