"""Fuzz targets: one function per reader of untrusted input, from bytes to the reader's
result or its documented error. Anything else that escapes is a failure.

Importable without atheris: the regression tests replay saved inputs through these."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from squeezenet.data import ImageError, get_preprocess, load_transformed
from squeezenet.weights import WeightsError, read_state_dict
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.modeldesc import model_from_description

_DIR = Path(tempfile.mkdtemp(prefix="squeezenet-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
_PREPROCESS = get_preprocess("torchvision")


def _as_file(data: bytes, suffix: str) -> Path:
    # The readers take paths (as the CLI gives them); one scratch file per suffix.
    path = _DIR / f"input{suffix}"
    path.write_bytes(data)
    return path


def sqz(data: bytes) -> None:
    """The ``.sqz`` reader, as ``predict`` (read_state_dict) and ``decompress`` use it."""
    try:
        cm = fileformat.from_bytes(data, "input.sqz")
        state = cm.state_dict()
        with torch.device("meta"):
            model_from_description(cm.model, {k: tuple(v.shape) for k, v in state.items()}, "x")
    except WeightsError:
        pass


def net(data: bytes) -> None:
    """The Deep Compression ``.net`` reader."""
    try:
        read_state_dict(_as_file(data, ".net"))
    except WeightsError:
        pass


def pth(data: bytes) -> None:
    """PyTorch files (``torch.load(weights_only=True)``, zip and legacy)."""
    try:
        read_state_dict(_as_file(data, ".pth"))
    except WeightsError:
        pass


def safetensors(data: bytes) -> None:
    """``.safetensors`` files."""
    try:
        read_state_dict(_as_file(data, ".safetensors"))
    except WeightsError:
        pass


def image(data: bytes) -> None:
    """The image loader with the preprocessing ``predict`` and ``evaluate`` apply."""
    try:
        load_transformed(_as_file(data, ".img"), _PREPROCESS, _PREPROCESS.decode_size)
    except ImageError:
        pass


def lite(data: bytes) -> None:
    """The torch-free decoder (``squeezenet.lite.load``): a ``.sqz`` decoded with numpy into
    a weightless graph of the tiny model (the sqz seeds' architecture)."""
    from squeezenet.lite import GraphError, load

    try:
        load(_as_file(data, ".sqz"), _weightless_graph())
    except (WeightsError, GraphError):
        pass


def onnx_meta(data: bytes) -> None:
    """An exported ``.onnx`` file's description and shapes, as ``predict -w m.onnx`` reads
    them before any runtime session."""
    from squeezenet.deploy.backends import open_exported

    try:
        open_exported(_as_file(data, ".onnx"))
    except WeightsError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "sqz": sqz,
    "net": net,
    "pth": pth,
    "safetensors": safetensors,
    "image": image,
    "lite": lite,
    "onnx_meta": onnx_meta,
}


def _tiny_model():
    from squeezenet import create_model

    return create_model("squeezenet1_1", num_classes=3, base_e=8, incr_e=8)


def _weightless_graph():
    """The tiny model's weightless graph, exported once per process."""
    from squeezenet.lite import read_graph

    path = _DIR / "tiny-weightless.onnx"
    if not path.exists():
        from squeezenet.deploy.export import export_weightless

        export_weightless(_tiny_model().eval(), path, 32)
    return read_graph(path)


# -- seeds: small real files of each kind ---------------------------------------------------
def _tiny_state() -> dict[str, torch.Tensor]:
    from squeezenet import create_model

    torch.manual_seed(0)
    model = create_model("squeezenet1_1", num_classes=3, base_e=8, incr_e=8)
    rng = np.random.default_rng(0)
    state = {}
    for k, v in model.state_dict().items():
        a = rng.normal(size=v.shape).astype(np.float32)
        if v.dim() >= 2:  # pruned and weight-shared, as compressed files hold
            a = np.round(a * 2) / 2
            a[rng.random(v.shape) > 0.4] = 0
        state[k] = torch.from_numpy(a)
    return state


def seeds(target: str) -> list[bytes]:
    """Small valid inputs for ``target``: the corpus a first run starts from."""
    if target in ("sqz", "lite"):
        from squeezenet.compress.pipeline import lossless
        from squeezenet.weights.sqz.modeldesc import describe_model

        state = _tiny_state()
        desc = describe_model(_tiny_model(), "squeezenet1_1")
        return [fileformat.to_bytes(lossless(state, desc, c)) for c in ("ans", "huffman")]
    if target == "onnx_meta":
        return [_described_onnx()]
    if target == "net":
        from squeezenet.weights.deep_compression import _v10_layers

        parts = [np.array([2] * len(_v10_layers()), "<u4").tobytes()]
        for _, shape in _v10_layers():
            parts += [np.linspace(-1, 1, 256).astype("<f4").tobytes()]
            parts += [np.zeros(shape[0], "<f4").tobytes(), bytes([3, 200]), bytes([0x21])]
        return [b"".join(parts)]
    if target == "pth":
        small = {k: v for k, v in list(_tiny_state().items())[:4]}
        out = []
        for legacy in (False, True):
            buf = io.BytesIO()
            torch.save(small, buf, _use_new_zipfile_serialization=not legacy)
            out.append(buf.getvalue())
        return out
    if target == "safetensors":
        from safetensors.torch import save

        small = {k: v for k, v in list(_tiny_state().items())[:4]}
        return [save(small)]
    if target == "image":
        from PIL import Image

        out = []
        for fmt, mode in (
            ("PNG", "RGB"),
            ("PNG", "LA"),
            ("JPEG", "RGB"),
            ("GIF", "P"),
            ("BMP", "L"),
        ):
            buf = io.BytesIO()
            Image.new(mode, (12, 9), 90).save(buf, fmt)
            out.append(buf.getvalue())
        return out
    raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")


def _described_onnx() -> bytes:
    """A tiny ONNX classifier (pool, flatten) carrying a model description."""
    import json

    from onnx import TensorProto, helper

    from squeezenet.lite.graph import METADATA_KEY
    from squeezenet.weights.info import ModelInfo
    from squeezenet.weights.sqz.modeldesc import describe_model

    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["logits"]),
    ]
    io_ = [
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32]),
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "tiny", io_[:1], io_[1:]),
        opset_imports=[helper.make_opsetid("", 18)],
    )
    info = ModelInfo(describe_model(_tiny_model(), "squeezenet1_1"), ("a", "b", "c")).to_dict()
    info["preprocess"] = {
        "name": "cifar",
        **{"resize": 32, "crop": 32, "mean": [0.5] * 3, "std": [0.25] * 3},
        **{"bgr": False, "scale": 1 / 255},
    }
    helper.set_model_props(model, {METADATA_KEY: json.dumps(info)})
    return model.SerializeToString()


def corpus_dir(target: str) -> Path:
    """Where a target's corpus lives across runs: $SQUEEZENET_FUZZ_CORPUS/<target>, by
    default under the user's cache folder (outside the repository)."""
    root = os.environ.get("SQUEEZENET_FUZZ_CORPUS") or Path.home() / ".cache" / "squeezenet-fuzz"
    return Path(root) / target
