"""``squeezenet compress`` as a function: weights into a compressed ``.sqz`` file."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..compress.presets import PRESET_SUMMARY, default_preset
from ..compress.report import Report
from ..compress.weights_file import compress_weights_file
from ..engine import resolve_device
from ..weights import model_card, preprocess_for
from .models import open_model

#: What compress says when nothing fine-tunes or scores the compressed model.
UNCHECKED = (
    "compress: warning: no --calibration, --data or --eval: nothing fine-tunes the "
    "model after pruning and nothing checks its accuracy; give --calibration with "
    "photos like the model's own (the gptq preset) to compress it safely"
)


def compress(
    weights: str,
    output: str | os.PathLike,
    model: str | None = None,
    *,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    preset: str | None = None,
    preprocess: str | None = None,
    image_size: int | None = None,
    device: str = "auto",
    eval_dir: str | None = None,
    classes: str | None = None,
    allow_collapse: bool = False,
    log: Callable[[str], None] | None = None,
    **settings,
) -> tuple[int, Report]:
    """Compress ``weights`` (``model``, ``conv10_padding`` and ``model_args`` as
    :func:`.open_model`) into ``output`` with ``squeezenet compress``'s defaults; returns the
    file's size and the per-stage report. ``settings`` are the fields of ``CompressConfig``
    and ``FineTuneData`` (``calibration``, ``data``, ``prune``, ``bits``, ...; None: not
    given), over the named ``preset`` (default: ``gptq`` with ``calibration`` and no
    ``data``, else ``paper``). ``eval_dir``: labelled images scored after every stage, by
    ``classes``. ``log`` receives the preset chosen and warnings. A compression that
    breaks the model raises ``CompressionCollapsed`` and writes nothing, unless
    ``allow_collapse``."""
    say = log or (lambda line: None)
    resolved = resolve_device(device)
    net = open_model(model, weights, conv10_padding=conv10_padding, model_args=model_args)
    net = net.to(resolved)
    card = model_card(net)
    assert card is not None  # open_model's models carry one
    chosen = preprocess_for(None, net, preprocess, image_size)
    given = {k: v for k, v in settings.items() if v is not None}
    preset = preset or default_preset(given.get("calibration"), given.get("data"))
    say(f"compress: preset {preset}: {PRESET_SUMMARY[preset]}")
    if not (given.get("calibration") or given.get("data") or eval_dir):
        say(UNCHECKED)
    return compress_weights_file(
        net,
        card.architecture,
        weights,
        output,
        chosen,
        preset=preset,
        eval_dir=eval_dir,
        classes=classes,
        device=resolved,
        allow_collapse=allow_collapse,
        **given,
    )
