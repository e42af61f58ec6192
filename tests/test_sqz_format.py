"""The compressed container: lossless round trips (Han's release bit for bit), the reader
hook behind --weights, and specific errors for truncated, corrupt and hostile files."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import tiny_model
from squeezenet import create_model
from squeezenet.compress.pipeline import lossless
from squeezenet.weights import WeightsError, read_state_dict
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.codec import SharedTensor, decode_shared, encode_shared, kernel_block
from squeezenet.weights.sqz.errors import CompressedFormatError
from squeezenet.weights.sqz.fileformat import MAGIC, CompressedModel
from squeezenet.weights.sqz.modeldesc import describe_model
from squeezenet.weights.sqz.rawsection import compress_raw, decompress_raw

TINY_SQZ = Path(__file__).with_name("data") / "tiny.sqz"  # a version-1 file


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32) if t.dtype == torch.float32 else t


def _shared_state(model, bits=3, density=0.5, seed=0):
    """A pruned, weight-shared state_dict built by hand (no pipeline involved)."""
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in model.state_dict().items():
        if v.dim() >= 2:
            values = rng.normal(size=2**bits).astype(np.float32)
            a = values[rng.integers(0, 2**bits, v.shape)]
            a[rng.random(v.shape) > density] = 0
            state[k] = torch.from_numpy(a)
        else:
            state[k] = torch.from_numpy(rng.normal(size=v.shape).astype(np.float32))
    return state


def test_shared_tensor_codec_roundtrip_edge_cases():
    for array in [
        np.zeros((3, 4), np.float32),
        np.full((2, 5), -0.5, np.float32),
        np.array([[0, 0, 0, 1e-30]], np.float32),
        np.eye(300, dtype=np.float32),
    ]:
        t = SharedTensor.from_dense(array)
        for coder in ("ans", "huffman"):
            back = decode_shared(encode_shared(t, coder), array.shape, coder, "t")
            np.testing.assert_array_equal(back.dense().view(np.uint32), array.view(np.uint32))


def test_long_zero_runs_use_escapes():
    a = np.zeros(100_000, np.float32)
    a[[5, 70_000, 99_999]] = [1.0, -2.0, 3.0]
    t = SharedTensor.from_dense(a)
    back = decode_shared(encode_shared(t, "ans"), a.shape, "ans", "t")
    np.testing.assert_array_equal(back.dense(), a)


def _kernel_sparse(shape=(16, 8, 3, 3), density=0.3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=16).astype(np.float32)
    a = values[rng.integers(0, 16, shape)]
    a[rng.random(shape[:2]) > density] = 0  # whole kernels
    return a


def test_kernel_sparse_tensor_is_coded_by_kernel_and_roundtrips():
    a = _kernel_sparse()
    t = SharedTensor.from_dense(a)
    assert kernel_block(t) == 9
    for coder in ("ans", "huffman"):
        data = encode_shared(t, coder, 9)
        assert len(data) < len(encode_shared(t, coder))
        back = decode_shared(data, a.shape, coder, "t", 9)
        np.testing.assert_array_equal(back.dense().view(np.uint32), a.view(np.uint32))
    # One stray weight outside a whole kernel: coded weight by weight, still exact.
    b = a.copy()
    b[0, 0, 0, 0] = 0 if b[0, 0, 1, 1] else 1.0
    assert kernel_block(SharedTensor.from_dense(b)) == 1
    with pytest.raises(ValueError, match="not whole blocks of 9"):
        encode_shared(SharedTensor.from_dense(b), "ans", 9)
    # 1x1 convolutions and matrices have no kernels to group.
    assert kernel_block(SharedTensor.from_dense(np.ones((4, 4, 1, 1), np.float32))) == 1
    assert kernel_block(SharedTensor.from_dense(np.ones((4, 9), np.float32))) == 1


def test_new_files_are_version_3_and_version_1_refuses_kernel_blocks(tmp_path):
    model = tiny_model()
    state = _shared_state(model)
    shape = tuple(state["features.3.expand3x3.weight"].shape)
    state["features.3.expand3x3.weight"] = torch.from_numpy(_kernel_sparse(shape))
    cm = lossless(state, describe_model(model, "squeezenet1_1"), "ans")
    data = fileformat.to_bytes(cm)
    assert struct.unpack_from("<H", data, 8)[0] == 3
    back = fileformat.from_bytes(data, "k.sqz").state_dict()
    for k, v in state.items():
        assert torch.equal(_bits(back[k]), _bits(v)), k
    # A version-1 file cannot declare kernel blocks (its raw section is LZMA: rebuilt so).
    header, offset, _ = fileformat._read_header(data, "k.sqz", fileformat.HEADER_MODEL)
    shared = sum(e["bytes"] for e in header["tensors"] if e["encoding"] == "shared")
    raw_entries = [e for e in header["tensors"] if e["encoding"] == "raw"]
    size = fileformat._raw_size(raw_entries, "k.sqz")
    plain = decompress_raw(data[offset + shared : -4], size, 3, "k.sqz")
    lz = compress_raw(plain, 1)
    old = {**header, "raw_bytes": len(lz)}
    hb = zlib.compress(json.dumps(old).encode())
    body = struct.pack("<8sHI", MAGIC, 1, len(hb)) + hb + data[offset : offset + shared] + lz
    with pytest.raises(CompressedFormatError, match="malformed tensor entry"):
        fileformat.from_bytes(body + struct.pack("<I", zlib.crc32(body)), "k.sqz")
    # The same file as version 2 reads, and upgrade() turns it into the version-3 file.
    body = bytearray(body)
    body[8:10] = struct.pack("<H", 2)
    v2 = bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    back2 = fileformat.from_bytes(v2, "k.sqz").state_dict()
    assert all(torch.equal(_bits(back2[k]), _bits(back[k])) for k in back)
    assert fileformat.upgrade(v2, "k.sqz") == data
    assert fileformat.upgrade(data, "k.sqz") is data


def test_old_versions_stay_readable():
    # tests/data/tiny.sqz is a version-1 file (LZMA raw section).
    data = TINY_SQZ.read_bytes()
    assert struct.unpack_from("<H", data, 8)[0] == 1
    old = fileformat.from_bytes(data, "tiny.sqz").state_dict()
    new = fileformat.upgrade(data, "tiny.sqz")
    assert struct.unpack_from("<H", new, 8)[0] == 3 and len(new) < len(data) * 1.01
    back = fileformat.from_bytes(new, "tiny.sqz").state_dict()
    assert all(torch.equal(_bits(old[k]), _bits(back[k])) for k in old)


def test_block_that_does_not_fit_the_tensor_is_refused():
    t = SharedTensor.from_dense(_kernel_sparse())
    data = encode_shared(t, "ans", 9)
    with pytest.raises(CompressedFormatError, match="block size 7 does not divide"):
        decode_shared(data, t.shape, "ans", "t", 7)
    with pytest.raises(CompressedFormatError, match="not whole blocks of 4"):
        decode_shared(
            encode_shared(SharedTensor.from_dense(np.eye(6, dtype=np.float32)), "ans"),
            (6, 6),
            "ans",
            "t",
            4,
        )


def test_not_weight_shared_is_refused():
    with pytest.raises(ValueError, match="70000 distinct non-zero values"):
        SharedTensor.from_dense(np.arange(1, 70001, dtype=np.float32), "w")


@pytest.mark.parametrize("coder", ["ans", "huffman"])
def test_lossless_file_roundtrip_and_weights_hook(tmp_path, coder):
    model = tiny_model()
    state = _shared_state(model)
    cm = lossless(state, describe_model(model, "squeezenet1_1"), coder)
    path = tmp_path / "m.sqz"
    fileformat.save(cm, path)
    back = read_state_dict(path)  # through the registered magic-bytes reader
    assert list(back) == list(state)
    for k in state:
        assert torch.equal(_bits(back[k]), _bits(state[k])), k
    # Every command's --weights path: create_model loads the compressed file strictly.
    loaded = tiny_model(num_classes=None, weights=str(path))
    assert torch.equal(loaded.classifier[1].weight, state["classifier.1.weight"])
    header = fileformat.load(path)
    assert header.model["spec"]["base_e"] == 16 and header.coder == coder


def test_han_release_lossless_is_bit_identical_and_smaller(han_net, tmp_path):
    original = read_state_dict(han_net)
    model = create_model("squeezenet1_0")
    cm = lossless(original, describe_model(model, "squeezenet1_0"), "ans")
    size = fileformat.save(cm, tmp_path / "han.sqz")
    assert size <= 540_000  # issue result 1 (the original is 675,763 bytes)
    back = read_state_dict(tmp_path / "han.sqz")
    assert list(back) == list(original)
    for k in original:
        assert torch.equal(_bits(back[k]), _bits(original[k])), k


def _good_file(tmp_path) -> bytes:
    model = tiny_model()
    cm = lossless(_shared_state(model), describe_model(model, "squeezenet1_1"), "ans")
    return fileformat.to_bytes(cm)


def _with_header(header: dict, body: bytes = b"") -> bytes:
    hb = zlib.compress(json.dumps(header).encode())
    data = struct.pack("<8sHI", MAGIC, 1, len(hb)) + hb + body
    return data + struct.pack("<I", zlib.crc32(data))


def test_truncated_file(tmp_path):
    data = _good_file(tmp_path)
    for n in (3, 12, len(data) // 2, len(data) - 1):
        with pytest.raises(CompressedFormatError, match="truncated|checksum"):
            fileformat.from_bytes(data[:n], "f.sqz")


def test_bad_checksum(tmp_path):
    data = bytearray(_good_file(tmp_path))
    data[len(data) // 2] ^= 0x40
    with pytest.raises(CompressedFormatError, match=r"^f.sqz: checksum mismatch"):
        fileformat.from_bytes(bytes(data), "f.sqz")


def test_unknown_version(tmp_path):
    data = bytearray(_good_file(tmp_path))
    data[8:10] = struct.pack("<H", 7)
    with pytest.raises(CompressedFormatError, match="unsupported format version 7"):
        fileformat.from_bytes(bytes(data), "f.sqz")


def test_error_names_the_file_through_read_state_dict(tmp_path):
    path = tmp_path / "bad.sqz"
    path.write_bytes(MAGIC + b"\x01\x00")
    with pytest.raises(WeightsError, match=r"bad.sqz: truncated"):
        read_state_dict(path)


def test_huge_declared_sizes_are_refused_before_allocating(monkeypatch):
    header = {
        "format": "squeezenet-compressed",
        "model": {"name": "squeezenet1_1", "kwargs": {}},
        "coder": "ans",
        "tensors": [{"name": "w", "shape": [1 << 20, 1 << 20], "encoding": "shared", "bytes": 0}],
        "raw_bytes": 0,
    }
    with pytest.raises(CompressedFormatError, match="elements in all"):
        fileformat.from_bytes(_with_header(header))
    with pytest.raises(CompressedFormatError, match="'w' is not in the header's model"):
        fileformat.from_bytes(
            _with_header({**header, "tensors": [{**header["tensors"][0], "shape": [4]}]})
        )
    # The checks behind the model's shapes hold on their own too.
    monkeypatch.setattr(fileformat, "_check_against_model", lambda *args: None)
    header["tensors"] = [{"name": "w", "shape": [4], "encoding": "shared", "bytes": 10**12}]
    with pytest.raises(CompressedFormatError, match="do not add up"):
        fileformat.from_bytes(_with_header(header))
    # A section claiming 2**40 non-zeros in a 4-element tensor.
    body = bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20])
    header["tensors"] = [{"name": "w", "shape": [4], "encoding": "shared", "bytes": len(body)}]
    lz = compress_raw(b"", 1)  # the LZMA of the version-1 files built here
    header["raw_bytes"] = len(lz)
    with pytest.raises(
        CompressedFormatError, match="tensor w: declared size .* exceeds the limit 4"
    ):
        fileformat.from_bytes(_with_header(header, body + lz))


def test_header_zip_bomb_is_refused():
    hb = zlib.compress(b" " * (fileformat.MAX_HEADER_BYTES + 10))
    data = struct.pack("<8sHI", MAGIC, 1, len(hb)) + hb
    data += struct.pack("<I", zlib.crc32(data))
    with pytest.raises(CompressedFormatError, match="inflates past the size limit"):
        fileformat.from_bytes(data)


def test_header_model_must_match_tensors(tmp_path):
    from squeezenet.weights.sqz.modeldesc import model_from_description

    cm = fileformat.from_bytes(_good_file(tmp_path))
    shapes = {k: tuple(v.shape) for k, v in cm.state_dict().items()}
    assert model_from_description(cm.model, shapes, "f").spec.base_e == 16
    wrong = {**cm.model, "spec": {**cm.model["spec"], "base_e": 32}}
    with pytest.raises(CompressedFormatError, match="do not match the header's model"):
        model_from_description(wrong, shapes, "f")  # checked on the meta device: no allocation


_GOOD = fileformat.to_bytes(
    lossless(
        _shared_state(tiny_model(), seed=1), describe_model(tiny_model(), "squeezenet1_1"), "ans"
    )
)


@given(st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_mutated_files(data):
    # Mutate a valid file (with a recomputed checksum, so the parser itself is exercised).
    good = _GOOD
    body = bytearray(good[:-4])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    body = bytes(body[:cut]) if data.draw(st.booleans()) else bytes(body)
    blob = body + struct.pack("<I", zlib.crc32(body))
    try:
        cm = fileformat.from_bytes(blob, "fuzz")
    except CompressedFormatError:
        return
    for t in cm.tensors.values():
        assert np.asarray(t.dense() if isinstance(t, SharedTensor) else t).size < 10**7


@given(st.binary(max_size=2000))
@settings(max_examples=150, deadline=None)
def test_fuzz_random_section_bytes(section):
    for coder in ("ans", "huffman"):
        try:
            t = decode_shared(section, (64, 32, 3, 3), coder, "fuzz")
        except CompressedFormatError:
            continue
        assert t.dense().shape == (64, 32, 3, 3)


@given(st.binary(max_size=2000))
@settings(max_examples=100, deadline=None)
def test_fuzz_random_kernel_coded_section_bytes(section):
    for coder in ("ans", "huffman"):
        try:
            t = decode_shared(section, (64, 32, 3, 3), coder, "fuzz", 9)
        except CompressedFormatError:
            continue
        assert t.dense().shape == (64, 32, 3, 3)
        assert kernel_block(t) in (1, 9)


def test_compressed_model_state_dict_types():
    cm = CompressedModel({"name": "x"}, {"b": np.ones(3, np.float32)})
    assert cm.state_dict()["b"].dtype == torch.float32


def _raw_section_replaced(data: bytes, raw: bytes) -> bytes:
    """``data`` (version 3) with another raw section (header and checksum to match)."""
    header, offset, version = fileformat._read_header(data, "t.sqz", fileformat.HEADER_MODEL)
    shared = sum(e["bytes"] for e in header["tensors"] if e["encoding"] == "shared")
    hb = zlib.compress(json.dumps({**header, "raw_bytes": len(raw)}).encode())
    body = struct.pack("<8sHI", MAGIC, version, len(hb)) + hb
    body += data[offset : offset + shared] + raw
    return body + struct.pack("<I", zlib.crc32(body))


def test_version_3_raw_section_is_checked_before_and_after_inflating():
    data = fileformat.upgrade(TINY_SQZ.read_bytes(), "t.sqz")
    header, offset, _ = fileformat._read_header(data, "t.sqz", fileformat.HEADER_MODEL)
    entries = [e for e in header["tensors"] if e["encoding"] == "raw"]
    size = fileformat._raw_size(entries, "t.sqz")
    shared = sum(e["bytes"] for e in header["tensors"] if e["encoding"] == "shared")
    plain = decompress_raw(data[offset + shared : -4], size, 3, "t.sqz")
    cases = {
        "3 bytes after the raw-tensor section": compress_raw(plain, 3) + b"\0\0\0",
        "holds more than the expected": compress_raw(plain + b"\0" * 10**6, 3),  # a bomb
        f"holds {size - 1} bytes, expected {size}": compress_raw(plain[:-1], 3),
        "corrupt raw-tensor section": b"\xff" * 40,
        "raw-tensor section holds 0 bytes": b"",
    }
    for message, raw in cases.items():
        with pytest.raises(CompressedFormatError, match=f"t.sqz: .*{message}"):
            fileformat.from_bytes(_raw_section_replaced(data, raw), "t.sqz")
