"""Entropy coders: exact round trips, sizes near the empirical entropy, corrupt payloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeezenet.weights.sqz import huffman
from squeezenet.weights.sqz.bits import decode_uints, encode_uints
from squeezenet.weights.sqz.bytestream import ByteReader, ByteWriter
from squeezenet.weights.sqz.entropy import decode_symbols, encode_symbols
from squeezenet.weights.sqz.errors import CompressedFormatError


def _roundtrip(symbols, alphabet, coder):
    w = ByteWriter()
    encode_symbols(w, symbols, alphabet, coder)
    data = w.getvalue()
    r = ByteReader(data, "stream")
    out = decode_symbols(r, alphabet, len(symbols), coder)
    r.expect_end()
    return data, out


@pytest.mark.parametrize("coder", ["ans", "huffman"])
@pytest.mark.parametrize("alphabet,n", [(256, 20000), (2, 1000), (1, 7), (17, 1), (9, 0)])
def test_symbols_roundtrip(coder, alphabet, n):
    rng = np.random.default_rng(alphabet + n)
    p = rng.dirichlet(np.ones(alphabet))
    symbols = rng.choice(alphabet, n, p=p)
    data, out = _roundtrip(symbols, alphabet, coder)
    np.testing.assert_array_equal(out, symbols)


def test_ans_is_near_entropy_and_beats_huffman_on_skewed_data():
    rng = np.random.default_rng(1)
    p = np.array([0.9, 0.05, 0.03, 0.02])
    symbols = rng.choice(4, 50000, p=p)
    counts = np.bincount(symbols, minlength=4)
    entropy_bytes = -(counts * np.log2(counts / counts.sum())).sum() / 8
    ans, _ = _roundtrip(symbols, 4, "ans")
    huff, _ = _roundtrip(symbols, 4, "huffman")
    assert len(ans) < entropy_bytes * 1.01 + 32
    # Huffman needs at least one bit per symbol: 6250 bytes for 50000 symbols.
    assert len(huff) >= 6250 > 1.5 * len(ans)


def test_huffman_lengths_are_a_complete_prefix_code_and_limited():
    counts = np.array([2**i for i in range(30)])  # Fibonacci-like skew: unlimited depth 29
    lengths = huffman.code_lengths(counts)
    assert lengths.max() <= huffman.MAX_LEN
    assert np.sum(2.0**-lengths) == 1.0
    assert huffman.check_lengths(lengths) is None
    assert huffman.check_lengths(np.array([1, 1, 1])) == "code lengths violate the Kraft inequality"


def test_canonical_codes_are_sorted_by_length_then_symbol():
    codes = huffman.canonical_codes(np.array([2, 1, 3, 3]))
    assert codes.tolist() == [0b10, 0b0, 0b110, 0b111]


@given(st.lists(st.integers(0, 2**40 - 1), max_size=50))
@settings(max_examples=50, deadline=None)
def test_exp_golomb_roundtrip(values):
    w = ByteWriter()
    w.blob(encode_uints(np.array(values, dtype=np.int64)))
    out = decode_uints(ByteReader(w.getvalue()), len(values), limit=2**40)
    assert out.tolist() == values


def test_table_values_over_the_limit_are_rejected():
    w = ByteWriter()
    w.blob(encode_uints(np.array([5, 1000])))
    with pytest.raises(CompressedFormatError, match="table value 1000 exceeds the limit 999"):
        decode_uints(ByteReader(w.getvalue()), 2, limit=999)


@pytest.mark.parametrize("coder", ["ans", "huffman"])
def test_corrupt_payload_is_detected(coder):
    rng = np.random.default_rng(2)
    symbols = rng.choice(16, 5000)
    data, _ = _roundtrip(symbols, 16, coder)
    for cut in (1, 7):
        with pytest.raises(CompressedFormatError):
            r = ByteReader(data[:-cut], "stream")
            decode_symbols(r, 16, len(symbols), coder)
    with pytest.raises(
        CompressedFormatError, match="counts sum to|more than the 2500-byte payload"
    ):
        decode_symbols(
            ByteReader(data, "stream"), 16, len(symbols) + 1, coder
        ) if coder == "ans" else decode_symbols(
            ByteReader(data, "stream"), 16, len(symbols) * 50, coder
        )


@given(st.binary(max_size=300), st.sampled_from(["ans", "huffman"]))
@settings(max_examples=200, deadline=None)
def test_decoder_fuzz_never_crashes(data, coder):
    try:
        out = decode_symbols(ByteReader(data, "fuzz"), 40, 100, coder)
    except CompressedFormatError:
        return
    assert out.shape == (100,) and out.min() >= 0 and out.max() < 40
