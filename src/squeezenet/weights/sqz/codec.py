"""Sparse weight-shared tensors and their byte encoding (Deep Compression sections 2-4).

A :class:`SharedTensor` is what pruning + trained quantization leave of a weight tensor: the
flat positions of its non-zero weights, a codebook of distinct non-zero float32 values and one
codebook index per non-zero weight. It is encoded as

* the codebook, sorted, as deltas of order-preserving integer keys of the float32 bit
  patterns (lossless, about half the size of raw floats);
* the relative position gaps (zeros between consecutive non-zeros), where gaps of ``E`` or
  more are split into escape symbols that each skip ``E`` positions - Deep Compression's
  filler entries, but without spending a codebook index on them;
* the codebook indices.

A tensor pruned kernel by kernel (every k x k kernel kept whole or dropped) is coded with
``block = k*k``: the gaps are then counted in kernels, not weights, so its positions cost a
fraction of a bit per kept weight. :func:`kernel_block` finds when that applies.

Sorting the codebook changes index values, never the decoded weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bits import decode_uints, encode_uints
from .bytestream import ByteReader, ByteWriter
from .entropy import MAX_ALPHABET, decode_symbols, encode_symbols

_SIGN = np.uint32(0x80000000)


def float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving map from float32 to uint32 (ascending floats -> ascending keys)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN).astype(np.uint32)


def keys_to_floats(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.uint32)
    return np.where(keys & _SIGN, keys & ~_SIGN, ~keys).astype(np.uint32).view(np.float32)


@dataclass
class SharedTensor:
    """A pruned, weight-shared tensor: ``dense().flat[positions] = codebook[indices]``."""

    shape: tuple[int, ...]
    codebook: np.ndarray  # float32[K], sorted ascending, distinct, non-zero
    positions: np.ndarray  # int64[n], strictly increasing flat C-order positions
    indices: np.ndarray  # int64[n], each < K

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))

    @property
    def density(self) -> float:
        return len(self.positions) / self.numel if self.numel else 0.0

    def dense(self) -> np.ndarray:
        flat = np.zeros(self.numel, dtype=np.float32)
        flat[self.positions] = self.codebook[self.indices]
        return flat.reshape(self.shape)

    @classmethod
    def from_dense(cls, array: np.ndarray, what: str = "tensor") -> SharedTensor:
        """Exact (lossless) form of an already pruned and weight-shared float32 array.

        Raises ValueError if it has more than 2**16 distinct non-zero values (it is then not
        weight-shared: compress it without --lossless) or non-finite values."""
        array = np.asarray(array, dtype=np.float32)
        flat = array.ravel()
        if not np.isfinite(flat).all():
            raise ValueError(f"{what}: has NaN or infinite values")
        positions = np.flatnonzero(flat)
        codebook, indices = np.unique(flat[positions], return_inverse=True)
        if len(codebook) > MAX_ALPHABET:
            raise ValueError(
                f"{what}: {len(codebook)} distinct non-zero values, more than the "
                f"{MAX_ALPHABET} a codebook holds: it is not weight-shared"
            )
        return cls(
            tuple(array.shape),
            codebook.astype(np.float32),
            positions,
            indices.astype(np.int64).ravel(),
        )


def _gap_symbols(positions: np.ndarray, escape: int) -> np.ndarray:
    gaps = np.diff(positions, prepend=-1) - 1
    n_escapes = gaps // escape
    rest = gaps % escape
    # Each gap becomes n_escapes[i] escape symbols followed by its remainder.
    lengths = n_escapes + 1
    out = np.full(int(lengths.sum()), escape, dtype=np.int64)
    out[np.cumsum(lengths) - 1] = rest
    return out


def _entropy_bits(symbols: np.ndarray) -> float:
    counts = np.bincount(symbols)
    p = counts[counts > 0] / len(symbols)
    return float(-(counts[counts > 0] * np.log2(p)).sum())


def _choose_escape(positions: np.ndarray) -> int:
    """The escape threshold E that minimises (entropy + rough model cost) of the gaps."""
    if len(positions) == 0:
        return 1
    max_gap = int((np.diff(positions, prepend=-1) - 1).max())
    # Capped at 256: longer escapes save little and make the model table (one count per
    # gap value, decoded per entry) long.
    candidates = {min(max_gap + 1, 256)} | {e for e in (8, 16, 32, 64, 128) if e <= max_gap}
    best: tuple[float, int] | None = None
    for e in sorted(candidates):
        cost = _entropy_bits(_gap_symbols(positions, e)) + 2.0 * (e + 1)
        if best is None or cost < best[0]:
            best = (cost, e)
    assert best is not None  # candidates is never empty
    return best[1]


def kernel_block(t: SharedTensor) -> int:
    """``k*k`` if ``t`` is a k x k convolution whose non-zeros fill whole kernels, else 1."""
    if len(t.shape) != 4 or t.shape[2] * t.shape[3] == 1 or not len(t.positions):
        return 1
    block = t.shape[2] * t.shape[3]
    if len(t.positions) % block:
        return 1
    rows = t.positions.reshape(-1, block)
    whole = (rows[:, 0] % block == 0) & (rows - rows[:, :1] == np.arange(block)).all(axis=1)
    return block if whole.all() else 1


def encode_shared(t: SharedTensor, coder: str, block: int = 1) -> bytes:
    """Encode ``t``; with ``block`` > 1 its positions must be whole aligned blocks of that
    many elements (see :func:`kernel_block`), and the gaps count blocks."""
    w = ByteWriter()
    n, k = len(t.positions), len(t.codebook)
    w.varint(n)
    w.varint(k)
    keys = float_keys(t.codebook).astype(np.int64)
    if k:
        w.blob(encode_uints(np.concatenate([keys[:1], np.diff(keys) - 1])))
    if n:
        units = t.positions
        if block > 1:
            if n % block or not np.array_equal(
                units, (units[::block, None] + np.arange(block)).ravel()
            ):
                raise ValueError(f"positions are not whole blocks of {block}")
            units = units[::block] // block
        escape = _choose_escape(units)
        gaps = _gap_symbols(units, escape)
        w.varint(escape)
        w.varint(len(gaps))
        encode_symbols(w, gaps, escape + 1, coder)
        encode_symbols(w, t.indices, k, coder)
    return w.getvalue()


def decode_shared(
    data: bytes | memoryview, shape: tuple[int, ...], coder: str, what: str, block: int = 1
) -> SharedTensor:
    """Inverse of :func:`encode_shared`; every size is checked against ``shape``."""
    r = ByteReader(data, what)
    numel = int(np.prod(shape))
    if block < 1 or numel % block:
        raise r.fail(f"block size {block} does not divide the tensor's {numel} elements")
    n = r.varint(limit=numel)
    if n % block:
        raise r.fail(f"{n} non-zeros are not whole blocks of {block}")
    k = r.varint(limit=min(n, MAX_ALPHABET))
    if (k == 0) != (n == 0):
        raise r.fail(f"{n} non-zeros but a codebook of {k} values")
    codebook = _decode_codebook(r, k) if k else np.zeros(0, dtype=np.float32)
    positions = np.zeros(0, dtype=np.int64)
    indices = np.zeros(0, dtype=np.int64)
    if n:
        positions = _decode_positions(r, numel, n, block, coder)
        indices = decode_symbols(r, k, n, coder)
    r.expect_end()
    return SharedTensor(tuple(shape), codebook, positions, indices)


def _decode_codebook(r: ByteReader, k: int) -> np.ndarray:
    """``k`` distinct, finite, non-zero float32 values, stored as increasing keys."""
    deltas = decode_uints(r, k, limit=0xFFFFFFFF)
    keys = np.cumsum(deltas + np.concatenate([[0], np.ones(k - 1, dtype=np.int64)]))
    if keys[-1] > 0xFFFFFFFF:
        raise r.fail("codebook keys out of range")
    codebook = keys_to_floats(keys.astype(np.uint32))
    if not np.isfinite(codebook).all() or (codebook == 0).any():
        raise r.fail("codebook has zero, NaN or infinite values")
    return codebook


def _decode_positions(r: ByteReader, numel: int, n: int, block: int, coder: str) -> np.ndarray:
    """The flat positions of ``n`` non-zeros (whole blocks of ``block``), from their gaps."""
    units, n_units = numel // block, n // block
    escape = r.varint(limit=max(units, 1))
    if escape < 1:
        raise r.fail("escape threshold must be positive")
    # Each escape skips >= 1 position, so a valid stream is at most `units` symbols long.
    m = r.varint(limit=units)
    if m < n_units:
        raise r.fail(f"{m} gap symbols for {n_units} non-zero blocks")
    if escape + 1 > MAX_ALPHABET + 1:
        raise r.fail(f"gap alphabet of {escape + 1} symbols is too large")
    gaps = decode_symbols(r, escape + 1, m, coder)
    is_entry = gaps != escape
    if int(is_entry.sum()) != n_units:
        raise r.fail(f"gap stream holds {int(is_entry.sum())} entries, expected {n_units}")
    ends = np.cumsum(np.where(is_entry, gaps + 1, escape))
    positions = ends[is_entry] - 1
    if positions[-1] >= units:
        raise r.fail(f"positions run past the tensor's {numel} elements")
    if block > 1:
        positions = (positions[:, None] * block + np.arange(block)).ravel()
    return positions
