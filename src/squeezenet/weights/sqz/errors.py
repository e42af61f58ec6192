"""The error raised for compressed files that are truncated, corrupt or hostile."""

from __future__ import annotations

from ..errors import WeightsError


class CompressedFormatError(WeightsError):
    """A compressed weights file cannot be decoded; the message says where and why."""
