"""Download weights into torch hub's cache, with the sha256 check torchvision uses."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import WeightsError

# torch hub convention: "name-<sha256 prefix>.ext" carries the expected hash in its name.
# A prefix of digits only is not taken for a hash: it is far likelier a date or a version
# ("model-20240101.pth"); such files are then cached by URL without a check.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")
# A server that accepts and never answers, or stops sending, must not hang a command: the
# most seconds to connect, for the response to start, and between two reads of the body.
TIMEOUT = 60.0
# Weights files are at most MAX_PARAMETERS float32 values (1 GiB) plus their container.
MAX_DOWNLOAD_BYTES = (1 << 30) + (64 << 20)


def hash_in_name(filename: str) -> str | None:
    """The sha256 prefix a torch-hub style file name carries, if any."""
    m = _HASH_IN_NAME.search(filename)
    return m.group(1) if m and re.search("[a-f]", m.group(1)) else None


def cache_path(url: str, filename: str) -> Path:
    """Where ``url`` is cached: keyed by the full URL, so two URLs that end in the same file
    name never share a copy."""
    import torch.hub  # here, not above: the package imports this module without torch

    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(torch.hub.get_dir()) / "checkpoints" / key / filename


def is_url(source: str) -> bool:
    return urlparse(str(source)).scheme in ("http", "https", "file", "ftp")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_hash(path: str | os.PathLike, expected: str) -> None:
    """Raise WeightsError unless the file's sha256 starts with ``expected``."""
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise WeightsError(
            f"{path}: sha256 mismatch (expected prefix {expected}, got {actual}); "
            "the file is corrupt or not the one the record names"
        )


def fetch(url: str, sha256: str | None = None, progress: bool = True) -> Path:
    """Return a local copy of ``url`` in ``$TORCH_HOME/hub/checkpoints``, downloading it once.

    The hash is ``sha256`` if given, else the prefix in the file name (torch hub convention).
    The cache is keyed by the full URL. A cached file is re-checked; a download that fails
    the check is deleted, never kept.
    """
    filename = os.path.basename(urlparse(url).path)
    if not filename:
        raise WeightsError(f"{url}: the URL names no file")
    expected = sha256 if sha256 is not None else hash_in_name(filename)
    dest = cache_path(url, filename)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"{url}: cannot create the cache folder {dest.parent} ({e})") from None
    if not dest.exists():
        try:
            download(url, dest, progress)
        except WeightsError:
            raise
        except Exception as e:  # urllib raises a zoo of types; name the URL whatever it was
            raise WeightsError(
                f"{url}: download failed ({e}); check the network connection, or download "
                "the file another way and pass its path"
            ) from e
    if expected:
        try:
            check_hash(dest, expected)
        except WeightsError as e:
            dest.unlink(missing_ok=True)
            raise WeightsError(f"{url}: {e}; the downloaded file was removed") from None
    return dest


def download(url: str, dest: Path, progress: bool = True) -> None:
    """Download ``url`` to ``dest`` through a temporary file (an interrupted download leaves
    nothing), with connect and read timeouts and a size cap; a WeightsError says which
    limit was hit."""
    from ..files import atomic_path

    def fail(problem: str) -> WeightsError:
        return WeightsError(f"{url}: download failed: {problem}")

    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.URLError as e:
        if isinstance(e.reason, (socket.timeout, TimeoutError)):
            raise fail(f"no connection within {TIMEOUT:g} s (connect timeout)") from None
        raise
    except TimeoutError:
        # urllib lets a timeout while waiting for the response headers through unwrapped.
        raise fail(f"connected, but no response within {TIMEOUT:g} s (read timeout)") from None
    with response:
        length = response.headers.get("Content-Length") if response.headers else None
        if length is not None and length.isdigit() and int(length) > MAX_DOWNLOAD_BYTES:
            raise fail(
                f"{int(length):,} bytes, over the limit of {MAX_DOWNLOAD_BYTES:,} (size cap)"
            )
        # read1: whatever has arrived (read(n) would wait for all n bytes or the end).
        read = getattr(response, "read1", response.read)
        with atomic_path(dest, mkdir=False, what="the download") as tmp, open(tmp, "wb") as f:
            total = 0
            while True:
                try:
                    chunk = read(1 << 20)
                except TimeoutError:
                    raise fail(
                        f"no data for {TIMEOUT:g} s after {total:,} bytes (read timeout)"
                    ) from None
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise fail(f"more than {MAX_DOWNLOAD_BYTES:,} bytes (size cap)")
                f.write(chunk)
                if progress and sys.stderr.isatty():
                    print(
                        f"\rdownloading {dest.name}: {total / 1e6:.1f} MB", end="", file=sys.stderr
                    )
            if progress and sys.stderr.isatty():
                print(file=sys.stderr)
