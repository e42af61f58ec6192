"""What ``squeezenet export`` knows about each format, in one record per format, and what
each runtime that runs exported files is; imports no torch, so that the command line refuses
a format or an option it lacks before loading anything. The code of a format (its exporter,
its reader, its runtime) is named as ``"module:function"`` and imported on use
(:func:`resolve`): adding a runtime means adding its records here and its module in
:mod:`.runtimes`; ``export``, ``predict -w FILE`` and ``bench`` follow from the tables."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_RUNTIMES = "squeezenet.deploy.runtimes"
_EXPORT = "squeezenet.deploy.export"


@dataclass(frozen=True)
class Runtime:
    """A runtime that runs exported files: a ``--backend`` of its own."""

    name: str  # the backend's name
    module: str  # the Python module it needs
    extra: str  # the pip extra that installs it
    help: str  # its part of ``bench --help``
    load: str  # "module:function": (path, threads) -> a callable from a float batch to logits
    # With ``int8_help``, it also runs a PyTorch model (exported to ONNX on the fly) and has
    # an ``-int8`` backend (ONNX Runtime's static INT8 graph), described by that text.
    int8_help: str = ""


#: Every runtime, in the order ``bench --help`` lists their backends.
RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "onnxruntime",
            "onnxruntime",
            "onnx",
            "ONNX Runtime, CPU",
            f"{_RUNTIMES}.onnx:load",
            int8_help="ONNX Runtime, static INT8 (QDQ)",
        ),
        Runtime(
            "openvino",
            "openvino",
            "openvino",
            "OpenVINO, CPU, fp32 inference",
            f"{_RUNTIMES}.openvino:load",
            int8_help="OpenVINO running the static INT8 (QDQ) ONNX graph",
        ),
        Runtime(
            "executorch",
            "executorch",
            "executorch",
            "ExecuTorch with the XNNPACK delegate (an exported .pte as -w only)",
            f"{_RUNTIMES}.executorch:load",
        ),
        Runtime(
            "litert",
            "ai_edge_litert",
            "litert",
            "LiteRT (TFLite) interpreter with the XNNPACK delegate (an exported .tflite as -w "
            "only)",
            f"{_RUNTIMES}.litert:load",
        ),
        Runtime(
            "ncnn",
            "ncnn",
            "ncnn",
            "ncnn, CPU (an exported .param as -w only)",
            f"{_RUNTIMES}.ncnn:load",
        ),
    )
}


@dataclass(frozen=True)
class ExportFormat:
    """One export format: the files it writes, what it needs, what it can hold."""

    name: str  # the value of ``export --format``
    suffix: str  # what the export appends to a file name given without one
    reads: str  # the suffix that marks a ``-w`` file as this format (or "": not read back)
    runtimes: tuple[str, ...]  # the backends that run its files, the default first
    extra: str | None  # the pip extra that brings its converter (None: PyTorch alone)
    modules: tuple[str, ...]  # the modules its export and its check need
    int8: bool  # whether ``--int8`` is available
    sidecar: bool  # whether its description travels in a JSON file beside it
    help: str  # its part of ``export --format``'s help
    no_int8: str = ""  # why ``--int8`` is not available, when that needs saying
    fp16: bool = False  # whether ``--fp16`` (weights stored as fp16) is available
    weightless: bool = False  # whether ``--weightless`` (the graph alone) is available
    bin: bool = False  # whether its weights are a ``.bin`` beside the graph file
    # "module:function" writing the file: (model, path, *, input_size, calibration, opset,
    # description, fp16) -> the path written ("": the format is written by its own command
    # path, as the web page is)
    export: str = ""
    # "module:function" reading a ``-w`` file: path -> (description JSON or None, input
    # shape, class count, precision) ("" where ``reads`` is "")
    read: str = ""
    # "module:function" loading the file to check the export: (path, threads) -> a callable
    # ("": the first of ``runtimes``)
    check: str = ""

    @property
    def loader(self) -> str:
        """ "module:function" loading its file in the runtime that checks the export."""
        if self.check:
            return self.check
        if not self.runtimes:
            raise ValueError(f"no runtime loads a {self.name} file")
        return RUNTIMES[self.runtimes[0]].load


#: Why ``export --format ncnn --int8`` is refused.
NCNN_NO_INT8 = (
    "INT8 is not available for the ncnn format: ncnn quantizes with its C++ tools ncnn2table "
    "and ncnn2int8, which the ncnn and pnnx packages do not ship (and ncnn publishes no source "
    "package to build them from); for INT8 export to onnx, openvino, executorch or litert"
)

_ONNX = ("onnx", "onnxscript", "onnxruntime")

#: Every export format, in the order ``export --help`` lists them.
EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "onnx",
            ".onnx",
            ".onnx",
            ("onnxruntime", "openvino"),
            "onnx",
            _ONNX,
            int8=True,
            sidecar=False,
            help="one self-contained .onnx file, dynamic batch",
            weightless=True,
            export=f"{_EXPORT}:to_onnx",
            read=f"{_RUNTIMES}.onnx:read",
        ),
        ExportFormat(
            "torchscript",
            ".pt",
            "",
            (),
            None,
            (),
            int8=False,
            sidecar=False,
            help="traced module for torch.jit.load",
            export=f"{_EXPORT}:to_torchscript",
            check=f"{_RUNTIMES}.torchscript:load",
        ),
        ExportFormat(
            "openvino",
            ".xml",
            ".xml",
            ("openvino",),
            "openvino",
            (*_ONNX, "openvino"),
            int8=True,
            sidecar=False,
            help="IR .xml + .bin",
            bin=True,
            export=f"{_EXPORT}:to_openvino",
            read=f"{_RUNTIMES}.openvino:read",
        ),
        ExportFormat(
            "executorch",
            ".pte",
            ".pte",
            ("executorch",),
            "executorch",
            ("executorch",),
            int8=True,
            sidecar=True,
            help="a .pte delegated to XNNPACK, batch 1, its description in <file>.pte.json "
            "beside it",
            export=f"{_EXPORT}:to_executorch",
            read=f"{_RUNTIMES}.executorch:read",
        ),
        ExportFormat(
            "litert",
            ".tflite",
            ".tflite",
            ("litert",),
            "litert",
            ("litert_torch",),
            int8=True,
            sidecar=True,
            help="a LiteRT (TFLite) .tflite, batch 1, its description in <file>.tflite.json",
            export=f"{_EXPORT}:to_litert",
            read=f"{_RUNTIMES}.litert:read",
        ),
        ExportFormat(
            "ncnn",
            ".ncnn.param",
            ".param",
            ("ncnn",),
            "ncnn",
            ("pnnx", "ncnn"),
            int8=False,
            sidecar=True,
            help="graph <name>.param + weights <name>.bin, converted by pnnx, one image per "
            "run, its description in <name>.param.json",
            no_int8=NCNN_NO_INT8,
            fp16=True,
            bin=True,
            export=f"{_EXPORT}:to_ncnn",
            read=f"{_RUNTIMES}.ncnn:read",
        ),
        ExportFormat(
            "web",
            "-web",
            "",
            (),
            "onnx",
            _ONNX,
            int8=False,
            sidecar=False,
            help="a folder for any static web server: a page that classifies the user's "
            "photos in the browser (ONNX Runtime Web), the .sqz decoded in JavaScript (other "
            "weights travel as float16); -o names the folder",
        ),
    )
}


def export_format(name: str) -> ExportFormat:
    """The record of format ``name``; ``ValueError`` naming the choices for any other."""
    try:
        return EXPORT_FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown export format {name!r}; choose from {', '.join(EXPORT_FORMATS)}"
        ) from None


def formats_with(option: str) -> list[str]:
    """The formats an option (``int8``, ``fp16``, ``weightless``) is available for."""
    return [f.name for f in EXPORT_FORMATS.values() if getattr(f, option)]


def listed(names: list[str], last: str = "and") -> str:
    """``a, b and c``."""
    return ", ".join(names[:-1]) + f" {last} " + names[-1] if len(names) > 1 else names[0]


def option_refusal(
    name: str, int8: bool, fp16: bool, *, calibrated: bool = True, weightless: bool = False
) -> str | None:
    """Why exporting format ``name`` with these options cannot be done (flags named as
    ``squeezenet export`` spells them), or None. Decided from the table alone, before any model
    or runtime is loaded."""
    fmt = export_format(name)
    if int8 and fmt.no_int8:
        return f"--int8 with --format {name}: {fmt.no_int8}"
    if int8 and not calibrated:
        return "--int8 needs --calibration (an image folder or a zip of images)"
    if int8 and not fmt.int8:
        return f"--int8 is available for --format {listed(formats_with('int8'))} only"
    if fp16 and not fmt.fp16:
        return f"--fp16 is available for --format {listed(formats_with('fp16'))} only"
    if weightless and (not fmt.weightless or int8):
        names = listed(formats_with("weightless"))
        return f"--weightless is available for the fp32 --format {names} only"
    return None


def missing_extra(name: str) -> str | None:
    """The ``pip install`` that format ``name``'s export lacks, or None when its modules
    are all installed (looked up, not imported)."""
    fmt = export_format(name)
    if any(importlib.util.find_spec(m) is None for m in fmt.modules):
        return f"--format {name} needs pip install 'squeezenet-dc[{fmt.extra}]'"
    return None


def resolve(ref: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` reference names, its module imported now."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
