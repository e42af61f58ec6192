"""Canonical Huffman coding (Deep Compression section 4): code lengths from symbol counts,
canonical code assignment, vectorised encoding and table-driven decoding.

Code lengths are limited to ``MAX_LEN`` bits so the decoder needs one 2**MAX_LEN lookup
table; only the lengths are stored, the codes follow from them (canonical order).
"""

from __future__ import annotations

import heapq

import numpy as np

from .bits import pack_codes

MAX_LEN = 16


def code_lengths(counts: np.ndarray, max_len: int = MAX_LEN) -> np.ndarray:
    """Huffman code length of each symbol (0 for unused symbols)."""
    counts = np.asarray(counts, dtype=np.int64)
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), dtype=np.int64)
    if len(used) == 1:
        lengths[used] = 1
    if len(used) <= 1:
        return lengths
    weights = counts[used].copy()
    while True:
        # Heap of (weight, tiebreak, symbols under this node).
        heap = [(int(w), i, [i]) for i, w in enumerate(weights)]
        heapq.heapify(heap)
        depth = np.zeros(len(used), dtype=np.int64)
        tiebreak = len(heap)
        while len(heap) > 1:
            w1, _, s1 = heapq.heappop(heap)
            w2, _, s2 = heapq.heappop(heap)
            merged = s1 + s2
            depth[merged] += 1
            heapq.heappush(heap, (w1 + w2, tiebreak, merged))
            tiebreak += 1
        if depth.max() <= max_len:
            lengths[used] = depth
            return lengths
        # Too deep: flatten the distribution and retry (keeps every symbol codable).
        weights = (weights + 1) // 2


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical codes: symbols sorted by (length, symbol) get consecutive codes."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(len(lengths), dtype=np.uint64)
    code = 0
    prev_len = 0
    for sym in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[sym]) - prev_len
        prev_len = int(lengths[sym])
        codes[sym] = code
        code += 1
    return codes


def check_lengths(lengths: np.ndarray) -> str | None:
    """Why ``lengths`` is not a valid prefix code (None when it is)."""
    if len(lengths) and (lengths.min() < 0 or lengths.max() > MAX_LEN):
        return f"code lengths outside 0..{MAX_LEN}"
    used = lengths[lengths > 0]
    if len(used) and np.sum(2.0**-used) > 1.0:
        return "code lengths violate the Kraft inequality"
    return None


def encode(symbols: np.ndarray, lengths: np.ndarray) -> bytes:
    codes = canonical_codes(lengths)
    return pack_codes(codes[symbols], lengths[symbols])


def decode(data: bytes, lengths: np.ndarray, n: int) -> np.ndarray | None:
    """Decode ``n`` symbols; None if the data runs out or hits an unassigned code."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    codes = canonical_codes(lengths)
    # Lookup tables indexed by the next MAX_LEN bits: the symbol and its code length.
    sym_lut = np.zeros(1 << MAX_LEN, dtype=np.int64)
    len_lut = np.zeros(1 << MAX_LEN, dtype=np.int64)  # 0 = no code starts this way
    for sym in np.flatnonzero(lengths):
        shift = MAX_LEN - int(lengths[sym])
        lo = int(codes[sym]) << shift
        sym_lut[lo : lo + (1 << shift)] = sym
        len_lut[lo : lo + (1 << shift)] = lengths[sym]
    raw = np.frombuffer(data, dtype=np.uint8)
    n_bits = 8 * len(raw)
    padded = np.concatenate([raw, np.zeros(3, dtype=np.uint8)]).astype(np.uint32)
    # The MAX_LEN-bit window starting at every bit position, in a few array operations.
    p = np.arange(n_bits, dtype=np.int64)
    byte = p >> 3
    v24 = (padded[byte] << 16) | (padded[byte + 1] << 8) | padded[byte + 2]
    window = (v24 >> (8 - (p & 7)).astype(np.uint32)) & ((1 << MAX_LEN) - 1)
    step = len_lut[window].tolist()
    # Walking the chain of code starts is inherently sequential; it is a tight loop over
    # a Python list (the stronger ANS coder is the fast default).
    starts = [0] * n
    pos = 0
    try:
        for i in range(n):
            starts[i] = pos
            s = step[pos]
            if s == 0:
                return None
            pos += s
    except IndexError:
        return None
    if pos > n_bits:
        return None
    return sym_lut[window[np.asarray(starts, dtype=np.int64)]]
