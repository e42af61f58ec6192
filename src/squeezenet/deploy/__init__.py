"""Deployment: export to ONNX / TorchScript / OpenVINO IR, post-training INT8, runtime
backends behind one callable interface, and a backend benchmark.

SqueezeNet's point (paper section 1) is a model small and fast enough for modest hardware;
this package turns a trained model into the artefacts deployment runtimes load, and measures
how fast each runtime runs it. The heavy runtimes (onnx, onnxruntime, openvino) are optional
extras, imported only inside the functions that need them.
"""

from .backends import BACKENDS, Backend, available_backends, create_backends
from .export import FORMATS, compare_outputs, export_model
