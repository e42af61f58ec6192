"""The CPU a benchmark ran on, for its record: INT8, bf16 and timing figures depend on the
instruction set, so each names its CPU."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and its instruction-set flags (``avx2``, ``avx512_vnni``, ...)
    from /proc/cpuinfo; elsewhere the platform's name for it and no flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), set()
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    flags = next((ln for ln in lines if ln.startswith("flags")), "").split(":", 1)[-1].split()
    return name, set(flags)
