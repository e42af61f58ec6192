"""Bounds-checked little-endian byte writer/reader with LEB128 varints.

Every read checks the remaining length first, so a truncated or hostile file raises
:class:`CompressedFormatError` instead of reading garbage or allocating what a size field
claims.
"""

from __future__ import annotations

import struct

import numpy as np

from .errors import CompressedFormatError


class ByteWriter:
    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def raw(self, data: bytes) -> None:
        self._parts.append(bytes(data))

    def u8(self, v: int) -> None:
        self._parts.append(struct.pack("<B", v))

    def u32(self, v: int) -> None:
        self._parts.append(struct.pack("<I", v))

    def varint(self, v: int) -> None:
        if v < 0:
            raise ValueError(f"varint must be non-negative, got {v}")
        out = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            out.append(byte | (0x80 if v else 0))
            if not v:
                break
        self._parts.append(bytes(out))

    def blob(self, data: bytes) -> None:
        """A varint length followed by the bytes."""
        self.varint(len(data))
        self.raw(data)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class ByteReader:
    def __init__(self, data: bytes | memoryview, what: str = "data") -> None:
        self._data = memoryview(data)
        self._pos = 0
        self.what = what  # named in error messages, e.g. "layer features.3.squeeze"

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def fail(self, problem: str) -> CompressedFormatError:
        return CompressedFormatError(f"{self.what}: {problem}")

    def raw(self, n: int) -> memoryview:
        if n < 0 or n > self.remaining:
            raise self.fail(
                f"truncated (needs {n} bytes at offset {self._pos}, {self.remaining} left)"
            )
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self) -> int:
        return self.raw(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.raw(4))[0]

    def varint(self, limit: int = 1 << 62) -> int:
        """Read a varint and check it against ``limit`` (a sanity bound for sizes)."""
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise self.fail("malformed varint (more than 9 bytes)")
        if value > limit:
            raise self.fail(f"declared size {value} exceeds the limit {limit}")
        return value

    def blob(self, limit: int | None = None) -> memoryview:
        n = self.varint(self.remaining if limit is None else min(limit, self.remaining))
        return self.raw(n)

    def array(self, dtype: str, count: int) -> np.ndarray:
        item = np.dtype(dtype).itemsize
        return np.frombuffer(self.raw(item * count), dtype=dtype, count=count).copy()

    def expect_end(self) -> None:
        if self.remaining:
            raise self.fail(f"{self.remaining} unexpected trailing bytes")
