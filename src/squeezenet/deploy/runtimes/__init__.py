"""One module per runtime that runs exported files: ``load(path, threads)`` gives a callable
from a float batch to logits, ``read(path)`` what the file says of its model (see
:func:`squeezenet.deploy.backends.open_exported`). :data:`..formats.RUNTIMES` and
:data:`..formats.EXPORT_FORMATS` name these functions; each module imports its runtime only
when called."""

from __future__ import annotations

import json
from pathlib import Path

#: What a reader returns: (description JSON or None, input shape with None where a dimension
#: is dynamic, class count, precision).
FileFacts = tuple[str | None, tuple[int | None, ...], int, str]

#: Ops that only a quantized graph holds (ONNX Runtime's QDQ, OpenVINO's form of it).
QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "FakeQuantize"}


def as_numpy(x):
    """A torch batch as a contiguous float32 array."""
    import torch

    return x.detach().to(torch.float32).contiguous().numpy()


def first_line(e: BaseException) -> str:
    """The first line of an error's message (at most 300 characters), else its type."""
    lines = str(e).strip().splitlines()
    return lines[0][:300] if lines else type(e).__name__


def read_sidecar(path: Path, precisions: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(description JSON or None, precision or None) from the sidecar of ``path``
    (``<file>.json``, written by ``export``); both None without one (the file then runs with
    the flags given); a malformed sidecar, or one naming a precision not in ``precisions``,
    raises ``WeightsError`` naming it."""
    from ...weights import WeightsError
    from ..export import sidecar_path

    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None, None
    try:
        raw = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise WeightsError(f"{sidecar}: the model description is not valid JSON") from None
    if (
        not isinstance(raw, dict)
        or set(raw) != {"precision", "model"}
        or raw["precision"] not in precisions
        or not isinstance(raw["model"], dict | None)
    ):
        named = " or ".join(f'"{p}"' for p in precisions)
        raise WeightsError(
            f"{sidecar}: not the description of an exported model "
            f'({{"precision": {named}, "model": {{...}}}})'
        )
    text = None if raw["model"] is None else json.dumps(raw["model"])
    return text, raw["precision"]
