"""Structure-aware mutations: edits that keep a file parseable up to the field they change,
so the fuzzer reaches the code behind the format checks. They declare large sizes with tiny
payloads, long and deep header values, and thin or huge images; the engine's own byte-level
mutation does the rest."""

from __future__ import annotations

import json
import random
import struct
import zlib

_SQZ_PREFIX = struct.Struct("<8sHI")
_BIG = [2**27 - 1, 2**31 - 1, 2**32 - 1, 2**40, 10**9, 2**20, 65536, 0, 1]


def _uints(values: list[int]) -> bytes:
    """A table as bits.encode_uints writes it (Exp-Golomb order 0)."""
    import numpy as np

    from squeezenet.weights.sqz.bits import encode_uints

    return encode_uints(np.asarray(values, dtype=np.int64))


def hostile_section(rng: random.Random) -> bytes:
    """A shared-tensor section declaring many non-zeros with one symbol and no payload."""
    n = rng.choice([2**27 - 1, 2**31 - 1, 2**32 - 1, 10**9, 2**20])
    escape = rng.choice([1, 2, 255])
    counts = [n] + [0] * escape
    if rng.random() < 0.5:  # two symbols: the payload must then hold them
        counts[-1], counts[0] = 1, n - 1
    from squeezenet.weights.sqz.bytestream import ByteWriter

    w = ByteWriter()
    w.varint(n)
    w.varint(1)
    w.blob(_uints([0x3F800000]))
    w.varint(escape)
    w.varint(n)
    w.blob(_uints(counts))
    w.blob(b"")
    w.blob(_uints([n]))
    w.blob(b"")
    return w.getvalue()


def _hostile_value(rng: random.Random) -> object:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(_BIG)
    if kind == 1:
        return list(range(rng.choice([64, 65, 1000])))
    if kind == 2:
        return "x" * rng.choice([33, 10_000])
    if kind == 3:
        nested: object = 1
        for _ in range(rng.choice([9, 100, 10_000])):
            nested = [nested]
        return nested
    if kind == 4:
        return int("9" * rng.choice([20, 400, 4000]))
    return rng.choice([None, -1, 0.5, "squeezenet", {"weights": "http://x"}])


def mutate_sqz(data: bytes, rng: random.Random) -> bytes:
    try:
        magic, version, n = _SQZ_PREFIX.unpack_from(data)
        header = json.loads(zlib.decompress(data[_SQZ_PREFIX.size : _SQZ_PREFIX.size + n]))
        rest = data[_SQZ_PREFIX.size + n : -4]
    except Exception:
        return data
    if not isinstance(header, dict):
        return data
    tensors = header.get("tensors") if isinstance(header.get("tensors"), list) else []
    model = header.get("model") if isinstance(header.get("model"), dict) else {}
    spec = model.get("spec") if isinstance(model.get("spec"), dict) else model.get("kwargs")
    edit = rng.randrange(7)
    if edit == 0 and tensors:  # a tensor declaring a huge shape
        e = rng.choice(tensors)
        if isinstance(e, dict):
            e["shape"] = [rng.choice(_BIG) for _ in range(rng.randint(1, 4))]
    elif edit == 1 and tensors:  # a section declaring many symbols with no payload
        shared = [e for e in tensors if isinstance(e, dict) and e.get("encoding") == "shared"]
        if shared:
            section = hostile_section(rng)
            i = rng.randrange(len(shared))
            offset = sum(e.get("bytes", 0) for e in shared[:i] if isinstance(e.get("bytes"), int))
            size = shared[i].get("bytes", 0)
            if isinstance(size, int):
                rest = rest[:offset] + section + rest[offset + size :]
                shared[i]["bytes"] = len(section)
    elif edit == 2 and isinstance(spec, dict):  # architecture values at and past their caps
        key = rng.choice(
            [
                "num_fire",
                "pool_before",
                "stem_kernel",
                "stem_stride",
                "conv10_padding",
                "stem_padding",
                "base_e",
                "num_classes",
                "sr",
            ]
        )
        if key == "pool_before":
            spec[key] = list(range(rng.choice([20, 64, 65])))
            spec["num_fire"] = 64
        else:
            spec[key] = (
                rng.choice([64, 65, 65536, 100_000, 2**31])
                if rng.random() < 0.7
                else _hostile_value(rng)
            )
    elif edit == 3:  # an unknown or hostile value at a random place
        target = rng.choice([header, model, spec, rng.choice(tensors) if tensors else header])
        if isinstance(target, dict):
            key = rng.choice([*target.keys(), "extra", "weights"]) if target else "extra"
            target[key] = _hostile_value(rng)
    elif edit == 4:
        header["raw_bytes"] = rng.choice(_BIG)
    elif edit == 5 and rest:  # trailing or missing bytes in the body
        rest = (
            rest + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            if rng.random() < 0.5
            else rest[: rng.randrange(len(rest))]
        )
    else:
        header.setdefault("meta", {})
        if isinstance(header["meta"], dict):
            header["meta"]["note"] = _hostile_value(rng)
    try:
        text = json.dumps(header).encode()
    except (ValueError, RecursionError):
        return data
    hb = zlib.compress(text)
    body = _SQZ_PREFIX.pack(magic, version, len(hb)) + hb + rest
    return body + struct.pack("<I", zlib.crc32(body))


