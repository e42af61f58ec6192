"""Atomic file writes: every file the package writes goes through :func:`atomic_path`.

A write goes to a temporary file in the destination's folder and is moved over the
destination (``os.replace``) only when complete, so an interrupted run never leaves a
truncated model, checkpoint or report behind, and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix, so writers that go by the
    suffix still work); it replaces ``path`` only if the block succeeds, and is removed
    otherwise. The file gets the permissions a plain ``open`` would (umask), not
    ``mkstemp``'s private 0600."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> int:
    """Write ``data`` atomically; returns its length."""
    with atomic_path(path, mkdir=mkdir) as tmp:
        tmp.write_bytes(data)
    return len(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def torch_save(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
