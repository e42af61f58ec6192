"""Inference backends behind one interface: a callable from a float batch to logits.

``torch`` (eager), ``torch-cl`` (eager, channels-last memory layout: oneDNN's preferred
layout, no conversions between convolutions), ``onnxruntime`` / ``openvino`` (fp32) and their
``-int8`` variants (post-training static INT8, :mod:`.quantize_int8`), and ``executorch``,
``litert`` and ``ncnn``, which run exported files only (``.pte``, ``.tflite``, ``.param`` +
``.bin``). Any backend plugs into :func:`squeezenet.engine.evaluate` and the ``predict`` /
``evaluate`` commands. The runtimes are the records of :data:`.formats.RUNTIMES`; their code
is in :mod:`.runtimes`, one module each.
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
from .formats import EXPORT_FORMATS, RUNTIMES, export_format, resolve
from .runtimes import first_line


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


def _backends() -> dict[str, BackendInfo]:
    """PyTorch's two, then each runtime of :data:`.formats.RUNTIMES` (with its ``-int8``
    variant where it has one)."""
    table = {
        "torch": BackendInfo(None, "fp32", None, "PyTorch eager"),
        "torch-cl": BackendInfo(None, "fp32", None, "PyTorch eager, channels-last layout"),
    }
    for r in RUNTIMES.values():
        table[r.name] = BackendInfo(r.module, "fp32", r.extra, r.help, not r.int8_help)
        if r.int8_help:
            table[f"{r.name}-int8"] = BackendInfo(r.module, "int8", r.extra, r.int8_help)
    return table


#: Every backend by name: what ``--backend`` and ``bench --backends`` take.
BACKENDS: dict[str, BackendInfo] = _backends()


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
    load = resolve(RUNTIMES[name.removesuffix("-int8")].load)
    return Backend(name, info.precision, load(artifacts[info.precision], threads))


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


def load_exported(
    path: str | os.PathLike, fmt: str, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable over an exported file, run by the runtime that checks that format's exports
    (:attr:`.formats.ExportFormat.loader`: ONNX files by ONNX Runtime, IR by OpenVINO,
    TorchScript by ``torch.jit.load``, ``.pte`` by ExecuTorch, ``.tflite`` by LiteRT,
    ``.param`` by ncnn)."""
    return resolve(export_format(fmt).loader)(Path(path), threads)


#: Exported files ``-w`` accepts, by suffix: their format and the backends that run them
#: (the first by default; OpenVINO reads ONNX files too).
EXPORTED = {f.reads: (f.name, f.runtimes) for f in EXPORT_FORMATS.values() if f.reads}


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
        runtime = RUNTIMES[name]
        if not _has_module(runtime.module):
            raise ValueError(
                f"backend {name!r} needs {runtime.module}: "
                f"pip install 'squeezenet-dc[{runtime.extra}]'"
            )

    def runner(self, name: str | None = None, threads: int | None = None) -> Backend:
        """The file loaded in backend ``name`` (default: its format's own runtime)."""
        from ..weights import WeightsError

        name = name or self.backends[0]
        self.check_backend(name)
        try:
            fn = resolve(RUNTIMES[name].load)(self.path, threads)
        except Exception as e:  # each runtime has its own error types
            raise WeightsError(f"{self.path}: {name} cannot load it ({first_line(e)})") from None
        return Backend(name, self.precision, fn)


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
    text, input_shape, outputs, precision = resolve(export_format(fmt).read)(path)
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
