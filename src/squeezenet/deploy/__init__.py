"""Deployment: export to ONNX / TorchScript / OpenVINO IR, post-training INT8, runtime
backends behind one callable interface, and a backend benchmark.

SqueezeNet's point (paper section 1) is a model small and fast enough for modest hardware;
this package turns a trained model into the artefacts deployment runtimes load, and measures
how fast each runtime runs it. The heavy runtimes (onnx, onnxruntime, openvino) are optional
extras, imported only inside the functions that need them; the names below are imported on
first use, so that ``deploy.formats`` (what each export format is) loads without PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .backends import BACKENDS, Backend, available_backends, create_backends
    from .export import FORMATS, compare_outputs, export_model
    from .formats import EXPORT_FORMATS, missing_extra, option_refusal

__all__ = [
    "BACKENDS",
    "EXPORT_FORMATS",
    "FORMATS",
    "Backend",
    "available_backends",
    "compare_outputs",
    "create_backends",
    "export_model",
    "missing_extra",
    "option_refusal",
]

_SOURCES = {
    "BACKENDS": "backends",
    "Backend": "backends",
    "available_backends": "backends",
    "create_backends": "backends",
    "FORMATS": "export",
    "compare_outputs": "export",
    "export_model": "export",
    "EXPORT_FORMATS": "formats",
    "missing_extra": "formats",
    "option_refusal": "formats",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _SOURCES)