def fix_sqz_checksum(data: bytes) -> bytes:
    if len(data) < 4:
        return data
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def mutate_net(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 104:
        return data
    counts = list(struct.unpack_from("<26I", data))
    for _ in range(rng.randint(1, 3)):
        counts[rng.randrange(26)] = rng.choice(_BIG)
    return struct.pack("<26I", *[c & 0xFFFFFFFF for c in counts]) + data[104:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def mutate_image(data: bytes, rng: random.Random) -> bytes:
    w, h = rng.choice(
        [
            (1, 67_108_864),
            (67_108_864, 1),
            (3, 20_000),
            (20_000, 3),
            (8193, 8193),
            (30_000, 30_000),
            (1, 1),
            (2**31 - 1, 1),
            (0, 5),
        ]
    )
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        ihdr = struct.pack(">II", w, h) + data[24:29]
        return data[:8] + _png_chunk(b"IHDR", ihdr) + data[33:]
    if data.startswith(b"GIF") and len(data) > 10:
        return data[:6] + struct.pack("<HH", w & 0xFFFF, h & 0xFFFF) + data[10:]
    if data.startswith(b"BM") and len(data) > 26:
        return data[:18] + struct.pack("<ii", w & 0x7FFFFFFF, h & 0x7FFFFFFF) + data[26:]
    return data


def mutate_safetensors(data: bytes, rng: random.Random) -> bytes:
    try:
        (n,) = struct.unpack_from("<Q", data)
        header = json.loads(data[8 : 8 + n])
        body = data[8 + n :]
    except Exception:
        return data
    if not isinstance(header, dict) or not header:
        return data
    key = rng.choice(list(header))
    entry = header[key]
    if isinstance(entry, dict):
        field = rng.choice(["shape", "data_offsets", "dtype"])
        if field == "shape":
            entry["shape"] = [rng.choice(_BIG) for _ in range(rng.randint(0, 4))]
        elif field == "data_offsets":
            entry["data_offsets"] = [rng.choice(_BIG), rng.choice(_BIG)]
        else:
            entry["dtype"] = rng.choice(["F64", "C64", "BOOL", "I8", "F8_E4M3", "X"])
    else:
        header[key] = _hostile_value(rng)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def mutate_pth(data: bytes, rng: random.Random) -> bytes:
    """The state dict in ``data`` (or a one-tensor stand-in) with a hostile tensor, key or
    wrapping, saved again in the zip or the legacy format."""
    import io
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).parent.parent))
    from hostile_weights import _hostile_tensor

    try:
        state = torch.load(io.BytesIO(data), weights_only=True)
    except Exception:  # noqa: BLE001 - the engine's byte edits break most files
        state = None
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(v, torch.Tensor) and v.numel() <= 1 << 20 for v in state.values())
    ):
        # Not a small state dict (the engine's edits, or an expanded tensor an earlier
        # mutation made): start from a small one rather than materialise it.
        state = {"features.0.weight": torch.zeros(4, 3, 3, 3)}
    key = rng.choice(list(state))
    op = rng.randrange(4)
    if op < 2:
        state[key] = _hostile_tensor(rng, state[key])
    elif op == 2:
        state[rng.choice(["module." + str(key), "_orig_mod." + str(key), "", "x" * 300])] = (
            torch.ones(1)
        )
    else:
        state = {rng.choice(["model", "state_dict", "model_state_dict"]): state}
    buf = io.BytesIO()
    try:
        torch.save(state, buf, _use_new_zipfile_serialization=rng.random() < 0.8)
    except Exception:  # noqa: BLE001 - what torch cannot save, no one can hand us
        return data
    return buf.getvalue()


def mutate_onnx_meta(data: bytes, rng: random.Random) -> bytes:
    """An edit of an exported ONNX file's description (a hostile value for one of its
    entries, control characters in a class name) or of its input's channels and side."""
    import onnx

    try:
        model = onnx.load_from_string(data)
        key = model.metadata_props[0].key
        info = json.loads(model.metadata_props[0].value)
    except Exception:
        return data
    edit = rng.randrange(4)
    if edit == 0:
        section = rng.choice(["model", "classes", "preprocess"])
        if isinstance(info.get(section), dict) and info[section] and rng.random() < 0.7:
            info[section][rng.choice(sorted(info[section]))] = _hostile_value(rng)
        else:
            info[section] = _hostile_value(rng)
    elif edit == 1:
        info["classes"] = ["a", rng.choice(["\x1b]0;x\x07", "b\nc", "\x00"]), "c"]
    elif edit == 2 and isinstance(info.get("preprocess"), dict):
        info["preprocess"][rng.choice(["resize", "crop"])] = rng.choice([0, 8192, 2**31, 33])
    elif model.graph.input and len(model.graph.input[0].type.tensor_type.shape.dim) == 4:
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[rng.choice([1, 2, 3])].dim_value = rng.choice([1, 1000, 2**31 - 1, 64])
    try:
        text = json.dumps(info)
    except RecursionError:  # a nesting too deep for json.dumps: written by hand
        text = "[" * 10_000 + "]" * 10_000
    try:  # the engine's byte edits may have left fields protobuf will not write back
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, {key: text})
        return model.SerializeToString()
    except Exception:
        return data


STRUCTURED = {
    "pth": mutate_pth,
    "sqz": mutate_sqz,
    "net": mutate_net,
    "image": mutate_image,
    "safetensors": mutate_safetensors,
    "lite": mutate_sqz,
    "onnx_meta": mutate_onnx_meta,
}
