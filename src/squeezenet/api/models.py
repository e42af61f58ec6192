"""The model a command runs: PyTorch weights or an exported file, and what runs it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..data.transforms import Preprocess
from ..deploy.backends import ExportedModel, is_exported, open_exported
from ..weights import create_model, preprocess_for


def open_model(
    model: str | None = None,
    weights: str | os.PathLike | None = None,
    *,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    exported: bool = False,
) -> Any:
    """``create_model`` with these overrides, as ``-m``, ``-w``, ``--conv10-padding`` and
    ``--model-arg`` give it. With ``exported`` (work that only runs the model), an exported
    file as ``weights`` (.onnx, .xml, .pte, .tflite, .param) gives an :class:`ExportedModel`
    that :func:`model_runner` runs in its runtime; otherwise one is refused."""
    overrides = model_args or {}
    if weights is not None and is_exported(weights):
        if not exported:
            raise ValueError(
                f"{weights}: an exported file runs in predict, evaluate and bench; "
                "this command needs the PyTorch weights it was exported from"
            )
        if overrides or conv10_padding is not None:
            # The graph is fixed at export: an override could only be silently ignored.
            raise ValueError(
                f"{weights}: --model-arg and --conv10-padding change a PyTorch model; "
                "an exported file's architecture is fixed"
            )
        return open_exported(weights, model)
    return create_model(model, weights=weights, conv10_padding=conv10_padding, **overrides)


def model_runner(
    model: Any,
    *,
    backend: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    preprocess: str | None = None,
    image_size: int | None = None,
    calibration: Any = None,
    calibration_size: int = 200,
) -> tuple[Callable, Preprocess, str]:
    """What runs ``model`` in ``backend`` (the module itself on ``device`` for ``torch``, the
    default; else the named runtime's callable; an exported file in its own runtime), the
    preprocessing it takes (the ``preprocess`` preset, else its weights'; cropped to
    ``image_size``) and the backend chosen. The ``-int8`` runtimes calibrate on
    ``calibration_size`` images drawn from ``calibration``."""
    from ..engine import resolve_device

    if isinstance(model, ExportedModel):
        backend = backend or model.backends[0]
        if device not in ("auto", "cpu"):
            raise ValueError(f"--device {device} applies to PyTorch models only")
        size = model.input_size
        if image_size is not None and size is not None and image_size != size:
            # The runtime would fail on the first batch, less clearly.
            raise ValueError(
                f"{model.path}: the graph takes {size}x{size} images, not the "
                f"--image-size {image_size} asked for"
            )
        # A graph with a fixed input takes that crop, whatever preset preprocesses it.
        chosen = preprocess_for(None, model, preprocess, image_size or size)
        return model.runner(backend, threads), chosen, backend
    backend = backend or "torch"
    resolved = resolve_device(device)
    if resolved.type != "cpu":
        # Other runtimes choose their own device: another --device is a usage error there.
        if backend != "torch":
            raise ValueError(f"--device {device} applies to --backend torch only")
        model = model.to(resolved)
    model = model.eval()
    chosen = preprocess_for(None, model, preprocess, image_size)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if backend == "torch":
        return model, chosen, backend
    from ..deploy.backends import BACKENDS, create_backends

    inputs = None
    if BACKENDS[backend].precision == "int8" and calibration is not None:
        from ..data import sample_images

        inputs = sample_images(calibration, chosen, calibration_size)
    runtimes = create_backends([backend], model, chosen.crop, threads, inputs)
    return runtimes[0], chosen, backend


def skip_broken_links(links: list, on_skip: Callable[[str], None] | None, strict: bool) -> None:
    """Pass each link found among the images that leads nowhere (dangling, or a loop) to
    ``on_skip``; with ``strict`` the first one raises, as an unreadable image does."""
    from ..data import ImageError

    for link in links:
        if on_skip is not None:
            on_skip(f"{link}: a symbolic link to nothing (dangling, or a loop)")
    if links and strict:
        raise ImageError(f"{links[0]}: a symbolic link to nothing")
