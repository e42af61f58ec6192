"""ncnn models (``.param`` graph + ``.bin`` weights) in ncnn's runtime, CPU, fp32."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from . import FileFacts, as_numpy, first_line, read_sidecar

#: Why a process that runs ncnn beside PyTorch should start with OMP_WAIT_POLICY=PASSIVE.
OPENMP_NOTE = (
    "ncnn and PyTorch each bring an OpenMP runtime; in one process their idle worker threads "
    "spin for the CPU while the other computes, slowing both several-fold, unless "
    "OMP_WAIT_POLICY=PASSIVE is set before the process starts (the squeezenet command sets it "
    "itself for commands that involve ncnn)"
)


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _import_ncnn(path: Path):
    """The ``ncnn`` module; without it a ``ValueError`` naming the file and the extra. Warns
    when PyTorch is loaded and the OpenMP wait policy is not passive (:data:`OPENMP_NOTE`)."""
    if not _has_module("ncnn"):
        raise ValueError(f"{path}: running an ncnn model needs pip install 'squeezenet-dc[ncnn]'")
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        import warnings

        # Located here, so that Python's default filter shows it once per process.
        warnings.warn(OPENMP_NOTE, RuntimeWarning, stacklevel=1)
    import ncnn

    return ncnn


def _net(path: Path, threads: int | None):
    """An ``ncnn.Net`` with ``path`` (a ``.param``) and its ``.bin`` loaded, computing in
    fp32; a missing or unreadable file raises ``WeightsError`` naming it."""
    from ...weights import WeightsError
    from ..export import ncnn_paths

    ncnn = _import_ncnn(path)
    param, weights = ncnn_paths(path)
    if not weights.is_file():
        raise WeightsError(f"{weights}: no such file (the weights of {param})")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    # fp32 arithmetic, as PyTorch computes: on CPUs with fp16 or bf16 support ncnn would
    # otherwise store and compute activations in half precision (like OpenVINO's hint).
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    if threads:
        net.opt.num_threads = threads
    if net.load_param(str(param)) != 0:
        raise WeightsError(f"{param}: not a readable ncnn model graph (.param)")
    if len(net.input_names()) != 1 or len(net.output_names()) != 1:
        raise WeightsError(f"{param}: not a classifier (one input, one output)")
    # load_model reads as many bytes as the graph's layers ask for; a short file fails.
    if net.load_model(str(weights)) != 0:
        raise WeightsError(f"{weights}: not the weights of {param} (unreadable or too short)")
    return net


def load(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ncnn model (``.param`` + ``.bin``) in ncnn's runtime. It has no batch dimension:
    a batch runs image by image, each in an extractor of its own (one inference each)."""
    import numpy as np

    ncnn = _import_ncnn(path)
    net = _net(path, threads)
    source, target = net.input_names()[0], net.output_names()[0]

    def run(x: torch.Tensor) -> torch.Tensor:
        out = []
        for image in as_numpy(x):
            extractor = net.create_extractor()
            extractor.input(source, ncnn.Mat(np.ascontiguousarray(image)))
            status, logits = extractor.extract(target)
            if status != 0:
                raise RuntimeError(f"{path}: ncnn failed on an image (status {status})")
            out.append(np.array(logits).reshape(-1))
        return torch.from_numpy(np.stack(out))

    return run


def read(path: Path) -> FileFacts:
    """:func:`.onnx.read` for an ncnn ``.param`` (+ ``.bin``): the description and precision
    from its sidecar. The graph takes one image of any size and its files hold no shapes: the
    input is ``(1, C, any, any)`` and the class count comes from one run on a blank image at
    the description's crop (224 without one)."""
    from ...weights import ModelInfo, WeightsError
    from ..export import sidecar_path

    _import_ncnn(path)  # first: without ncnn, the extra to install is the error
    text, precision = read_sidecar(path, ("fp32", "fp16"))
    channels, size = 3, 224
    if text is not None:
        info = ModelInfo.from_dict(json.loads(text), str(sidecar_path(path)))
        channels = info.model.get("spec", {}).get("in_channels", channels)
        size = info.preprocess.crop if info.preprocess is not None else size
    # One thread: no OpenMP worker threads start here, so bench can still fork the children
    # that measure memory (libgomp's thread pool does not survive a fork: a child would hang).
    run = load(path, 1)
    try:
        logits = run(torch.zeros(1, channels, size, size))
    except RuntimeError as e:
        raise WeightsError(f"{path}: ncnn cannot run it ({first_line(e)})") from None
    return text, (1, channels, None, None), logits.shape[1], precision or "unknown"
