"""``squeezenet export -f web``: a folder any static server serves, in which a page classifies
the user's photos with the model, its ``.sqz`` decoded in JavaScript.

The folder::

    index.html  app.js  sqz.js  preprocess.js   the page (ES modules, no build step)
    model.onnx      the weightless graph; each weight reads from ``weights.bin``, a buffer
                    the page fills at the offsets manifest.json lists
    model.sqz       the compressed weights as given (a version 1 or 2 file rewritten as
                    version 3, whose raw section browsers inflate natively), or
    weights.fp16.bin  for other weights files: every float tensor as float16
    manifest.json   those files, the tensors' layout, class names, preprocessing, runtime
    ort/            ONNX Runtime Web, with --runtime-dir (else it comes from a CDN)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from ...files import OutputError
from ...lite import Classifier, graph_architecture
from ...lite.preprocess import Preprocessing
from ...weights.sqz import fileformat
from ...weights.sqz.codec import SharedTensor
from .runtime import Runtime, cdn_runtime, copy_runtime

#: The page's own files (package data of squeezenet.deploy.web).
PAGE_FILES = ("index.html", "app.js", "sqz.js", "preprocess.js")
GRAPH, SQZ, FP16, MANIFEST = "model.onnx", "model.sqz", "weights.fp16.bin", "manifest.json"
#: The name the graph's weights read from: a buffer the page builds, never a served file.
BUFFER = "weights.bin"
_ALIGN = 64  # every tensor starts on a multiple: typed-array views need their item size


@dataclass(frozen=True)
class WebExport:
    """What :func:`export_web` wrote: the folder, the files a visit downloads (name ->
    bytes, runtime aside), the runtime, and the model filled as the page fills it (for the
    comparison with PyTorch)."""

    folder: Path
    downloads: dict[str, int]
    runtime: Runtime
    candidate: Classifier
    weights: str  # "sqz" or "fp16"
    upgraded: bool  # a version 1 or 2 .sqz rewritten as version 3


def _layout(weights: dict[str, tuple[tuple[int, ...], str]]) -> list[dict]:
    """Each weight's place in the buffer: name, shape, dtype, offset, length."""
    out, offset = [], 0
    for name, (shape, dtype) in weights.items():
        length = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        out.append(
            {"name": name, "shape": list(shape), "dtype": dtype, "offset": offset, "length": length}
        )
        offset += -(-length // _ALIGN) * _ALIGN
    return out


def _web_graph(data: bytes, layout: list[dict]) -> bytes:
    """The weightless graph with each placeholder reading its slice of :data:`BUFFER`."""
    import onnx

    proto = onnx.load_from_string(data)
    places = {t["name"]: t for t in layout}
    for t in proto.graph.initializer:
        if t.name in places:
            del t.external_data[:]
            for key, value in (
                ("location", BUFFER),
                ("offset", str(places[t.name]["offset"])),
                ("length", str(places[t.name]["length"])),
            ):
                t.external_data.add(key=key, value=value)
    return proto.SerializeToString()


def _fp16_file(state: dict[str, np.ndarray], layout: list[dict]) -> tuple[bytes, list[dict]]:
    """Every float tensor as float16 (others as they are), in layout order; each layout entry
    gains ``stored`` and ``at`` (its offset in the file)."""
    parts, at = [], 0
    for t in layout:
        array = np.ascontiguousarray(state[t["name"]], dtype=t["dtype"])
        if array.dtype.kind == "f":
            array = array.astype(np.float16)
        t["stored"], t["at"] = str(array.dtype), at
        parts.append(array.tobytes())
        pad = -len(parts[-1]) % 8
        parts.append(b"\0" * pad)
        at += len(parts[-2]) + pad
    return b"".join(parts), layout


def _preprocess(description: dict, source: str) -> dict | None:
    """The description's preprocessing, with every value the page needs spelled out."""
    if description.get("preprocess") is None:
        return None
    p = Preprocessing(description["preprocess"], source)
    return {
        "name": p.name,
        "resize": p.resize,
        "crop": p.crop,
        "bgr": p.bgr,
        "scale": p.scale,
        "mean": [float(v) for v in p.mean.ravel()],
        "std": [float(v) for v in p.std.ravel()],
    }


def _page(folder: Path, runtime: Runtime) -> None:
    static = files("squeezenet.deploy.web") / "static"
    for name in PAGE_FILES:
        text = (static / name).read_text(encoding="utf-8")
        if name == "index.html":
            text = text.replace("{{RUNTIME_SRC}}", runtime.src)
            text = text.replace("{{RUNTIME_INTEGRITY}}", runtime.integrity)
        (folder / name).write_text(text, encoding="utf-8")


def check_output(target: Path) -> None:
    """Refuse ``target`` unless it is new, an empty folder or an earlier web export (which
    the export replaces): never another file or folder."""
    if target.exists():
        if not target.is_dir():
            raise OutputError(f"{target}: exists and is not a folder (-f web writes a folder)")
        if any(target.iterdir()) and not (target / MANIFEST).is_file():
            raise OutputError(
                f"{target}: the folder is not empty and holds no web export ({MANIFEST}); "
                "give -o a new or empty folder"
            )


def _replace_folder(tmp: Path, target: Path) -> None:
    """Move the finished ``tmp`` to ``target`` (checked again: time has passed)."""
    check_output(target)
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)


