"""``squeezenet predict`` as a function: the top classes of each image."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..data.images import list_images
from ..predict import class_names
from ..predict import predict as top_classes
from ..weights.loading import model_classes, num_outputs
from .models import model_runner, open_model, skip_broken_links


@dataclass
class Predictions:
    """``files``: what is classified, in order (folders expanded); ``left_out``: links
    found in the folders that lead nowhere; ``results``: one ``{"image", "top": [{"index",
    "name", "prob"}, ...]}`` per readable file, each batch's as soon as it is done."""

    files: list[str]
    left_out: list[str]
    results: Iterator[dict]


def expand_inputs(paths: list[str], broken: list[str] | None = None) -> list[str]:
    """Files as given; folders become their image files (sorted, recursively). Links
    inside a folder that lead nowhere (dangling, or a loop) are appended to ``broken``."""
    out = []
    for p in paths:
        if Path(p).is_dir():
            found, bad = list_images(p)
            if broken is not None:
                broken += sorted(str(f) for f in bad)
            if not found:
                raise ValueError(f"{p}: folder holds no images")
            out += sorted(str(f) for f in found)  # (as strings: the order output has kept)
        else:
            out.append(p)
    return out


def predict(
    images: list[str],
    weights: str | os.PathLike | None = None,
    model: str | None = None,
    *,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    classes: str | None = None,
    k: int = 5,
    preprocess: str | None = None,
    image_size: int | None = None,
    backend: str | None = None,
    batch_size: int = 32,
    workers: int = 0,
    decode: str = "fast",
    precision: str = "fp32",
    strict: bool = False,
    progress: bool = True,
    on_skip: Callable[[str], None] | None = None,
    **runner,
) -> Predictions:
    """Classify ``images`` (files, or folders of them) with ``weights`` (``model``,
    ``conv10_padding`` and ``model_args`` as :func:`.open_model`), with ``squeezenet
    predict``'s defaults: the ``k`` most probable classes, named from ``classes`` (a class
    list file), else the names the weights carry, else ImageNet-1k's for 1000 outputs. The
    model, its classes and the files are checked before any image is read; an unreadable
    image is skipped, its message passed to ``on_skip`` (with ``strict``, it raises).
    ``runner``: :func:`.model_runner`'s ``device``, ``threads``, ``calibration`` and
    ``calibration_size``."""
    net = open_model(
        model, weights, conv10_padding=conv10_padding, model_args=model_args, exported=True
    )
    # Read now: a wrong class list is named before any image is.
    names = class_names(num_outputs(net), classes or model_classes(net))
    run, chosen, _ = model_runner(
        net, backend=backend, preprocess=preprocess, image_size=image_size, **runner
    )
    broken: list[str] = []
    files = expand_inputs(images, broken)
    skip_broken_links(broken, on_skip, strict)
    results = top_classes(
        run,
        files,
        chosen,
        k,
        batch_size,
        names,
        strict=strict,
        on_skip=on_skip,
        decode=decode,
        progress=progress,
        workers=workers,
        precision=precision,
    )
    return Predictions(files, broken, results)
