"""Post-training static INT8 quantization, calibrated on real images, exact on every x86 CPU.

ONNX Runtime's QDQ quantizer: per-channel symmetric INT8 weights, UINT8 activations whose
ranges are the min/max seen on the calibration images; the QDQ graph runs as INT8 in both
ONNX Runtime and OpenVINO. Deep Compression (Han et al., 2016, section 3) shares weights
through 8-bit codebooks; this is the runtime-friendly cousin: uniform 8-bit weights *and*
activations, so the kernels run in integer arithmetic.

Weights use 7 bits of the 8 (integers in [-64, 64]). x86 CPUs without VNNI (AVX2, and
AVX-512 before Cascade Lake) multiply uint8 activations by int8 weights with ``vpmaddubsw``,
which adds each pair of products in 16 bits and saturates: two products of 255 x 127 reach
64,770 > 32,767. ONNX Runtime's and OpenVINO's kernels both take that path there, and with
full-range weights squeezenet1_1 lost 10 points of 1000-way top-1 (docs/deployment.md). With
|w| <= 64 a pair is at most 2 x 255 x 64 = 32,640, so the integer result is exact on every
CPU, and these are the fastest kernels on both kinds (uint8 x uint8 ran 1.3-1.8x slower).
The bit the weights give up is won back by rounding them with GPTQ (Frantar et al., ICLR
2023; :mod:`squeezenet.compress.gptq`) on the same calibration images instead of to the
nearest integer.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from ..files import atomic_path

#: The largest weight integer: a uint8 x int8 pair then sums to at most 2 * 255 * 64 = 32,640,
#: below int16's 32,767, so the CPUs that add pairs in 16 bits (no VNNI) never saturate.
WEIGHT_LIMIT = 64


class _Batches:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over a tensor, a few rows at a time."""

    def __init__(self, batch: torch.Tensor, input_name: str, rows: int = 8) -> None:
        self._chunks = iter(batch.split(rows))
        self._input_name = input_name

    def get_next(self):
        chunk = next(self._chunks, None)
        return None if chunk is None else {self._input_name: chunk.contiguous().numpy()}


def quantize_onnx(
    fp32_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    calibration: torch.Tensor,
    model: nn.Module | None = None,
) -> Path:
    """Write a QDQ INT8 copy of an fp32 ONNX model: per-channel symmetric weights in
    [-64, 64] (see the module's docstring), UINT8 activations whose ranges are the min/max
    seen on ``calibration``. With ``model`` (the module the ONNX file was exported from) its
    convolution and linear weights are GPTQ-rounded onto the grids ONNX Runtime chose, else
    rounded to the nearest integer."""
    import onnx

    int8_path = Path(int8_path)
    with atomic_path(int8_path) as tmp:
        quantize_qdq(fp32_path, tmp, calibration)
        if model is not None:
            graph = onnx.load(str(tmp))
            _gptq_round_weights(graph, model, calibration)
            onnx.save(graph, str(tmp))
    return int8_path


def quantize_qdq(
    fp32_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration: torch.Tensor,
    reduce_range: bool = True,
    unsigned_weights: bool = False,
) -> Path:
    """ONNX Runtime's QDQ static quantization of an fp32 ONNX model, weights per channel
    rounded to the nearest integer: int8 in [-64, 64] (``reduce_range``, what
    :func:`quantize_onnx` builds on), int8 over the full range, or uint8
    (``unsigned_weights``); UINT8 activations with the min/max ranges of ``calibration``.
    The other schemes are there to be compared (``benchmarks/int8_choice.py``)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    if calibration.dim() != 4 or len(calibration) == 0:
        raise ValueError(
            f"calibration must be a non-empty (N, C, H, W) batch, "
            f"got shape {tuple(calibration.shape)}"
        )
    out_path = Path(out_path)
    input_name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name
    reader = type("_Reader", (_Batches, CalibrationDataReader), {})(calibration, input_name)
    # Shape inference + graph cleanup first, as ONNX Runtime's quantization guide asks.
    pre = out_path.with_name(out_path.stem + "-pre.onnx")
    try:
        quant_pre_process(str(fp32_path), str(pre))
        quantize_static(
            str(pre),
            str(out_path),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8 if unsigned_weights else QuantType.QInt8,
            reduce_range=reduce_range,
        )
    finally:
        pre.unlink(missing_ok=True)
    return out_path


def weight_integers(graph) -> dict[str, tuple]:
    """``{parameter name: (int8 initializer, scale initializer)}`` for every per-channel
    quantized weight of a QDQ graph (the initializers ONNX Runtime names ``<name>_quantized``
    and feeds to a ``DequantizeLinear`` along axis 0)."""
    inits = {i.name: i for i in graph.graph.initializer}
    found = {}
    for node in graph.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q = inits[node.input[0]]
        if q.data_type != 3 or not q.name.endswith("_quantized"):  # 3: onnx.TensorProto.INT8
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if axis == 0 and len(q.dims) >= 2:
            found[q.name.removesuffix("_quantized")] = (q, inits[node.input[1]])
    return found


def _gptq_round_weights(graph, model: nn.Module, calibration: torch.Tensor) -> None:
    """Replace the integers of ``graph``'s weights by GPTQ's on the same per-channel grids."""
    from onnx import numpy_helper

    from ..compress.gptq import gptq_quantize

    params = dict(model.named_parameters())
    targets = {
        name: (q, scale)
        for name, (q, scale) in weight_integers(graph).items()
        if name in params and tuple(params[name].shape) == tuple(q.dims)
    }
    if not targets:
        return
    steps = {
        name: torch.from_numpy(numpy_helper.to_array(scale).copy()).double()
        for name, (_, scale) in targets.items()
    }
    work = copy.deepcopy(model).float().eval()
    # Each layer rounded in network order on what the rounded layers before it output.
    gptq_quantize(
        work,
        {n: s.float() for n, s in steps.items()},
        calibration,
        progress=False,
        limit=WEIGHT_LIMIT,
    )
    rounded = dict(work.named_parameters())
    for name, (q, _) in targets.items():
        step = steps[name].view(-1, *([1] * (q.dims.__len__() - 1)))
        ints = torch.round(rounded[name].detach().double() / step).clamp(
            -WEIGHT_LIMIT, WEIGHT_LIMIT
        )
        q.CopyFrom(numpy_helper.from_array(ints.to(torch.int8).numpy(), q.name))
