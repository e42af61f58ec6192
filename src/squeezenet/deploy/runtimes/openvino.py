"""OpenVINO IR (``.xml`` + ``.bin``, and ONNX files, which OpenVINO reads too), CPU."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from . import QUANTIZED_OPS, FileFacts, as_numpy, first_line


def load(
    path: Path, threads: int | None, max_shapes: int = 4
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``path`` compiled for the CPU in fp32, once per input shape seen (at most
    ``max_shapes`` kept): ``run(batch) -> logits``."""
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
        array = as_numpy(x)
        out = request_for(tuple(array.shape)).infer({0: array})[0]
        return torch.from_numpy(out.copy())  # the request reuses its output buffer

    return run


def read(path: Path) -> FileFacts:
    """:func:`.onnx.read` for an OpenVINO IR (``.xml`` + ``.bin``)."""
    from ...lite.graph import METADATA_KEY
    from ...weights import WeightsError

    if importlib.util.find_spec("openvino") is None:
        raise ValueError(f"{path}: reading OpenVINO IR needs pip install 'squeezenet-dc[openvino]'")
    import openvino as ov

    try:
        model = ov.Core().read_model(str(path))
    except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
        raise WeightsError(f"{path}: not a readable OpenVINO model ({first_line(e)})") from None
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
    quantized = any(op.get_type_name() in QUANTIZED_OPS for op in model.get_ops())
    return (
        text,
        dims(model.inputs[0].get_partial_shape()),
        out[1],
        "int8" if quantized else "fp32",
    )
