"""Where the exported page gets ONNX Runtime Web: a pinned CDN URL with its integrity hash
(the default), or a copy of a local ``npm install onnxruntime-web`` (``--runtime-dir``).

Nothing is downloaded here: the hash below was computed from the npm package's file, which
the CDN serves byte for byte; a browser refuses the script if it differs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

#: The onnxruntime-web release the page is written and tested against.
VERSION = "1.31.1"
#: Its WebAssembly-only build (no WebGL/WebGPU code) on jsDelivr, which mirrors npm.
CDN_BASE = f"https://cdn.jsdelivr.net/npm/onnxruntime-web@{VERSION}/dist/"
SCRIPT = "ort.wasm.min.js"
#: Subresource integrity of ``SCRIPT`` in that release (sha384 of the npm package's file).
INTEGRITY = "sha384-tNxIwEqSlcdvKtUte98AsccPbDKM958LBXB/+3BLS42TTihXHKTWgdqPqXI/lot8"
#: What the script loads next (SIMD WebAssembly; threaded when the page is cross-origin
#: isolated): copied with it for offline use.
FILES = (SCRIPT, "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
#: The folder of the page that holds a local copy.
LOCAL_DIR = "ort"


class RuntimeDirError(ValueError):
    """``--runtime-dir`` is not an onnxruntime-web install."""


@dataclass(frozen=True)
class Runtime:
    """The page's ``<script>`` (``src``, ``integrity``) and the base of the WebAssembly files;
    ``version`` is the release, ``local`` whether the page carries its own copy."""

    src: str
    integrity: str
    wasm_base: str
    version: str
    local: bool


def cdn_runtime() -> Runtime:
    return Runtime(CDN_BASE + SCRIPT, INTEGRITY, CDN_BASE, VERSION, local=False)


def find_package(folder: Path) -> Path:
    """The onnxruntime-web package in ``folder``: the package itself, or a project where
    ``npm install onnxruntime-web`` ran (``node_modules/onnxruntime-web``)."""
    for candidate in (folder, folder / "node_modules" / "onnxruntime-web"):
        if (candidate / "dist" / SCRIPT).is_file():
            return candidate
    raise RuntimeDirError(
        f"{folder}: no onnxruntime-web here (looked for dist/{SCRIPT} in it and in "
        f"node_modules/onnxruntime-web); run `npm install onnxruntime-web@{VERSION}` in it"
    )


def copy_runtime(folder: Path, page: Path) -> Runtime:
    """Copy the runtime files of the package in ``folder`` into ``page``/ort/."""
    package = find_package(folder)
    missing = [f for f in FILES if not (package / "dist" / f).is_file()]
    if missing:
        raise RuntimeDirError(f"{package}: dist/{missing[0]} is missing (a broken install?)")
    try:
        version = str(json.loads((package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        version = "unknown"
    target = page / LOCAL_DIR
    target.mkdir(exist_ok=True)
    for name in FILES:
        shutil.copyfile(package / "dist" / name, target / name)
    digest = hashlib.sha384((target / SCRIPT).read_bytes()).digest()
    integrity = "sha384-" + base64.b64encode(digest).decode()
    return Runtime(f"{LOCAL_DIR}/{SCRIPT}", integrity, f"{LOCAL_DIR}/", version, local=True)
