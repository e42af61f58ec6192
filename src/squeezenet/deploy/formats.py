"""What ``squeezenet export`` knows about each format, in one record per format; imports no
torch, so that the command line refuses a format or an option it lacks before loading
anything."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


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
