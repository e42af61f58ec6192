"""ExecuTorch programs (``.pte``, XNNPACK delegate) in ExecuTorch's runtime."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from . import FileFacts, first_line, read_sidecar


def load(path: Path, threads: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
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


def read(path: Path) -> FileFacts:
    """:func:`.onnx.read` for an ExecuTorch ``.pte``: shapes from the program's method
    metadata, the description and precision from its sidecar (``<file>.json``, written by
    ``export --format executorch``; a file without one runs with the flags given)."""
    from ...weights import WeightsError

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
        raise WeightsError(f"{path}: not a readable ExecuTorch program ({first_line(e)})") from None
    if counts != (1, 1):
        raise WeightsError(f"{path}: not a classifier (one input, one output)")
    if len(out) != 2:
        raise WeightsError(f"{path}: the output is not a (batch, classes) shape: {out}")
    text, precision = read_sidecar(path, ("fp32", "int8"))
    return text, input_shape, out[1], precision or "unknown"
