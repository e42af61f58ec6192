"""``squeezenet evaluate`` as a function: top-1 / top-5 over a folder of labelled images."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..data import DatasetError, scan_folder
from ..data.images import default_class_list
from ..data.spec import DataSpec
from ..engine import evaluate as score_images
from ..engine import resolve_precision
from ..weights import model_card
from ..weights.loading import model_classes, num_outputs
from .models import model_runner, open_model, skip_broken_links

#: The command's default number of image-decoding worker processes.
WORKERS = min(2, os.cpu_count() or 1)


def evaluate(
    data: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    model: str | None = None,
    *,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    classes: str | None = None,
    preprocess: str | None = None,
    image_size: int | None = None,
    backend: str | None = None,
    batch_size: int = 50,
    workers: int = WORKERS,
    decode: str = "fast",
    precision: str = "fp32",
    strict: bool = False,
    progress: bool = True,
    on_skip: Callable[[str], None] | None = None,
    **runner,
) -> dict:
    """Score ``weights`` (registered name, file, URL or exported file; ``model`` when they do
    not name it; ``conv10_padding`` and ``model_args`` as :func:`.open_model`) on the
    labelled images in ``data``, with ``squeezenet evaluate``'s defaults.

    ``data`` is an ImageFolder tree or a flat folder of wnid-named files, labelled by
    ``classes`` (a class-list file), else by the class names the weights carry, else by the
    ImageNet-1k list for 1000-class models. A file that cannot be read or labelled is left
    out and counted in ``skipped``, its message passed to ``on_skip``; with ``strict`` the
    first one raises. ``runner``: :func:`.model_runner`'s ``device``, ``threads``,
    ``calibration`` and ``calibration_size``. Returns ``top1``, ``top5`` (fractions),
    ``correct1``, ``correct5``, ``n``, ``skipped`` and what was run (``model``, ``backend``,
    ``preprocess``, ``crop``, ...)."""
    skip = on_skip or (lambda message: None)
    spec = DataSpec(
        Path(data), batch_size=batch_size, workers=workers, strict=strict, progress=progress
    )
    net = open_model(
        model, weights, conv10_padding=conv10_padding, model_args=model_args, exported=True
    )
    outputs = num_outputs(net)
    images = scan_folder(spec.path, default_class_list(classes, outputs, model_classes(net)))
    skip_broken_links(images.broken, skip, strict)
    for message in images.stray:
        skip(message)
    if images.stray and strict:
        raise DatasetError(images.stray[0])
    # backend torch: the module itself, which the engine runs channels-last at `precision`.
    run, chosen, backend = model_runner(
        net, backend=backend, preprocess=preprocess, image_size=image_size, **runner
    )
    result = score_images(
        run, spec, chosen, images=images, on_skip=skip, decode=decode, precision=precision
    )
    card = model_card(net)
    result["skipped"] += len(images.broken) + len(images.stray)  # one count
    result.update(
        model=card.architecture if card else model,
        weights=None if weights is None else str(weights),
        backend=backend,
        preprocess=chosen.name,
        crop=chosen.crop,
        decode=decode,
        precision=resolve_precision(precision) if backend == "torch" else None,
        data=str(data),
        num_classes=outputs,
    )
    return result
