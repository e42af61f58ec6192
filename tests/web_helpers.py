"""Models and files for the web page tests (tests/test_web.py, tests/test_web_browser.py)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from helpers import model_info, tiny_model
from squeezenet.compress.pipeline import lossless
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.codec import SharedTensor
from squeezenet.weights.sqz.modeldesc import describe_model

REPO = Path(__file__).resolve().parents[1]
#: An onnxruntime-web install (`npm install onnxruntime-web` ran in it): $SQUEEZENET_ORT_WEB,
#: else the ignored folder .ci/run installs it into.
ORT_WEB = Path(os.environ.get("SQUEEZENET_ORT_WEB", REPO / ".cache" / "onnxruntime-web"))
USER_CLASSES = ("cat", "dog", "frog")


def shared_state(model, bits=3, density=0.5, seed=0) -> dict[str, torch.Tensor]:
    """A pruned, weight-shared state_dict of ``model``, built by hand."""
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in model.state_dict().items():
        if v.dim() >= 2:
            values = rng.normal(scale=0.1, size=2**bits).astype(np.float32)
            a = values[rng.integers(0, 2**bits, v.shape)]
            a[rng.random(v.shape) > density] = 0
            state[k] = torch.from_numpy(a)
        else:
            state[k] = torch.from_numpy(rng.normal(scale=0.1, size=v.shape).astype(np.float32))
    return state


def user_classes_sqz(path: Path, coder: str = "ans") -> Path:
    """A small .sqz of the user's own three classes (names and preprocessing in its meta)."""
    model = tiny_model(len(USER_CLASSES))
    meta = model_info(model, USER_CLASSES).extras()
    cm = lossless(shared_state(model), describe_model(model, "squeezenet1_1"), coder, meta)
    fileformat.save(cm, path)
    return path


def graph_shapes(shapes: dict[str, list[int]]) -> fileformat.Architecture:
    """The architecture a web page's decoder checks against: the graph's shapes, and a
    header model that is an object with a name (squeezenet.lite's rule)."""
    fixed = {k: tuple(v) for k, v in shapes.items()}

    def check(desc: object, source: str) -> dict[str, tuple[int, ...]]:
        if not isinstance(desc, dict) or not isinstance(desc.get("name"), str):
            raise fileformat.CompressedFormatError(f"{source}: the header's model is invalid")
        return fixed

    return fileformat.Architecture(check, "the graph")


def tensor_hashes(data: bytes, shapes: dict[str, list[int]] | None = None) -> dict:
    """name -> [dtype, sha256 of its bytes] of what Python decodes a .sqz to; ``shapes``
    stands in for the model the header names (random files name none)."""
    architecture = fileformat.HEADER_MODEL
    if shapes is not None:
        architecture = graph_shapes(shapes)
    cm = fileformat.from_bytes(data, "f.sqz", architecture)
    out = {}
    for name, t in cm.tensors.items():
        array = t.dense() if isinstance(t, SharedTensor) else t
        out[name] = [str(array.dtype), hashlib.sha256(np.ascontiguousarray(array)).hexdigest()]
    return out


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())
