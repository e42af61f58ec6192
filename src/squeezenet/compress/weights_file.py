"""Compress a model's weights into a ``.sqz`` file: what ``squeezenet compress`` does, for the
Python API too. Picks the tuner (labelled retraining with ``train_data``, distillation on
``calib`` images, or none), the score (top-1 on ``eval_dir``, else on the training data's
test split when retraining) and the file's metadata, then runs :func:`.pipeline.compress`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data import sample_images, scan_folder
from ..data.images import default_class_list
from ..data.transforms import Preprocess
from ..engine import evaluate
from ..weights import read_state_dict, resolve_source
from ..weights.loading import num_outputs
from ..weights.sqz import fileformat
from ..weights.sqz.modeldesc import describe_model
from .pipeline import CompressConfig, compress, lossless
from .retrain import LabelledRetraining
from .stages import Report


@dataclass(frozen=True)
class FineTuneData:
    """Where fine-tuning data comes from: unlabeled ``calib`` images (distillation) or
    labelled ``train_data`` (retraining, as the paper does); at most one of them."""

    calib: str | Sequence[str] | None = None  # one source or several, sharing the draw equally
    calib_prefix: str = ""
    calib_images: int = 512
    train_data: str | None = None
    train_recipe: str = "cifar10-fast"
    weight_decay: float = 5e-5


def check_writable(output: str | os.PathLike) -> None:
    """Fail before minutes of compression, not after: the output folder must be writable."""
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise ValueError(f"{output}: cannot write to {out_dir}")


def compress_lossless(
    model: nn.Module, name: str, weights: str, output: str | os.PathLike, coder: str
) -> tuple[int, int]:
    """Re-encode already pruned + weight-shared ``weights`` exactly; returns (file size,
    source size)."""
    path, _ = resolve_source(weights)
    cm = lossless(
        read_state_dict(path),
        describe_model(model, name),
        coder,
        meta={"source": os.path.basename(str(weights)), "lossless": True},
    )
    return fileformat.save(cm, output), os.path.getsize(path)


def compress_weights_file(
    model: nn.Module,
    name: str,
    weights: str,
    output: str | os.PathLike,
    config: CompressConfig,
    preprocess: Preprocess,
    data: FineTuneData = FineTuneData(),
    eval_dir: str | None = None,
    classes: str | None = None,
    device: str = "cpu",
) -> tuple[int, Report]:
    """Compress ``model`` (loaded from ``weights``; modified in place) into ``output``;
    returns the file size and the per-stage report."""
    score = None
    eval_names: set[str] = set()
    if eval_dir:
        images = scan_folder(eval_dir, default_class_list(classes, num_outputs(model)))
        eval_names = {p.name for p, _ in images.samples}

        def score(m):
            m.eval()
            return evaluate(
                lambda x: m(x.to(device)).cpu(),
                images,
                preprocess,
                batch_size=50,
                progress=False,
                strict=True,  # every compression stage is scored on the same images
                decode="exact",  # the stages' recorded scores stay comparable across releases
            )["top1"]

    calib = [data.calib] if isinstance(data.calib, str) else list(data.calib or [])
    if calib and data.train_data:
        raise ValueError("give --calibration (distillation) or --data (labels), not both")
    tuner: LabelledRetraining | torch.Tensor | None = None
    if data.train_data:
        tuner = LabelledRetraining(
            data.train_data,
            data.train_recipe,
            config.batch_size,
            device,
            config.seed,
            weight_decay=data.weight_decay,
            progress=config.progress,
        )
        if score is None:
            score = tuner.score
            print(
                f"scoring every stage on {data.train_data}'s {tuner.score_split} split",
                file=sys.stderr,
            )
    elif calib:
        tuner = sample_images(
            calib,
            preprocess,
            data.calib_images,
            config.seed,
            prefix=data.calib_prefix,
            progress=config.progress,
        ).to(device)
    cm, report = compress(model, name, config, tuner, score)
    cm.meta.update(
        source=os.path.basename(str(weights)),
        prune=str(config.prune),
        bits=str(config.bits) if config.quantizer == "kmeans" else None,
        quantizer=config.quantizer,
        grid_scale=config.grid_scale if config.quantizer == "gptq" else None,
        calib=", ".join(os.path.basename(os.path.normpath(c)) for c in calib) or None,
        train_data=os.path.basename(data.train_data or "") or None,
        calib_overlaps_eval=bool(
            eval_names
            and any(os.path.realpath(c) == os.path.realpath(eval_dir or "") for c in calib)
        ),
    )
    size = fileformat.save(cm, output)
    report.set_file_bytes(size)
    return size, report
