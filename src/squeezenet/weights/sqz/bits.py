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
    best: tuple[int, int, np.ndarray, np.ndarray] | None = None
    for k in range(0, 41):
        w, lengths = _exp_golomb(values, k)
        size = int(lengths.sum())
        if best is None or size < best[0]:
            best = (size, k, w, lengths)
        elif size > best[0]:
            break  # the total is unimodal in k
    assert best is not None  # k = 0 is always tried
    _, k, w, lengths = best
    return bytes([k]) + pack_codes(w, lengths)


def decode_uints(reader: ByteReader, count: int, limit: int) -> np.ndarray:
    """Read ``count`` values written by :func:`encode_uints` from a blob of ``reader``;
    each must be <= ``limit``."""
    blob = reader.blob()
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    if not blob:
        raise reader.fail("empty integer table")
    k = blob[0]
    if k > 40:
        raise reader.fail(f"bad Exp-Golomb order {k}")
    bits = np.unpackbits(np.frombuffer(blob[1:], dtype=np.uint8))
    n_bits = len(bits)
    # next_one[p]: position of the first 1 bit at or after p (n_bits if none).
    pos = np.where(bits == 1, np.arange(n_bits), n_bits)
    next_one = np.minimum.accumulate(pos[::-1])[::-1].tolist() + [n_bits]
    # Walk the code starts (a cheap integer loop; the values are extracted vectorised).
    ones = [0] * count
    widths = [0] * count
    p = 0
    for i in range(count):
        if p > n_bits:
            raise reader.fail("truncated integer table")
        o = next_one[p]
        w = o - p + k + 1
        ones[i], widths[i] = o, w
        p = o + w
    if p > n_bits:
        raise reader.fail("truncated integer table")
    starts = np.asarray(ones, dtype=np.int64)
    widths_a = np.asarray(widths, dtype=np.int64)
    if widths_a.max() > 41:
        raise reader.fail("corrupt integer table")
    values = np.zeros(count, dtype=np.int64)
    for j in range(int(widths_a.max())):
        take = j < widths_a
        values[take] = (values[take] << 1) | bits[starts[take] + j]
    values -= 1 << k
    bad = np.flatnonzero(values > limit)
    if len(bad):
        raise reader.fail(f"table value {int(values[bad[0]])} exceeds the limit {limit}")
    return values
