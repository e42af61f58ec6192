"""Vectorised bit packing and Exp-Golomb codes for the small side tables (symbol counts,
Huffman code lengths, codebook deltas)."""

from __future__ import annotations

import numpy as np

from .bytestream import ByteReader


def pack_codes(codes: np.ndarray, lengths: np.ndarray) -> bytes:
    """Concatenate ``codes[i]`` written MSB-first in ``lengths[i]`` bits (each <= 64)."""
    codes = np.asarray(codes, dtype=np.uint64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return b""
    owner = np.repeat(np.arange(len(codes)), lengths)
    starts = np.cumsum(lengths) - lengths
    offset = np.arange(total, dtype=np.int64) - starts[owner]
    shift = (lengths[owner] - 1 - offset).astype(np.uint64)
    bits = ((codes[owner] >> shift) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits).tobytes()


def _exp_golomb(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    w = values.astype(np.uint64) + np.uint64(1 << k)
    nbits = np.floor(np.log2(w.astype(np.float64))).astype(np.int64) + 1
    # float log2 can be off by one just below powers of two: fix it exactly.
    nbits += (w >> nbits.astype(np.uint64)) > 0
    nbits -= (w >> (nbits - 1).astype(np.uint64)) == 0
    return w, 2 * nbits - k - 1


def encode_uints(values: np.ndarray) -> bytes:
    """Non-negative ints (< 2**40) as Exp-Golomb codes with the best order k (first byte)."""
    values = np.asarray(values, dtype=np.int64)
    if len(values) and (values.min() < 0 or values.max() >= 1 << 40):
        raise ValueError("encode_uints takes integers in [0, 2**40)")
    best = None
    for k in range(0, 41):
        w, lengths = _exp_golomb(values, k)
        size = int(lengths.sum())
        if best is None or size < best[0]:
            best = (size, k, w, lengths)
        elif size > best[0]:
            break  # the total is unimodal in k
    _, k, w, lengths = best
    return bytes([k]) + pack_codes(w, lengths)


def decode_uints(reader: ByteReader, count: int, limit: int) -> np.ndarray:
    """Read ``count`` values written by :func:`encode_uints` from a blob of ``reader``;
    each must be <= ``limit``."""
    blob = reader.blob()
    if not blob and count:
        raise reader.fail("empty integer table")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    k = blob[0]
    if k > 40:
        raise reader.fail(f"bad Exp-Golomb order {k}")
    bits = np.unpackbits(np.frombuffer(blob[1:], dtype=np.uint8))
    ones = np.flatnonzero(bits)
    out = np.empty(count, dtype=np.int64)
    pos = 0
    n_bits = len(bits)
    for i in range(count):
        j = int(np.searchsorted(ones, pos))  # the next 1 bit ends the unary prefix
        if j >= len(ones):
            raise reader.fail("truncated integer table")
        zeros = int(ones[j]) - pos
        width = zeros + k + 1
        if width > 41 or pos + zeros + width > n_bits:
            raise reader.fail("corrupt integer table")
        start = pos + zeros
        w = 0
        for b in bits[start:start + width]:
            w = (w << 1) | int(b)
        value = w - (1 << k)
        if value > limit:
            raise reader.fail(f"table value {value} exceeds the limit {limit}")
        out[i] = value
        pos = start + width
    return out
