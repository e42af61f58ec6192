"""Generators of hostile weights files for the fuzz tests: structure-aware edits of a valid
compressed file (valid checksum, edited header), PyTorch state dicts with hostile shapes,
values and types, and Deep Compression ``.net`` files with edited counts and codebooks.

Each generator takes a ``random.Random`` (hypothesis supplies one in the quick tests; the
full run in ``test_fuzz_weights.py`` seeds its own) and writes one file."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from helpers import tiny_model
from squeezenet import create_model
from squeezenet.compress.pipeline import lossless
from squeezenet.weights.deep_compression import conv_layer_shapes
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.fileformat import MAGIC
from squeezenet.weights.sqz.modeldesc import describe_model


def _valid_sqz() -> bytes:
    rng = np.random.default_rng(0)
    state = {}
    for k, v in tiny_model().state_dict().items():
        if v.dim() >= 2:
            a = rng.normal(size=8).astype(np.float32)[rng.integers(0, 8, v.shape)]
            a[rng.random(v.shape) > 0.5] = 0
        else:
            a = rng.normal(size=v.shape).astype(np.float32)
        state[k] = torch.from_numpy(a)
    return fileformat.to_bytes(
        lossless(state, describe_model(tiny_model(), "squeezenet1_1"), "ans")
    )


VALID_SQZ = _valid_sqz()
_PREFIX = struct.Struct("<8sHI")


def _split(data: bytes) -> tuple[int, dict, bytes]:
    _, version, n = _PREFIX.unpack_from(data)
    header = json.loads(zlib.decompress(data[_PREFIX.size : _PREFIX.size + n]))
    return version, header, data[_PREFIX.size + n : -4]


def _join(version: int, text: bytes, rest: bytes) -> bytes:
    hb = zlib.compress(text)
    body = _PREFIX.pack(MAGIC, version, len(hb)) + hb + rest
    return body + struct.pack("<I", zlib.crc32(body))


URLS = [
    "http://127.0.0.1:1/evil.pth",
    "https://example.invalid/w-b8a52dc0.pth",
    "file:///etc/passwd",
    "/etc/passwd",
    "../../../../etc/shadow",
    "squeezenet1_1.tv_in1k",
    "builtins.eval",
    "os.system",
]
_BIG = "__BIG_INTEGER__"


def hostile_value(rng: random.Random) -> object:
    """A value a careless or hostile writer could put anywhere in a header."""
    kind = rng.randrange(11)
    if kind == 0:  # deep nesting
        depth = rng.choice([2, 9, 50, 900, 5000, 100_000])
        return json.loads("[" * depth + "]" * depth) if depth < 500 else ("NEST", depth)
    if kind == 1:
        return (_BIG, rng.choice([20, 400, 4301, 5000, 20_000]))
    if kind == 2:
        return rng.choice(URLS)
    if kind == 3:  # huge or degenerate shapes
        return rng.choice(
            [[2**31 - 1] * 4, [10**12], [1_500_000, 512, 1, 1], [10**9, 0, 1, 1], [0], [], [-1]]
        )
    if kind == 4:
        return rng.choice([None, True, False, 0, -1, 1.5, float("nan"), float("inf"), ""])
    if kind == 5:
        return rng.choice([{}, [], {"weights": rng.choice(URLS)}, [1, 2, 3], "x" * 10_000])
    if kind == 6:
        return rng.randrange(-(2**63), 2**63)
    if kind == 7:
        return {"name": "squeezenet1_1", "kwargs": {"weights": rng.choice(URLS)}}
    if kind == 8:
        return {"name": rng.choice(["squeezenet1_1", "alexnet", "x"]), "spec": rng.choice(URLS)}
    if kind == 9:
        return rng.choice(["shared", "raw", "float32", "int64", "bool", "huffman", "ans"])
    return rng.choice([2**31, 2**31 - 1, 10**6, 64, 1024, 100_001])


def _paths(header: dict) -> list[tuple]:
    """Every (container, key) in the header that an edit can replace."""
    out = []
    stack = [header]
    while stack:
        obj = stack.pop()
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for key, value in items:
            out.append((obj, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    return out


def _render(header: dict) -> bytes:
    text = json.dumps(header, allow_nan=True)
    # Values json cannot hold literally are spliced in as text.
    while '["__BIG_INTEGER__", ' in text:
        start = text.index('["__BIG_INTEGER__", ')
        end = text.index("]", start)
        digits = int(text[start + len('["__BIG_INTEGER__", ') : end])
        text = text[:start] + "9" * digits + text[end + 1 :]
    while '["NEST", ' in text:
        start = text.index('["NEST", ')
        end = text.index("]", start)
        depth = int(text[start + len('["NEST", ') : end])
        text = text[:start] + "[" * depth + "]" * depth + text[end + 1 :]
    return text.encode()


def hostile_sqz(rng: random.Random, path: Path) -> None:
    """A compressed file with a valid checksum and 1-4 structure-aware header edits (and now
    and then a few flipped body bytes)."""
    version, header, rest = _split(VALID_SQZ)
    for _ in range(rng.randint(1, 4)):
        paths = _paths(header)
        if rng.random() < 0.15:  # add an unexpected key somewhere
            dicts = [header] + [c[k] for c, k in paths if isinstance(c[k], dict)]
            container = rng.choice(dicts)
            container[rng.choice(["weights", "url", "spec", "kwargs", "block", "__class__"])] = (
                hostile_value(rng)
            )
            continue
        container, key = rng.choice(paths)
        if rng.random() < 0.1 and isinstance(container, dict):
            del container[key]
        else:
            container[key] = hostile_value(rng)
    body = bytearray(rest)
    if body and rng.random() < 0.2:
        for _ in range(rng.randint(1, 3)):
            body[rng.randrange(len(body))] = rng.randrange(256)
    if rng.random() < 0.1:
        version = rng.choice([0, 2, 3, 65535])
    path.write_bytes(_join(version, _render(header), bytes(body)))


def mutated_sqz_bytes(rng: random.Random, path: Path) -> None:
    """Byte-level mutations of a valid file, checksum recomputed (the parser is exercised)."""
    body = bytearray(VALID_SQZ[:-4])
    for _ in range(rng.randint(1, 4)):
        body[rng.randrange(len(body))] = rng.randrange(256)
    if rng.random() < 0.3:
        body = body[: rng.randrange(len(body) + 1)]
    path.write_bytes(bytes(body) + struct.pack("<I", zlib.crc32(bytes(body))))


def _hostile_tensor(rng: random.Random, like: torch.Tensor) -> object:
    kind = rng.randrange(12)
    if not isinstance(like, torch.Tensor):  # an earlier edit put a non-tensor here
        like = torch.zeros(3)
    shape = tuple(like.shape)
    if kind == 0:  # a few bytes on disk, a huge shape
        big = rng.choice([1_500_000, 10**9, 2**31])
        return torch.zeros(1).expand(big, *shape[1:]) if shape else torch.zeros(1).expand(big)
    if kind == 1:
        return torch.zeros(rng.choice([10**9, 2**40]), *[0] * max(len(shape) - 1, 1))
    if kind == 2:
        t = like.clone().float().reshape(-1)
        if t.numel():
            t[rng.randrange(t.numel())] = rng.choice([float("nan"), float("inf")])
        return t.reshape(like.shape)
    if kind == 3:
        return like.to(rng.choice([torch.float16, torch.bfloat16, torch.float64, torch.int64]))
    if kind == 4:
        return like.to(rng.choice([torch.bool, torch.uint8, torch.complex64]))
    if kind == 5:
        return torch.zeros(())
    if kind == 6:
        return torch.zeros(*[rng.randint(1, 9) for _ in range(rng.randint(1, 5))])
    if kind == 7:
        return rng.choice([[1, 2, 3], "x", 7, None, {"a": torch.zeros(2)}, (torch.zeros(1),)])
    if kind == 8:
        return like.t() if like.dim() == 2 else like.transpose(0, -1)
    if kind == 9:
        return torch.zeros(rng.randint(1, 3000), *shape[1:]) if shape else torch.zeros(3)
    if kind == 10:
        return like.reshape(-1)
    return like[..., :0] if shape else like


def hostile_pth(rng: random.Random, path: Path) -> None:
    """A PyTorch state dict (zip or legacy format, bare or in a checkpoint) with hostile
    tensors, keys and types."""
    original = tiny_model(rng.choice([7, 7, 1, 1000])).state_dict()
    state: dict = dict(original)
    keys = list(state)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(keys)
        op = rng.randrange(10)
        if op < 7:
            state[key] = _hostile_tensor(rng, original[key])
        elif op == 7:
            state.pop(key, None)
        elif op == 8:
            state[rng.choice(["module." + key, "_orig_mod." + key, "extra", ""])] = torch.ones(1)
        else:
            state[key] = _hostile_tensor(rng, original[key])
    obj: object = state
    wrap = rng.randrange(6)
    if wrap == 0:
        obj = {"model": state, "epoch": 3}
    elif wrap == 1:
        obj = {"state_dict": {"state_dict": state}}
    elif wrap == 2:
        obj = list(state.values())[:3]
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=rng.random() < 0.8)
    except Exception:  # noqa: BLE001 - what torch cannot save, no one can hand us
        torch.save({"w": torch.zeros(1)}, path)
    if rng.random() < 0.1:
        data = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data[: rng.randrange(len(data) + 1)]))


_NET_LAYERS = None


def hostile_net(rng: random.Random, path: Path) -> None:
    """A Deep Compression ``.net`` file (no checksum): edited entry counts, NaN or infinite
    codebooks, truncation, trailing bytes."""
    global _NET_LAYERS
    if _NET_LAYERS is None:
        with torch.device("meta"):
            _NET_LAYERS = conv_layer_shapes(create_model("squeezenet1_0"))
    counts = [rng.choice([0, 1, 2, 15, 16]) for _ in _NET_LAYERS]
    for _ in range(rng.randint(0, 2)):
        counts[rng.randrange(len(counts))] = rng.choice([2**32 - 1, 10**9, 2**20, 17])
    parts = [struct.pack(f"<{len(counts)}I", *counts)]
    for (_, shape), n in zip(_NET_LAYERS, counts):
        codebook = np.linspace(-1, 1, 256).astype("<f4")
        if rng.random() < 0.05:
            codebook[rng.randrange(256)] = rng.choice([np.nan, np.inf, -np.inf])
        parts.append(codebook.tobytes())
        parts.append(np.zeros(shape[0], "<f4").tobytes())
        n = min(n, 64)  # what the body really holds (counts may claim more)
        parts.append(bytes(rng.randrange(256) for _ in range(n)))
        parts.append(bytes(rng.randrange(256) for _ in range((n + 1) // 2)))
    data = bytearray(b"".join(parts))
    if rng.random() < 0.3:
        data = data[: rng.randrange(len(data) + 1)]
    if rng.random() < 0.1:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    path.write_bytes(bytes(data))


GENERATORS = {
    ".sqz header": (hostile_sqz, ".sqz"),
    ".sqz bytes": (mutated_sqz_bytes, ".sqz"),
    ".pth": (hostile_pth, ".pth"),
    ".net": (hostile_net, ".net"),
}
