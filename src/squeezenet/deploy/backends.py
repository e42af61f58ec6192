"""Inference backends behind one interface: a callable from a float batch to logits.

``torch`` (eager), ``torch-cl`` (eager, channels-last memory layout: oneDNN's preferred
layout, no conversions between convolutions), ``onnxruntime`` / ``openvino`` (fp32) and their
``-int8`` variants (post-training static INT8, :mod:`.quantize_int8`). Any backend plugs into
:func:`squeezenet.engine.evaluate` and the ``predict`` / ``evaluate`` commands.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class BackendInfo:
    runtime: str | None  # Python module the backend needs (None: torch only)
    precision: str
    extra: str | None  # pip extra that installs the runtime
    help: str


BACKENDS: dict[str, BackendInfo] = {
    "torch": BackendInfo(None, "fp32", None, "PyTorch eager"),
    "torch-cl": BackendInfo(None, "fp32", None, "PyTorch eager, channels-last layout"),
    "onnxruntime": BackendInfo("onnxruntime", "fp32", "onnx", "ONNX Runtime, CPU"),
    "onnxruntime-int8": BackendInfo(
        "onnxruntime", "int8", "onnx", "ONNX Runtime, static INT8 (QDQ)"
    ),
    "openvino": BackendInfo("openvino", "fp32", "openvino", "OpenVINO, CPU, fp32 inference"),
    "openvino-int8": BackendInfo(
        "openvino", "int8", "openvino", "OpenVINO running the static INT8 (QDQ) ONNX graph"
    ),
}


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _missing_modules(name: str) -> list[str]:
    info = BACKENDS[name]
    if info.runtime is None:
        return []
    # Runtimes load an ONNX export (onnx + onnxscript); INT8 graphs come from ONNX Runtime's
    # quantizer, whichever runtime then runs them.
    needed = [info.runtime, "onnx", "onnxscript"]
    if info.precision == "int8":
        needed.append("onnxruntime")
    return [m for m in dict.fromkeys(needed) if not _has_module(m)]


def available_backends() -> list[str]:
    """Backends whose runtime and export/quantization dependencies are installed."""
    return [name for name in BACKENDS if not _missing_modules(name)]


class Backend:
    """A named runtime session: ``backend(batch) -> logits`` (torch tensors in and out)."""

    def __init__(self, name: str, precision: str, fn: Callable[[torch.Tensor], torch.Tensor]):
        self.name = name
        self.precision = precision
        self._fn = fn

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, {self.precision!r})"


def check_backend_names(names: Iterable[str], calibration) -> None:
    """Unknown names, missing runtimes and INT8 without calibration images, as one error."""
    for name in names:
        info = BACKENDS.get(name)
        if info is None:
            raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
        missing = _missing_modules(name)
        if missing:
            raise ValueError(
                f"backend {name!r} needs {', '.join(missing)}: "
                f"pip install 'squeezenet[{info.extra}]'"
            )
        if info.precision == "int8" and calibration is None:
            raise ValueError(
                f"backend {name!r} needs calibration images (--calibration: an "
                "image folder or a zip of images, not the evaluation images)"
            )


def prepare_artifacts(
    names: Iterable[str],
    model: nn.Module,
    workdir: str | os.PathLike,
    input_size: int = 224,
    calibration: torch.Tensor | None = None,
) -> dict[str, Path]:
    """Export the ONNX files the named backends load: ``{"fp32": path, "int8": path}``."""
    from .export import export_onnx

    names = list(names)
    need = {BACKENDS[n].precision for n in names if BACKENDS[n].runtime is not None}
    paths: dict[str, Path] = {}
    if need:
        paths["fp32"] = export_onnx(model, Path(workdir) / "model.onnx", input_size)
    if "int8" in need:
        from .quantize_int8 import quantize_onnx

        assert calibration is not None  # check_backend_names asks for it with int8 backends
        paths["int8"] = quantize_onnx(paths["fp32"], Path(workdir) / "model-int8.onnx", calibration)
    return paths


def load_backend(
    name: str, model: nn.Module, artifacts: dict[str, Path], threads: int | None = None
) -> Backend:
    """Build one backend from the model (torch ones) or from the exported files."""
    info = BACKENDS[name]
    if name == "torch":
        return Backend(name, info.precision, _torch_fn(model.eval(), channels_last=False))
    if name == "torch-cl":
        cl = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
        return Backend(name, info.precision, _torch_fn(cl, channels_last=True))
    path = artifacts[info.precision]
    if info.runtime == "onnxruntime":
        return Backend(name, info.precision, _onnxruntime_fn(path, threads))
    return Backend(name, info.precision, _openvino_fn(path, threads))


def create_backends(
    names: Iterable[str],
    model: nn.Module,
    input_size: int = 224,
    threads: int | None = None,
    calibration: torch.Tensor | None = None,
) -> list[Backend]:
    """Backends by name for ``model`` (exported once, shared by all that need the file).
    ``calibration``: preprocessed real images for the INT8 ones."""
    names = list(names)
    check_backend_names(names, calibration)
    with tempfile.TemporaryDirectory(prefix="squeezenet-backends-") as workdir:
        # Runtimes read the whole file at session creation, so the folder can go afterwards.
        artifacts = prepare_artifacts(names, model, workdir, input_size, calibration)
        return [load_backend(n, model, artifacts, threads) for n in names]


def _torch_fn(model: nn.Module, channels_last: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return model(x)

    return run


def _onnxruntime_fn(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (all cores)
    options.inter_op_num_threads = 1  # a chain of convolutions: no graph-level parallelism
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        out = session.run(None, {input_name: _as_numpy(x)})[0]
        return torch.from_numpy(out)

    return run


def _openvino_fn(
    path: Path, threads: int | None, max_shapes: int = 4
) -> Callable[[torch.Tensor], torch.Tensor]:
    import openvino as ov

    config: dict[str, str | int] = {
        # Without this, CPUs with AVX512-BF16/AMX silently run "fp32" models in bf16
        # (logits then differ from PyTorch by ~0.1); INT8 nodes stay INT8 either way.
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    core = ov.Core()
    # Read now: the file may be temporary, and a bad file fails here, naming it.
    base = core.read_model(str(path))
    # One compiled model per input shape: with static shapes the CPU plugin picks fixed-shape
    # kernels (measured: batch-1 fp32 4.0 ms vs 6.5 ms with the dynamic batch dimension).
    requests: dict[tuple[int, ...], object] = {}

    def request_for(shape: tuple[int, ...]):
        if shape not in requests:
            if len(requests) >= max_shapes:
                requests.pop(next(iter(requests)))  # oldest first: batch shapes rarely vary
            model = base.clone()
            model.reshape(list(shape))
            requests[shape] = core.compile_model(model, "CPU", config).create_infer_request()
        return requests[shape]

    def run(x: torch.Tensor) -> torch.Tensor:
        array = _as_numpy(x)
        out = request_for(tuple(array.shape)).infer({0: array})[0]
        return torch.from_numpy(out.copy())  # the request reuses its output buffer

    return run


def _as_numpy(x: torch.Tensor):
    return x.detach().to(torch.float32).contiguous().numpy()


def load_exported(
    path: str | os.PathLike, fmt: str, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable over an exported file, run by the runtime that format is for (ONNX files
    by ONNX Runtime, IR by OpenVINO, TorchScript by ``torch.jit.load``)."""
    path = Path(path)
    if fmt == "onnx":
        return _onnxruntime_fn(path, threads)
    if fmt == "openvino":
        return _openvino_fn(path, threads)
    if fmt == "torchscript":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu").eval()
        return _torch_fn(module, channels_last=False)
    raise ValueError(f"unknown export format {fmt!r}")
