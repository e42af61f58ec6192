"""Inference backends behind one interface: a callable from a float batch to logits.

``torch`` (eager), ``torch-cl`` (eager, channels-last memory layout: oneDNN's preferred
layout, no conversions between convolutions), ``onnxruntime`` / ``openvino`` (fp32) and their
``-int8`` variants (post-training static INT8, :mod:`.quantize_int8`), and ``executorch``,
``litert`` and ``ncnn``, which run exported files only (``.pte``, ``.tflite``, ``.param`` +
``.bin``). Any backend plugs into :func:`squeezenet.engine.evaluate` and the ``predict`` /
``evaluate`` commands.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..weights import ModelCard, ModelInfo
from .formats import EXPORT_FORMATS


@dataclass(frozen=True)
class BackendInfo:
    runtime: str | None  # Python module the backend needs (None: torch only)
    precision: str
    extra: str | None  # pip extra that installs the runtime
    help: str
    # Runs a file exported beforehand (-w file.pte / .tflite), never a PyTorch model directly:
    # lowering to a .pte or converting to a .tflite takes 5-10 s (more with INT8
    # calibration), an explicit `export` step rather than one hidden inside predict or bench.
    exported_only: bool = False


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
    "executorch": BackendInfo(
        "executorch",
        "fp32",
        "executorch",
        "ExecuTorch with the XNNPACK delegate (an exported .pte as -w only)",
        exported_only=True,
    ),
    "litert": BackendInfo(
        "ai_edge_litert",
        "fp32",
        "litert",
        "LiteRT (TFLite) interpreter with the XNNPACK delegate (an exported .tflite as -w only)",
        exported_only=True,
    ),
    "ncnn": BackendInfo(
        "ncnn",
        "fp32",
        "ncnn",
        "ncnn, CPU (an exported .param as -w only)",
        exported_only=True,
    ),
}


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _missing_modules(name: str) -> list[str]:
    info = BACKENDS[name]
    if info.runtime is None:
        return []
    if info.exported_only:
        return [] if _has_module(info.runtime) else [info.runtime]
    # Runtimes load an ONNX export (onnx + onnxscript); INT8 graphs come from ONNX Runtime's
    # quantizer, whichever runtime then runs them.
    needed = [info.runtime, "onnx", "onnxscript"]
    if info.precision == "int8":
        needed.append("onnxruntime")
    return [m for m in dict.fromkeys(needed) if not _has_module(m)]


def available_backends() -> list[str]:
    """Backends that can run a PyTorch model: their runtime and export/quantization
    dependencies are installed (backends for exported files only are left out)."""
    return [n for n in BACKENDS if not BACKENDS[n].exported_only and not _missing_modules(n)]


def backend_installed(name: str) -> bool:
    """Whether backend ``name``'s runtime (and what it needs) is installed."""
    return not _missing_modules(name)


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
        if info.exported_only:
            raise ValueError(
                f"backend {name!r} runs exported files only: squeezenet export --format "
                f"{name}, then give the file as -w"
            )
        missing = _missing_modules(name)
        if missing:
            raise ValueError(
                f"backend {name!r} needs {', '.join(missing)}: "
                f"pip install 'squeezenet-dc[{info.extra}]'"
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
        paths["int8"] = quantize_onnx(
            paths["fp32"], Path(workdir) / "model-int8.onnx", calibration, model
        )
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


def _executorch_fn(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The ``forward`` method of a ``.pte`` in ExecuTorch's runtime. The program takes one
    image (its export is at batch 1), so a batch runs image by image. ``threads`` is not
    applied: the Python runtime has no per-program thread setting (XNNPACK picks its own)."""
    from executorch.runtime import Runtime

    # Read now: the file may be temporary, and a bad file fails here, naming it.
    method = Runtime.get().load_program(Path(path)).load_method("forward")

    def run(x: torch.Tensor) -> torch.Tensor:
        x = x.detach().to(torch.float32).contiguous()
        return torch.cat([method.execute([image[None]])[0].clone() for image in x])

    return run


def _litert_fn(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``.tflite`` in LiteRT's interpreter (XNNPACK delegate, applied by default). An INT8
    file takes and returns int8 tensors: the input is quantized and the logits dequantized
    with the scale and zero point the file gives them."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    # Read now: the file may be temporary, and a bad file fails here, naming it.
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    index = given["index"]
    shape = tuple(given["shape"])

    def run(x: torch.Tensor) -> torch.Tensor:
        nonlocal shape
        array = _as_numpy(x)
        # The file is exported at batch 1; a batch resizes the input rather than looping
        # image by image: one call per batch. Measured on squeezenet1_1 at 224, batches of 8
        # and 32, 2 cores: INT8 12-17% faster than the loop, fp32 8-12% slower (near noise).
        if array.shape != shape:
            interpreter.resize_tensor_input(index, array.shape)
            interpreter.allocate_tensors()
            shape = array.shape
        inp = interpreter.get_input_details()[0]
        if inp["dtype"] != np.float32:
            scale, zero = inp["quantization"]
            bounds = np.iinfo(inp["dtype"])
            quantized = np.round(array / scale) + zero
            array = np.clip(quantized, bounds.min, bounds.max).astype(inp["dtype"])
        interpreter.set_tensor(index, array)
        interpreter.invoke()
        out = interpreter.get_output_details()[0]
        logits = interpreter.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            logits = (logits.astype(np.float32) - zero) * scale
        return torch.from_numpy(np.array(logits, dtype=np.float32))  # a copy: the buffer is reused

    return run


#: Why a process that runs ncnn beside PyTorch should start with OMP_WAIT_POLICY=PASSIVE.
OPENMP_NOTE = (
    "ncnn and PyTorch each bring an OpenMP runtime; in one process their idle worker threads "
    "spin for the CPU while the other computes, slowing both several-fold, unless "
    "OMP_WAIT_POLICY=PASSIVE is set before the process starts (the squeezenet command sets it "
    "itself for commands that involve ncnn)"
)


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


def _ncnn_net(path: Path, threads: int | None):
    """An ``ncnn.Net`` with ``path`` (a ``.param``) and its ``.bin`` loaded, computing in
    fp32; a missing or unreadable file raises ``WeightsError`` naming it."""
    from ..weights import WeightsError
    from .export import ncnn_paths

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


def _ncnn_fn(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ncnn model (``.param`` + ``.bin``) in ncnn's runtime. It has no batch dimension:
    a batch runs image by image, each in an extractor of its own (one inference each)."""
    import numpy as np

    ncnn = _import_ncnn(path)
    net = _ncnn_net(path, threads)
    source, target = net.input_names()[0], net.output_names()[0]

    def run(x: torch.Tensor) -> torch.Tensor:
        out = []
        for image in _as_numpy(x):
            extractor = net.create_extractor()
            extractor.input(source, ncnn.Mat(np.ascontiguousarray(image)))
            status, logits = extractor.extract(target)
            if status != 0:
                raise RuntimeError(f"{path}: ncnn failed on an image (status {status})")
            out.append(np.array(logits).reshape(-1))
        return torch.from_numpy(np.stack(out))

    return run


def _as_numpy(x: torch.Tensor):
    return x.detach().to(torch.float32).contiguous().numpy()


def load_exported(
    path: str | os.PathLike, fmt: str, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable over an exported file, run by the runtime that format is for (ONNX files
    by ONNX Runtime, IR by OpenVINO, TorchScript by ``torch.jit.load``, ``.pte`` by
    ExecuTorch, ``.tflite`` by LiteRT, ``.param`` by ncnn)."""
    path = Path(path)
    if fmt == "torchscript":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu").eval()
        return _torch_fn(module, channels_last=False)
    runtimes = {f: backends[0] for f, backends in EXPORTED.values()}
    if fmt not in runtimes:
        raise ValueError(f"unknown export format {fmt!r}")
    return FILE_LOADERS[runtimes[fmt]](path, threads)


#: How each runtime backend loads an exported file: ``loader(path, threads) -> callable``.
FILE_LOADERS: dict[str, Callable[[Path, int | None], Callable[[torch.Tensor], torch.Tensor]]] = {
    "onnxruntime": _onnxruntime_fn,
    "openvino": _openvino_fn,
    "executorch": _executorch_fn,
    "litert": _litert_fn,
    "ncnn": _ncnn_fn,
}


#: Exported files ``-w`` accepts, by suffix: their format and the backends that run them
#: (the first by default; OpenVINO reads ONNX files too).
EXPORTED = {f.reads: (f.name, f.runtimes) for f in EXPORT_FORMATS.values() if f.reads}
# Ops that only a quantized graph holds (ONNX Runtime's QDQ, OpenVINO's form of it).
_QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "FakeQuantize"}


def is_exported(source: str | os.PathLike) -> bool:
    """Whether a ``-w`` value names an exported file (by its suffix) rather than weights."""
    return Path(source).suffix.lower() in EXPORTED


@dataclass
class ExportedModel:
    """An exported file standing in for a model: what a weights file tells the commands
    (``model_name``, ``weights_info``, ``weights_path``) and what its graph fixes
    (``input_shape``, None where a dimension is dynamic; ``num_outputs``; ``precision``)."""

    path: Path
    format: str
    model_name: str
    weights_info: ModelInfo | None
    input_shape: tuple[int | None, ...]
    num_outputs: int
    precision: str

    @property
    def weights_path(self) -> Path:
        return self.path

    @property
    def card(self) -> ModelCard:
        """What the file says of its model, as a weights file's card."""
        info = self.weights_info
        return ModelCard(
            architecture=self.model_name,
            classes=info.classes if info else None,
            preprocess=info.preprocess if info else None,
            source=self.path,
            description=info,
            fixed_size=self.input_size,
        )

    @property
    def input_size(self) -> int | None:
        """The graph's fixed input side (None when it takes any)."""
        h, w = self.input_shape[-2:]
        return h if h is not None and h == w else None

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends that can run this file, the default first."""
        return EXPORTED[self.path.suffix.lower()][1]

    def check_backend(self, name: str) -> None:
        """Refuse a backend that cannot run this file, or whose runtime is not installed."""
        if name not in self.backends:
            raise ValueError(
                f"backend {name!r} cannot run {self.path} (an exported {self.format} file "
                f"runs in {' or '.join(self.backends)})"
            )
        info = BACKENDS[name]
        assert info.runtime is not None  # the backends of exported files are runtimes
        if not _has_module(info.runtime):
            raise ValueError(
                f"backend {name!r} needs {info.runtime}: pip install 'squeezenet-dc[{info.extra}]'"
            )

    def runner(self, name: str | None = None, threads: int | None = None) -> Backend:
        """The file loaded in backend ``name`` (default: its format's own runtime)."""
        from ..weights import WeightsError

        name = name or self.backends[0]
        self.check_backend(name)
        try:
            fn = FILE_LOADERS[name](self.path, threads)
        except Exception as e:  # each runtime has its own error types
            raise WeightsError(f"{self.path}: {name} cannot load it ({_first_line(e)})") from None
        return Backend(name, self.precision, fn)


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else type(e).__name__


def open_exported(path: str | os.PathLike, name: str | None = None) -> ExportedModel:
    """Read an exported file's description and graph shapes (not its runtime session); a file
    that is not a readable model of its format raises ``WeightsError`` naming it. ``name``:
    the registered model the caller expects, if any (the file's description must agree)."""
    from ..models import DEFAULT_MODEL
    from ..weights import WeightsError
    from .export import SIDECAR_FORMATS, sidecar_path

    path = Path(path)
    fmt = EXPORTED[path.suffix.lower()][0]
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    readers = {
        "onnx": _read_onnx,
        "executorch": _read_executorch,
        "litert": _read_litert,
        "ncnn": _read_ncnn,
    }
    read = readers.get(fmt, _read_openvino)
    text, input_shape, outputs, precision = read(path)
    if len(input_shape) != 4:
        raise WeightsError(f"{path}: the input is not an image batch (N, C, H, W): {input_shape}")
    if input_shape[1] not in (3, None):
        # Checked here: the runtime would fail on the first batch with its own traceback.
        raise WeightsError(
            f"{path}: the graph takes {input_shape[1]}-channel images; the preprocessing "
            "gives RGB (3-channel) images"
        )
    info = None
    if text is not None:
        # An ExecuTorch, LiteRT or ncnn file's description is its sidecar: errors name that file.
        source = str(sidecar_path(path) if fmt in SIDECAR_FORMATS else path)
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            raise WeightsError(f"{source}: the model description is not valid JSON") from None
        info = ModelInfo.from_dict(raw, source)
        info.check_outputs(outputs, source)
        side = input_shape[-1] if input_shape[-1] == input_shape[-2] else None
        if info.preprocess is not None and side is not None and info.preprocess.crop != side:
            raise WeightsError(
                f"{source}: the description's preprocessing crops {info.preprocess.crop} px, "
                f"the graph takes {side} px"
            )
        if name is not None and name != info.name:
            raise WeightsError(
                f"{path}: holds a {info.name} (the file describes its model), not a {name}; "
                "leave out the model name to use the file's"
            )
    return ExportedModel(
        path,
        fmt,
        info.name if info else name or DEFAULT_MODEL,
        info,
        input_shape,
        outputs,
        precision,
    )


def _read_onnx(path: Path) -> tuple[str | None, tuple[int | None, ...], int, str]:
    """(description JSON or None, input shape, class count, precision) of an ONNX file."""
    import onnx

    from ..lite.graph import METADATA_KEY, WEIGHTS_LOCATION
    from ..weights import WeightsError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError, OSError, ...
        raise WeightsError(f"{path}: not a readable ONNX model ({_first_line(e)})") from None
    graph = proto.graph
    if not graph.node or len(graph.input) < 1 or len(graph.output) != 1:
        raise WeightsError(f"{path}: not an ONNX classifier (one input, one output)")
    external = (t for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
    if any(e.value == WEIGHTS_LOCATION for t in external for e in t.external_data):
        # A weightless graph (export --weightless) runs with its .sqz, in squeezenet.lite.
        raise WeightsError(
            f"{path}: its weights live outside the file (a weightless graph: run it with "
            "its .sqz through squeezenet.lite)"
        )
    meta = {e.key: e.value for e in proto.metadata_props}

    def dims(value) -> tuple[int | None, ...]:
        return tuple(d.dim_value or None for d in value.type.tensor_type.shape.dim)

    out = dims(graph.output[0])
    if len(out) != 2 or out[1] is None:
        raise WeightsError(f"{path}: the output is not a fixed (batch, classes) shape: {out}")
    quantized = any(n.op_type in _QUANTIZED_OPS for n in graph.node)
    return meta.get(METADATA_KEY), dims(graph.input[0]), out[1], "int8" if quantized else "fp32"


def _read_openvino(path: Path) -> tuple[str | None, tuple[int | None, ...], int, str]:
    """:func:`_read_onnx` for an OpenVINO IR (``.xml`` + ``.bin``)."""
    from ..lite.graph import METADATA_KEY
    from ..weights import WeightsError

    if importlib.util.find_spec("openvino") is None:
        raise ValueError(f"{path}: reading OpenVINO IR needs pip install 'squeezenet-dc[openvino]'")
    import openvino as ov

    try:
        model = ov.Core().read_model(str(path))
    except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
        raise WeightsError(f"{path}: not a readable OpenVINO model ({_first_line(e)})") from None
    if len(model.inputs) < 1 or len(model.outputs) != 1:
        raise WeightsError(f"{path}: not a classifier (one input, one output)")
    text = None
    if model.has_rt_info([METADATA_KEY]):
        text = model.get_rt_info([METADATA_KEY]).astype(str)

    def dims(shape) -> tuple[int | None, ...]:
        return tuple(d.get_length() if d.is_static else None for d in shape)

    out = dims(model.outputs[0].get_partial_shape())
    if len(out) != 2 or out[1] is None:
        raise WeightsError(f"{path}: the output is not a fixed (batch, classes) shape: {out}")
    quantized = any(op.get_type_name() in _QUANTIZED_OPS for op in model.get_ops())
    return (
        text,
        dims(model.inputs[0].get_partial_shape()),
        out[1],
        "int8" if quantized else "fp32",
    )


def _read_executorch(path: Path) -> tuple[str | None, tuple[int | None, ...], int, str]:
    """:func:`_read_onnx` for an ExecuTorch ``.pte``: shapes from the program's method
    metadata, the description and precision from its sidecar (``<file>.json``, written by
    ``export --format executorch``; a file without one runs with the flags given)."""
    from ..weights import WeightsError

    if importlib.util.find_spec("executorch") is None:
        raise ValueError(f"{path}: running a .pte needs pip install 'squeezenet-dc[executorch]'")
    from executorch.runtime import Runtime

    try:
        program = Runtime.get().load_program(path)
        meta = program.metadata("forward")
        input_shape = tuple(meta.input_tensor_meta(0).sizes())
        out = tuple(meta.output_tensor_meta(0).sizes())
        counts = (meta.num_inputs(), meta.num_outputs())
    except Exception as e:  # the runtime raises RuntimeError / ValueError of its own
        raise WeightsError(
            f"{path}: not a readable ExecuTorch program ({_first_line(e)})"
        ) from None
    if counts != (1, 1):
        raise WeightsError(f"{path}: not a classifier (one input, one output)")
    if len(out) != 2:
        raise WeightsError(f"{path}: the output is not a (batch, classes) shape: {out}")
    text, precision = _read_sidecar(path, ("fp32", "int8"))
    return text, input_shape, out[1], precision or "unknown"


def _read_sidecar(path: Path, precisions: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(description JSON or None, precision or None) from the sidecar of ``path``
    (``<file>.json``, written by ``export``); both None without one (the file then runs with
    the flags given); a malformed sidecar, or one naming a precision not in ``precisions``,
    raises ``WeightsError`` naming it."""
    from ..weights import WeightsError
    from .export import sidecar_path

    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None, None
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise WeightsError(f"{sidecar}: the model description is not valid JSON") from None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"precision", "model"}
        or raw["precision"] not in precisions
        or not isinstance(raw["model"], dict | None)
    ):
        named = " or ".join(f'"{p}"' for p in precisions)
        raise WeightsError(
            f"{sidecar}: not the description of an exported model "
            f'({{"precision": {named}, "model": {{...}}}})'
        )
    text = None if raw["model"] is None else json.dumps(raw["model"])
    return text, raw["precision"]


def _read_litert(path: Path) -> tuple[str | None, tuple[int | None, ...], int, str]:
    """:func:`_read_onnx` for a LiteRT ``.tflite``: shapes from the interpreter, the
    description from its sidecar (:func:`_read_sidecar`), the precision from the sidecar or
    else from the input's type (an INT8 export takes int8)."""
    from ..weights import WeightsError

    if importlib.util.find_spec("ai_edge_litert") is None:
        raise ValueError(f"{path}: running a .tflite needs pip install 'squeezenet-dc[litert]'")
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    except Exception as e:  # the interpreter raises ValueError / RuntimeError of its own
        raise WeightsError(f"{path}: not a readable LiteRT model ({_first_line(e)})") from None
    if (len(inputs), len(outputs)) != (1, 1):
        raise WeightsError(f"{path}: not a classifier (one input, one output)")
    input_shape = tuple(int(d) if d > 0 else None for d in inputs[0]["shape_signature"])
    out = tuple(int(d) for d in outputs[0]["shape"])
    if len(out) != 2:
        raise WeightsError(f"{path}: the output is not a (batch, classes) shape: {out}")
    text, precision = _read_sidecar(path, ("fp32", "int8"))
    if precision is None:
        precision = "fp32" if np.dtype(inputs[0]["dtype"]) == np.float32 else "int8"
    return text, input_shape, out[1], precision


def _read_ncnn(path: Path) -> tuple[str | None, tuple[int | None, ...], int, str]:
    """:func:`_read_onnx` for an ncnn ``.param`` (+ ``.bin``): the description and precision
    from its sidecar (:func:`_read_sidecar`). The graph takes one image of any size and its
    files hold no shapes: the input is ``(1, C, any, any)`` and the class count comes from
    one run on a blank image at the description's crop (224 without one)."""
    from ..weights import WeightsError
    from .export import sidecar_path

    _import_ncnn(path)  # first: without ncnn, the extra to install is the error
    text, precision = _read_sidecar(path, ("fp32", "fp16"))
    precision = precision or "unknown"
    channels, size = 3, 224
    if text is not None:
        info = ModelInfo.from_dict(json.loads(text), str(sidecar_path(path)))
        channels = info.model.get("spec", {}).get("in_channels", channels)
        size = info.preprocess.crop if info.preprocess is not None else size
    # One thread: no OpenMP worker threads start here, so bench can still fork the children
    # that measure memory (libgomp's thread pool does not survive a fork: a child would hang).
    run = _ncnn_fn(path, 1)
    try:
        logits = run(torch.zeros(1, channels, size, size))
    except RuntimeError as e:
        raise WeightsError(f"{path}: ncnn cannot run it ({_first_line(e)})") from None
    return text, (1, channels, None, None), logits.shape[1], precision
