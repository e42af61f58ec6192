"""ONNX files (``.onnx``) in ONNX Runtime, CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from . import QUANTIZED_OPS, FileFacts, as_numpy, first_line


def load(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ONNX Runtime session over ``path``: ``run(batch) -> logits``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default (all cores)
    options.inter_op_num_threads = 1  # a chain of convolutions: no graph-level parallelism
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        out = session.run(None, {input_name: as_numpy(x)})[0]
        return torch.from_numpy(out)

    return run


def read(path: Path) -> FileFacts:
    """(description JSON or None, input shape, class count, precision) of an ONNX file."""
    import onnx

    from ...lite.graph import METADATA_KEY, WEIGHTS_LOCATION
    from ...weights import WeightsError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError, OSError, ...
        raise WeightsError(f"{path}: not a readable ONNX model ({first_line(e)})") from None
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
    quantized = any(n.op_type in QUANTIZED_OPS for n in graph.node)
    return meta.get(METADATA_KEY), dims(graph.input[0]), out[1], "int8" if quantized else "fp32"