def export_web(
    model,
    folder: str | Path,
    graph_bytes: bytes,
    description: dict,
    sqz: Path | None,
    runtime_dir: Path | None = None,
    classes: list[str] | None = None,
) -> WebExport:
    """Write the page folder for ``model`` (its weightless graph ``graph_bytes``, written by
    :func:`..export.export_weightless` with ``description``). ``sqz``: the compressed file
    the weights came from, served as is (else the state_dict travels as float16).
    ``classes``: the names the page shows when neither the description nor the ``.sqz``
    has any."""
    from ...lite.graph import parse_graph

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    graph = parse_graph(graph_bytes, GRAPH)
    layout = _layout(graph.weights)
    with tempfile.TemporaryDirectory(prefix=".web-", dir=folder.parent) as tmpdir:
        tmp = Path(tmpdir) / "page"
        tmp.mkdir()
        upgraded = False
        if sqz is not None:
            original = sqz.read_bytes()
            architecture = graph_architecture(graph)
            data = fileformat.upgrade(original, str(sqz), architecture)
            upgraded = data is not original
            (tmp / SQZ).write_bytes(data)
            cm = fileformat.from_bytes(data, str(sqz), architecture)
            weights = {
                k: t.dense() if isinstance(t, SharedTensor) else t for k, t in cm.tensors.items()
            }
            described = {**description, **cm.meta}
            kind, weights_file, weights_bytes = "sqz", SQZ, len(data)
        else:
            state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
            blob, layout = _fp16_file(state, layout)
            (tmp / FP16).write_bytes(blob)
            # What the page computes with: float16 weights widened back to float32.
            weights = {
                t["name"]: np.asarray(state[t["name"]]).astype(t["stored"]).astype(t["dtype"])
                for t in layout
            }
            described = description
            kind, weights_file, weights_bytes = "fp16", FP16, len(blob)
        web_graph = _web_graph(graph_bytes, layout)
        (tmp / GRAPH).write_bytes(web_graph)
        runtime = copy_runtime(runtime_dir, tmp) if runtime_dir is not None else cdn_runtime()
        manifest = {
            "format": "squeezenet-web",
            "version": 1,
            "graph": {"file": GRAPH, "bytes": len(web_graph), "buffer": BUFFER},
            "weights": {"format": kind, "file": weights_file, "bytes": weights_bytes},
            "tensors": layout,
            "buffer_bytes": (layout[-1]["offset"] + layout[-1]["length"]) if layout else 0,
            "model": described.get("model"),
            "classes": described.get("classes") or classes,
            "preprocess": _preprocess(described, str(sqz or GRAPH)),
            "runtime": {
                "version": runtime.version,
                "src": runtime.src,
                "wasm_base": runtime.wasm_base,
                "local": runtime.local,
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, separators=(",", ":")), encoding="utf-8")
        _page(tmp, runtime)
        downloads = {
            name: (tmp / name).stat().st_size
            for name in (*PAGE_FILES, MANIFEST, GRAPH, weights_file)
        }
        candidate = Classifier(
            graph, weights, described.get("preprocess"), described.get("classes")
        )
        _replace_folder(tmp, folder)
    return WebExport(folder, downloads, runtime, candidate, kind, upgraded)
