"""The raw section of a ``.sqz``: every "raw" tensor (biases, ...) byte-shuffled and
compressed together, by the coder the file's version names.

Versions 1 and 2 use raw LZMA2 (preset 9e); version 3 uses raw DEFLATE (RFC 1951), which
web browsers decompress natively (``DecompressionStream("deflate-raw")``). On the shipped
ImageNet file DEFLATE costs 297 bytes more (0.06% of the file), so new files are version 3
and a decoder needs no LZMA (docs/sqz-format.md).
"""

from __future__ import annotations

import lzma
import zlib

from .errors import CompressedFormatError

#: The coder of the raw section, by format version.
RAW_CODERS = {1: "lzma", 2: "lzma", 3: "deflate"}
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_DEFLATE_WINDOW = -15  # negative: raw DEFLATE, no zlib header or Adler-32 (the file has a CRC)


def compress_raw(data: bytes, version: int) -> bytes:
    if RAW_CODERS[version] == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    deflater = zlib.compressobj(9, zlib.DEFLATED, _DEFLATE_WINDOW, 9)
    return deflater.compress(data) + deflater.flush()


def decompress_raw(section: bytes, expected: int, version: int, source: str) -> bytes:
    """The ``expected`` bytes the section holds; never inflates past them."""

    def fail(problem: str) -> CompressedFormatError:
        return CompressedFormatError(f"{source}: {problem}")

    try:
        if RAW_CODERS[version] == "lzma":
            lz = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            raw, ended, unused = lz.decompress(section, max_length=expected), lz.eof, lz.unused_data
        else:
            inflater = zlib.decompressobj(_DEFLATE_WINDOW)
            # One byte past `expected` tells a longer stream apart (and a limit of 0 would
            # mean none at all to zlib).
            raw = inflater.decompress(section, expected + 1)
            if len(raw) > expected:
                raise fail(f"raw-tensor section holds more than the expected {expected} bytes")
            ended, unused = inflater.eof, inflater.unused_data
    except (lzma.LZMAError, zlib.error) as err:
        raise fail(f"corrupt raw-tensor section ({err})") from None
    if len(raw) != expected or not ended:
        raise fail(f"raw-tensor section holds {len(raw)} bytes, expected {expected}")
    if unused:
        raise fail(f"{len(unused)} bytes after the raw-tensor section")
    return raw
