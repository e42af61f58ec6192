"""Entropy coding of symbol streams (codebook indices, position gaps).

Two coders share one interface:

* ``huffman``: canonical Huffman codes, as in Deep Compression section 4;
* ``ans``: range-asymmetric numeral systems (rANS) with a static per-stream categorical model
  built from the exact symbol counts, via the ``constriction`` library (Rust, vectorised).
  It codes within a fraction of a percent of the empirical entropy, where Huffman loses up
  to one bit per symbol, so it is the default when ``constriction`` is installed.

Each stream stores its own model (counts or code lengths, Exp-Golomb coded) then its payload.
"""

from __future__ import annotations

import numpy as np

from . import huffman
from .bits import decode_uints, encode_uints
from .bytestream import ByteReader, ByteWriter

CODERS = ("ans", "huffman")
MAX_ALPHABET = 1 << 16


def ans_available() -> bool:
    try:
        import constriction  # noqa: F401
    except ImportError:
        return False
    return True


def default_coder() -> str:
    return "ans" if ans_available() else "huffman"


def _require_constriction():
    try:
        import constriction
    except ImportError:
        raise ValueError(
            "the 'ans' coder needs the constriction package (pip install constriction); "
            "use --coder huffman otherwise"
        ) from None
    return constriction


def _ans_model(counts: np.ndarray):
    constriction = _require_constriction()
    probs = counts.astype(np.float64) / float(counts.sum())
    # perfect=False: the fast, deterministic quantisation constriction recommends.
    return constriction.stream.model.Categorical(probs, perfect=False)


def _ans_encode(symbols: np.ndarray, counts: np.ndarray) -> bytes:
    constriction = _require_constriction()
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(symbols.astype(np.int32), _ans_model(counts))
    return coder.get_compressed().astype("<u4").tobytes()


def _ans_decode(data: memoryview, counts: np.ndarray, n: int) -> np.ndarray | None:
    constriction = _require_constriction()
    if len(data) % 4:
        return None
    words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        return coder.decode(_ans_model(counts), n).astype(np.int64)
    except Exception:  # constriction rejects malformed streams with assorted errors
        return None


# Bits a rANS stream may save below its model's information content: the coder's final
# state (two 32-bit words) plus rounding.
_ANS_SLACK_BITS = 128


def _check_ans_payload(r: ByteReader, counts: np.ndarray, payload_bytes: int) -> None:
    """Refuse counts the payload cannot encode. With a static model, coding symbols costs
    their cross-entropy under the (quantised) model, which is never below the empirical
    entropy of the exact counts (Gibbs' inequality); so ``n * H`` bits bound the payload
    from below, and a few bytes cannot declare millions of symbols."""
    c = counts.astype(np.float64)
    n = float(c.sum())
    info_bits = float((c * np.log2(n / c)).sum())
    if info_bits > 8 * payload_bytes + _ANS_SLACK_BITS:
        raise r.fail(
            f"{int(n)} symbols declared, more than the {payload_bytes}-byte payload holds "
            f"(their counts need {info_bits / 8:,.0f} bytes)"
        )


def encode_symbols(w: ByteWriter, symbols: np.ndarray, alphabet: int, coder: str) -> None:
    """Append the model and the coded ``symbols`` (each < ``alphabet``) to ``w``."""
    if coder not in CODERS:
        raise ValueError(f"unknown coder {coder!r}; choose from {CODERS}")
    symbols = np.asarray(symbols, dtype=np.int64)
    counts = np.bincount(symbols, minlength=alphabet)
    if coder == "ans":
        w.blob(encode_uints(counts))
        # A stream of one repeated symbol costs nothing beyond its model.
        w.blob(b"" if np.count_nonzero(counts) <= 1 else _ans_encode(symbols, counts))
    else:
        lengths = huffman.code_lengths(counts)
        w.blob(encode_uints(lengths))
        w.blob(b"" if np.count_nonzero(counts) <= 1 else huffman.encode(symbols, lengths))


def decode_symbols(r: ByteReader, alphabet: int, n: int, coder: str) -> np.ndarray:
    """Read what :func:`encode_symbols` wrote: ``n`` symbols below ``alphabet``."""
    if coder == "ans":
        counts = decode_uints(r, alphabet, limit=n)
        if int(counts.sum()) != n:
            raise r.fail(f"symbol counts sum to {int(counts.sum())}, expected {n}")
        payload = r.blob()
        used = np.flatnonzero(counts)
        if len(used) <= 1:
            return np.full(n, used[0] if len(used) else 0, dtype=np.int64)
        _check_ans_payload(r, counts[used], len(payload))
        out = _ans_decode(payload, counts, n)
        # The exact counts double as an integrity check on the payload.
        if out is None or not np.array_equal(np.bincount(out, minlength=alphabet), counts):
            raise r.fail("corrupt ANS payload")
        return out
    if coder == "huffman":
        lengths = decode_uints(r, alphabet, limit=huffman.MAX_LEN)
        problem = huffman.check_lengths(lengths)
        if problem:
            raise r.fail(problem)
        payload = r.blob()
        used = np.flatnonzero(lengths)
        if len(used) <= 1:
            if n and not len(used):
                raise r.fail("symbols declared but no Huffman codes")
            return np.full(n, used[0] if len(used) else 0, dtype=np.int64)
        # Every symbol costs at least the shortest code length: a declared count the
        # payload cannot hold is refused before anything of that size is allocated.
        if n * int(lengths[used].min()) > 8 * len(payload):
            raise r.fail(f"{n} symbols declared, more than the {len(payload)}-byte payload holds")
        out = huffman.decode(bytes(payload), lengths, n)
        if out is None:
            raise r.fail("corrupt Huffman payload")
        return out
    raise r.fail(f"unknown coder {coder!r}")
