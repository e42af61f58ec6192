"""LiteRT (TFLite) flatbuffers (``.tflite``) in LiteRT's interpreter."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from . import FileFacts, as_numpy, first_line, read_sidecar


def load(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
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
        array = as_numpy(x)
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


def read(path: Path) -> FileFacts:
    """:func:`.onnx.read` for a LiteRT ``.tflite``: shapes from the interpreter, the
    description from its sidecar, the precision from the sidecar or else from the input's
    type (an INT8 export takes int8)."""
    from ...weights import WeightsError

    if importlib.util.find_spec("ai_edge_litert") is None:
        raise ValueError(f"{path}: running a .tflite needs pip install 'squeezenet-dc[litert]'")
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    except Exception as e:  # the interpreter raises ValueError / RuntimeError of its own
        raise WeightsError(f"{path}: not a readable LiteRT model ({first_line(e)})") from None
    if (len(inputs), len(outputs)) != (1, 1):
        raise WeightsError(f"{path}: not a classifier (one input, one output)")
    input_shape = tuple(int(d) if d > 0 else None for d in inputs[0]["shape_signature"])
    out = tuple(int(d) for d in outputs[0]["shape"])
    if len(out) != 2:
        raise WeightsError(f"{path}: the output is not a (batch, classes) shape: {out}")
    text, precision = read_sidecar(path, ("fp32", "int8"))
    if precision is None:
        precision = "fp32" if np.dtype(inputs[0]["dtype"]) == np.float32 else "int8"
    return text, input_shape, out[1], precision
