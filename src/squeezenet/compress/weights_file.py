"""Compress a model's weights into a ``.sqz`` file: what ``squeezenet compress`` does, for the
Python API too. Picks the tuner (labelled retraining on ``data``, distillation on
``calibration`` images, or none), the score (top-1 on ``eval_dir``, else on the training
data's test split when retraining) and the file's metadata, then runs
:func:`.pipeline.compress`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from ..data import calibration_sources, sample_images, scan_folder
from ..data.images import default_class_list
from ..data.spec import DataSpec
from ..data.transforms import Preprocess
from ..engine import evaluate
from ..settings import SettingError, check_finite, setting, with_preset
from ..weights import read_state_dict, resolve_source
from ..weights.info import ModelInfo
from ..weights.loading import model_classes, num_outputs
from ..weights.sqz import fileformat
from ..weights.sqz.modeldesc import describe_model
from .pipeline import GRID_QUANTIZERS, CompressConfig, compress, lossless
from .presets import COMPRESS_PRESETS, default_preset
from .report import Report
from .retrain import LabelledRetraining


@dataclass(frozen=True)
class FineTuneData:
    """Where fine-tuning data comes from: unlabeled ``calibration`` images (distillation) or
    labelled ``data`` (retraining, as the paper does); at most one of them."""

    calibration: str | Sequence[str] | None = setting(
        None,
        "unlabeled images for fine-tuning by distillation (folder or zip; several sources "
        "share the draw equally, a source with fewer images than its share gives them all); "
        "without them (and without `data`) the compression is post-training only",
        metavar="DIR|ZIP",
    )
    calibration_prefix: str = setting("", "only zip members under this prefix (default: all)")
    calibration_size: int = setting(
        512,
        "how many calibration images to draw (fixed seed); more than the 200 that INT8 "
        "export needs, since they fine-tune the weights and estimate each layer's "
        "sensitivity, not just activation ranges",
        metavar="N",
    )
    data: str | None = setting(
        None,
        "labelled training data in any format `squeezenet train` reads (e.g. the CIFAR-10 JPEG "
        "zip): fine-tune with labels (SGD, cosine lr) instead of distillation; without --eval, "
        "every stage is scored on its test split (else its validation split) (default: none)",
        short="-d",
        metavar="PATH",
    )
    recipe: str | None = setting(
        None,
        "training recipe giving `data`'s normalisation, resolution and augmentation (must "
        "match how the model was trained; default: none, the model's own preprocessing, as "
        "its file records it, with the photo augmentation of `squeezenet train` for photo "
        "folders and padded crops for 32 px data)",
    )
    weight_decay: float = setting(5e-5, "weight decay when retraining with `data`")

    def __post_init__(self) -> None:
        check_finite(self)


class CompressionCollapsed(ValueError):
    """The compressed model lost most of what the model could do; ``report`` tells the
    stages, ``preprocess`` the input the calibration or training images were made into."""

    def __init__(self, message: str, report: Report, preprocess: Preprocess) -> None:
        super().__init__(message)
        self.report = report
        self.preprocess = preprocess


def _top1(model: nn.Module, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(x).argmax(1) for x in inputs.split(batch_size)]).cpu()


def described(model: nn.Module, name: str, preprocess: Preprocess | None) -> dict:
    """What a compressed file says of ``model`` beside its architecture: the class names its
    weights file carries and the preprocessing it is used with (``ModelInfo.extras``)."""
    return ModelInfo(describe_model(model, name), model_classes(model), preprocess).extras()


def compress_lossless(
    model: nn.Module,
    name: str,
    weights: str,
    output: str | os.PathLike,
    coder: str,
    preprocess: Preprocess | None = None,
) -> tuple[int, int]:
    """Re-encode already pruned + weight-shared ``weights`` exactly; returns (file size,
    source size)."""
    path, _ = resolve_source(weights)
    cm = lossless(
        read_state_dict(path),
        describe_model(model, name),
        coder,
        meta={
            "source": os.path.basename(str(weights)),
            "lossless": True,
            **described(model, name, preprocess),
        },
    )
    return fileformat.save(cm, output), os.path.getsize(path)


def compress_weights_file(
    model: nn.Module,
    name: str,
    weights: str,
    output: str | os.PathLike,
    preprocess: Preprocess,
    *,
    preset: str | None = None,
    eval_dir: str | None = None,
    classes: str | None = None,
    device: str | torch.device = "cpu",
    allow_collapse: bool = False,
    **settings,
) -> tuple[int, Report]:
    """Compress ``model`` (loaded from ``weights``; modified in place) into ``output``;
    returns the file size and the per-stage report. ``settings`` are fields of
    :class:`.pipeline.CompressConfig` and :class:`FineTuneData` (``None``: not given); they
    override the named ``preset``'s values; without a preset, :func:`.presets.default_preset`
    picks one from the data given. A compression that breaks the model (see
    :meth:`.report.Report.collapse`) raises :class:`CompressionCollapsed` and writes nothing,
    unless ``allow_collapse``."""
    settings = {k: v for k, v in settings.items() if v is not None}
    if preset is None:
        preset = default_preset(settings.get("calibration"), settings.get("data"))
    grids = GRID_QUANTIZERS  # quantizers whose size is set by `grid_scale`
    if COMPRESS_PRESETS.get(preset, {}).get("quantizer") in grids and (
        "bits" in settings and settings.get("quantizer", "gptq") in grids
    ):
        raise SettingError(
            f"`bits` sets k-means weight sharing; the {preset} preset's grids are sized by "
            "`grid_scale` (name `quantizer` kmeans, or the paper preset, for k-means)",
            "bits",
        )
    tuning_names = {f.name for f in fields(FineTuneData)}
    tuning = with_preset(
        FineTuneData,
        COMPRESS_PRESETS,
        preset,
        **{k: v for k, v in settings.items() if k in tuning_names},
    )
    config = with_preset(
        CompressConfig,
        COMPRESS_PRESETS,
        preset,
        **{k: v for k, v in settings.items() if k not in tuning_names},
    )
    score = None
    eval_names: set[str] = set()
    if eval_dir:
        # strict: every compression stage is scored on the same images
        scored = DataSpec(Path(eval_dir), batch_size=50, workers=0, strict=True, progress=False)
        images = scan_folder(
            scored.path, default_class_list(classes, num_outputs(model), model_classes(model))
        )
        eval_names = {p.name for p, _ in images.samples}

        def score(m):
            m.eval()
            return evaluate(
                lambda x: m(x.to(device)).cpu(),
                scored,
                preprocess,  # the model's own (Caffe-style ones too), not scored.mean/std
                images=images,
                decode="exact",  # the stages' recorded scores stay comparable across releases
            )["top1"]

    calib = (
        [tuning.calibration]
        if isinstance(tuning.calibration, str)
        else list(tuning.calibration or [])
    )
    if calib and tuning.data:
        raise SettingError(
            "give `calibration` (distillation) or `data` (labels), not both", "calibration", "data"
        )
    tuner: LabelledRetraining | None = None
    inputs: torch.Tensor | None = None
    if tuning.data:
        tuner = LabelledRetraining(
            tuning.data,
            tuning.recipe,
            config.batch_size,
            device,
            config.seed,
            weight_decay=tuning.weight_decay,
            progress=config.progress,
            preprocess=preprocess,
            model=name,
        )
        if score is None:
            score = tuner.score
            print(
                f"scoring every stage on {tuning.data}'s {tuner.score_split} split",
                file=sys.stderr,
            )
    elif calib:
        sources = calibration_sources(calib, seed=config.seed, progress=config.progress)
        inputs = sample_images(
            sources, preprocess, tuning.calibration_size, prefix=tuning.calibration_prefix
        ).to(device)
    meta = dict(
        source=os.path.basename(str(weights)),
        prune=str(config.prune),
        bits=str(config.bits) if config.quantizer == "kmeans" else None,
        quantizer=config.quantizer,
        grid_scale=config.grid_scale if config.quantizer in grids else None,
        calib=", ".join(os.path.basename(os.path.normpath(c)) for c in calib) or None,
        train_data=os.path.basename(tuning.data or "") or None,
        calib_overlaps_eval=bool(
            eval_names
            and any(os.path.realpath(c) == os.path.realpath(eval_dir or "") for c in calib)
        ),
        **described(model, name, preprocess),
    )
    dense_top1 = _top1(model, inputs, config.batch_size) if inputs is not None else None
    cm, report = compress(model, name, config, tuner, score, calibration=inputs, meta=meta)
    if inputs is not None and dense_top1 is not None:
        same = _top1(model, inputs, config.batch_size) == dense_top1
        report.agreement = float(same.float().mean())
    problem = report.collapse(num_outputs(model))
    if problem and not allow_collapse:
        raise CompressionCollapsed(f"{output} not written: {problem}", report, preprocess)
    # With `max_bytes` the grid scale is the one that fitted.
    fitted = [s["grid_scale"] for s in report.stages if "grid_scale" in s]
    if fitted and meta["grid_scale"] is not None:
        meta["grid_scale"] = fitted[-1]
    cm.meta.update(meta)
    size = fileformat.save(cm, output)
    report.set_file_bytes(size)
    return size, report
