"""``squeezenet bench`` as a function: latency and throughput of each inference backend."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..deploy.backends import (
    BACKENDS,
    ExportedModel,
    available_backends,
    backend_installed,
    open_exported,
)
from ..deploy.bench import format_table, run_bench
from ..weights import input_size, model_card, preprocess_for
from .models import open_model


@dataclass
class Timings:
    """One row per backend and batch size (see :func:`squeezenet.deploy.bench.run_bench`),
    the ``model`` timed and the ``input_size`` it ran at."""

    rows: list[dict]
    model: str
    input_size: int

    def table(self) -> str:
        """The rows as ``squeezenet bench`` prints them."""
        return format_table(self.rows)


def bench(
    weights: str | os.PathLike | None = None,
    model: str | None = None,
    *,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    backends: Sequence[str] | None = None,
    exported: Sequence[str | os.PathLike] = (),
    image_size: int | None = None,
    threads: int = 2,
    rounds: int = 10,
    iters: int = 20,
    batch_size: int = 32,
    calibration: str | Sequence[str] | None = None,
    calibration_size: int = 200,
    preprocess: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Timings:
    """Time ``backends`` (default: every installed one; the INT8 ones only with
    ``calibration`` images) running ``weights`` (``model``, ``conv10_padding`` and
    ``model_args`` as :func:`.open_model`; an exported file runs in each installed runtime
    that reads it), and the ``exported`` files, in the same interleaved rounds, with
    ``squeezenet bench``'s defaults: one row per backend and batch size (1 and
    ``batch_size``). ``log`` receives notes."""
    net = open_model(
        model, weights, conv10_padding=conv10_padding, model_args=model_args, exported=True
    )
    is_file = isinstance(net, ExportedModel)
    if not is_file:
        net = net.eval()
    side = input_size(net, image_size)
    for name, value in (
        ("threads", threads),
        ("rounds", rounds),
        ("iters", iters),
        ("batch_size", batch_size),
        ("image_size", side),
    ):
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    names = list(backends) if backends is not None else _installed(net, calibration, log)
    files = [open_exported(path) for path in exported]
    inputs = None
    if calibration is not None and any(
        BACKENDS.get(n) and BACKENDS[n].precision == "int8" for n in names
    ):
        from ..data import sample_images

        chosen = preprocess_for(None, net, preprocess, side)
        inputs = sample_images(calibration, chosen, calibration_size)
    rows = run_bench(
        net,
        names,
        input_size=side,
        threads=threads,
        rounds=rounds,
        iters=iters,
        batch=batch_size,
        calibration=inputs,
        progress=progress,
        files=files,
    )
    card = model_card(net)
    assert card is not None  # open_model's models carry one
    return Timings(rows, card.architecture, side)


def _installed(net, calibration, log: Callable[[str], None] | None) -> list[str]:
    """Every installed backend that runs ``net``; the INT8 ones only with calibration."""
    if isinstance(net, ExportedModel):  # every installed runtime that reads the file
        return [n for n in net.backends if backend_installed(n)]
    names = available_backends()
    if calibration is None:
        skipped = [n for n in names if BACKENDS[n].precision == "int8"]
        names = [n for n in names if n not in skipped]
        if skipped and log is not None:
            log(f"note: skipping {', '.join(skipped)} (no --calibration)")
    return names
