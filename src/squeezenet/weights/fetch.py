"""Download weights into torch hub's cache, with the sha256 check torchvision uses."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import torch.hub

from .errors import WeightsError

# torch hub convention: "name-<sha256 prefix>.ext" carries the expected hash in its name.
# A prefix of digits only is not taken for a hash: it is far likelier a date or a version
# ("model-20240101.pth"); such files are then cached by URL without a check.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")


def hash_in_name(filename: str) -> str | None:
    """The sha256 prefix a torch-hub style file name carries, if any."""
    m = _HASH_IN_NAME.search(filename)
    return m.group(1) if m and re.search("[a-f]", m.group(1)) else None


def cache_path(url: str, filename: str) -> Path:
    """Where ``url`` is cached: keyed by the full URL, so two URLs that end in the same file
    name never share a copy."""
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
            # Writes to a temp file and renames, so an interrupted download leaves nothing.
            torch.hub.download_url_to_file(url, str(dest), hash_prefix=None, progress=progress)
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
