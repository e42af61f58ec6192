"""The one parser of device names (``--device``, the ``device`` setting); torch-free, so
that a misspelt device is a usage error before PyTorch loads."""

from __future__ import annotations

import re

DEVICES = "auto, cpu, cuda, cuda:N or mps"


def check_device(spec: str) -> tuple[str, int | None]:
    """``spec`` as (type, index): ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; any
    other name (``tpu``, ``meta``, ``cpu:5``) is a ValueError naming the choices."""
    match = re.fullmatch(r"(auto|cpu|cuda|mps)(?::(\d{1,4}))?", spec)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ValueError(f"unknown device {spec!r}: expected {DEVICES}")
    index = match.group(2)
    return match.group(1), None if index is None else int(index)
