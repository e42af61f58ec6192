"""Atomic file writes: every file the package writes goes through :func:`atomic_path`.

A write goes to a temporary file in the destination's folder and is moved over the
destination (``os.replace``) only when complete, so an interrupted run never leaves a
truncated model, checkpoint or report behind, and a reader never sees half a file. A write
that fails raises :class:`OutputError` naming the destination (never the temporary file) and
saying whether its previous version is still there, intact.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(OSError):
    """A file or folder cannot be written; the message names it and the reason."""


def output_error(path: str | os.PathLike, error: BaseException, what: str = "") -> OutputError:
    """An :class:`OutputError` for ``path`` from the exception a write raised (a temporary
    file's ``OSError`` names the temporary file; ``torch.save`` raises ``RuntimeError``
    without any path)."""
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    kept = " (the previous version is kept)" if Path(path).is_file() else ""
    return OutputError(f"{path}: cannot write {what or 'the file'}: {reason}{kept}")


def check_not_input(
    output: str | os.PathLike, inputs: dict[str, str | os.PathLike | None], flag: str = "-o"
) -> None:
    """Refuse an ``output`` that is one of ``inputs`` ({what it is: path}), whatever the
    paths say (a link, ``./``, a hard link: the same file): writing it would replace a
    file the command reads, and a failed run would lose both."""
    for what, path in inputs.items():
        if path is None:
            continue
        try:
            same = os.path.samefile(output, path)
        except OSError:  # either is absent (or a registered name, a URL): not the same file
            continue
        if same:
            raise OutputError(
                f"{output}: {flag} is the {what} {path}; writing it would replace the "
                f"{what}: choose another {flag}"
            )


def make_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``mkdir -p`` whose failure (a file in the way, no permission) names ``path``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocked = path.exists() or any(p.exists() and not p.is_dir() for p in path.parents)
        reason = "a file is in the way" if blocked else e.strerror
        raise OutputError(f"{path}: cannot create the {what}: {reason}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write into the {what}: permission denied")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mkdir: bool = True, what: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix, so writers that go by the
    suffix still work); it replaces ``path`` only if the block succeeds, and is removed
    otherwise. The file gets the permissions a plain ``open`` would (umask), not
    ``mkstemp``'s private 0600. An ``OSError`` becomes an :class:`OutputError` naming
    ``path`` (``what`` it is: "the checkpoint"; default "the file")."""
    path = Path(path)
    if mkdir:
        make_folder(path.parent)
    remove_stale_temporaries(path)
    try:
        # The writer's process id in the name tells a later write whether it is stale.
        prefix = f".{path.stem}.{os.getpid()}."
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=path.parent)
    except OSError as e:
        raise output_error(path, e, what) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        # Again after writing: some writers (safetensors) replace the file with a 0600 one.
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as e:
        raise output_error(path, e, what) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of earlier writes of ``path`` whose process no longer
    runs (killed mid-write: nothing else would ever remove them); returns them."""
    pattern = re.compile(
        rf"\.{re.escape(path.stem)}\.(\d+)\.[a-z0-9_]{{8}}{re.escape(path.suffix)}"
    )
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or _running(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> int:
    """Write ``data`` atomically; returns its length."""
    with atomic_path(path, mkdir=mkdir) as tmp:
        tmp.write_bytes(data)
    return len(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def torch_save(obj: object, path: str | os.PathLike, what: str = "") -> None:
    """``torch.save`` atomically."""
    import torch

    with atomic_path(path, what=what) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as e:  # torch's writer reports a failed write this way
            raise output_error(path, e, what) from None
