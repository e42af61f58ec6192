"""``squeezenet export`` as a function: a model written for a deployment runtime, loaded back
by that runtime and checked against PyTorch."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..deploy.formats import export_format, missing_extra, option_refusal
from ..weights import model_card, preprocess_for
from .models import open_model

if TYPE_CHECKING:
    from ..data.spec import DataSpec

#: An INT8 export whose top-1 class differs from fp32's on more than this fraction of the
#: check photos is reported with a warning: its accuracy has likely dropped.
INT8_CHANGED_LIMIT = 0.05
#: How many photos held back from calibration the INT8 check uses (without check_images).
INT8_CHECK_IMAGES = 200


@dataclass
class Exported:
    """What :func:`export` wrote and measured. ``result`` is what ``export --json`` prints;
    ``agreement`` the top-1 agreement on every ``check_images`` photo (None without them);
    ``held`` how many photos held back from calibration checked the INT8 model (None when
    none did); ``sqz`` the ``.sqz`` a weightless graph was filled from; ``web`` the page
    folder's :class:`~squeezenet.deploy.web.WebExport`; ``files`` every file written."""

    path: Path
    result: dict
    files: list[Path] = field(default_factory=list)
    agreement: dict | None = None
    held: int | None = None
    sqz: Path | None = None
    web: Any = None

    @property
    def int8_warning(self) -> bool:
        """Whether the INT8 model's top-1 changed on more than :data:`INT8_CHANGED_LIMIT`."""
        return bool(self.result.get("int8_check", {}).get("warning"))

    @property
    def int8_limit(self) -> float:
        """The share of changed top-1 predictions above which INT8 gets a warning."""
        return INT8_CHANGED_LIMIT


@dataclass
class _Job:
    """The settings of one export, resolved: the model, its preprocessing and the target."""

    model: Any
    name: str
    weights: str | None
    format: str
    output: Path
    preprocess: Any
    input_size: int
    int8: bool
    fp16: bool
    weightless: bool
    calibration: list[DataSpec]  # one per source; none without calibration
    calibration_size: int
    check_images: str | None
    check_count: int
    opset: int | None
    runtime_dir: Path | None


def export(
    weights: str | os.PathLike | None = None,
    model: str | None = None,
    *,
    format: str = "onnx",
    output: str | os.PathLike | None = None,
    conv10_padding: int | None = None,
    model_args: dict | None = None,
    preprocess: str | None = None,
    image_size: int | None = None,
    int8: bool = False,
    fp16: bool = False,
    calibration: str | Sequence[str] | None = None,
    calibration_size: int = 200,
    check_images: str | os.PathLike | None = None,
    check_count: int = 16,
    tolerance: float = 1e-3,
    opset: int | None = None,
    weightless: bool = False,
    runtime_dir: str | os.PathLike | None = None,
    on_skip: Callable[[str], None] | None = None,
    show: Callable[[Exported], None] | None = None,
) -> Exported:
    """Export ``weights`` (``model``, ``conv10_padding`` and ``model_args`` as
    :func:`.open_model`) as ``format`` to ``output`` (default: ``<model>[-int8].<suffix>``),
    with ``squeezenet export``'s defaults, then load the file back in its runtime and compare
    its logits with PyTorch's: on ``check_count`` of the ``check_images`` (every one of them
    also classified by both), on photos of ``calibration`` it was not calibrated on (INT8),
    else on a fixed random batch. An fp32 export further than ``tolerance`` from PyTorch is
    removed and raises ``ValueError``. ``show`` is called with the result before that check;
    ``on_skip`` receives the check images that could not be read."""
    problem = option_refusal(
        format, int8, fp16, calibrated=calibration is not None, weightless=weightless
    )
    if problem is None and runtime_dir is not None and format != "web":
        problem = "--runtime-dir is for --format web only"
    problem = problem or missing_extra(format)
    if problem:
        raise ValueError(problem)
    from ..data import calibration_sources

    net = open_model(model, weights, conv10_padding=conv10_padding, model_args=model_args)
    job = _job(
        net.eval(),
        weights,
        format,
        output,
        preprocess,
        image_size,
        int8=int8,
        fp16=fp16,
        weightless=weightless,
        calibration=[] if calibration is None else calibration_sources(calibration),
        calibration_size=calibration_size,
        check_images=None if check_images is None else str(check_images),
        check_count=check_count,
        opset=opset,
        runtime_dir=None if runtime_dir is None else Path(runtime_dir),
    )
    done, candidate = _write(job)
    _check(job, done, candidate, on_skip)
    if show is not None:
        show(done)
    fp16_weights = done.result["precision"] == "fp16"
    if not (int8 or fp16_weights) and done.result["max_abs_diff"] > tolerance:
        _remove(done)
        raise ValueError(
            f"{done.path}: outputs differ from PyTorch by {done.result['max_abs_diff']:.3g} "
            f"> --tolerance {tolerance}; the file was removed"
        )
    return done


def _job(model, weights, fmt, output, preprocess, image_size, **options) -> _Job:
    """The preprocessing (cropped to the input size) and the checked output path."""
    from ..files import check_not_input
    from ..models import default_input_size

    card = model_card(model)
    assert card is not None  # open_model's models carry one
    name = card.architecture
    chosen = preprocess_for(name, model, preprocess, image_size)
    # The preprocessing crop (224, or 227 for Caffe weights), unless the model is registered
    # for another input size (CIFAR models: 32) and no preset was asked for.
    native = default_input_size(name)
    size = image_size or (chosen.crop if native == 224 or preprocess else native)
    if size != chosen.crop:
        chosen = chosen.with_crop(size)
    record = export_format(fmt)
    variant = "-int8" if options["int8"] else "-weightless" if options["weightless"] else ""
    variant = "-fp16" if options["fp16"] else variant
    target = Path(output or f"{name}{variant}{record.suffix}")
    if fmt != "web":  # web writes a folder
        target = output_file(target, fmt, record.suffix)
    else:
        from ..deploy.web import check_output

        check_output(target)
    check_not_input(target, {"-w file": weights})
    weights = None if weights is None else str(weights)
    return _Job(model, name, weights, fmt, target, chosen, size, **options)


def output_file(output: Path, fmt: str, suffix: str) -> Path:
    """The file ``export`` writes: the name given (a folder is refused); for a format of two
    files (``.xml`` + ``.bin``, ``.param`` + ``.bin``) a bare name is the pair's stem, and
    another suffix is refused."""
    from ..files import OutputError

    if output.is_dir():
        raise OutputError(f"{output}: cannot write the file: Is a directory")
    if not export_format(fmt).bin or output.suffix.lower() == suffix:
        return output
    if not output.suffix:
        return output.with_name(output.name + suffix)
    raise ValueError(
        f"{output}: --format {fmt} writes a {suffix} file and a .bin beside it: give -o a "
        f"name ending in {suffix}, or a bare name"
    )


def _write(job: _Job) -> tuple[Exported, Callable]:
    """The file (or folder) written, and the callable that runs it for the check."""
    from ..deploy.backends import load_exported
    from ..deploy.export import export_model

    if job.weightless:
        path, candidate, sqz = _export_weightless(job)
        done = Exported(path, {}, sqz=sqz)
    elif job.format == "web":
        web = _export_web(job)
        path, candidate = web.folder, web.candidate
        done = Exported(path, {}, web=web)
    else:
        calibration = None
        if job.int8:
            from ..data import sample_images

            calibration = sample_images(job.calibration, job.preprocess, job.calibration_size)
        path = export_model(
            job.model,
            job.output,
            job.format,
            job.input_size,
            calibration,
            job.opset,
            _description(job),
            job.fp16,
        )
        candidate = load_exported(path, job.format)
        done = Exported(path, {})
    return done, candidate


def _check(
    job: _Job, done: Exported, candidate: Callable, on_skip: Callable[[str], None] | None
) -> None:
    """Compare the export (run by ``candidate``) with PyTorch and fill ``done.result``."""
    from ..deploy.export import agreement_on_images, compare_outputs

    model = job.model
    held = _held_back(job) if job.int8 and job.check_images is None else None
    if held is not None:  # real photos, not used to calibrate, rather than random tensors
        batch, source = held[: job.check_count], "held back from --calibration"
    else:
        batch, source = _check_batch(job)
    check = compare_outputs(model, candidate, batch)
    if job.check_images is not None:
        images = _check_folder(job.check_images, model)
        done.agreement = agreement_on_images(
            model, candidate, images, job.preprocess, on_skip=on_skip
        )
    int8_check: dict | None = None
    if held is not None:
        done.held = len(held)
        agree = _top1_agreement(model, candidate, held)
        int8_check = {"images": source, "n": len(held), "top1_agree": agree}
    elif done.agreement is not None and job.int8:
        int8_check = {"images": job.check_images, "n": done.agreement["n"]}
        int8_check["top1_agree"] = done.agreement["top1_agree"]
    if int8_check is not None and int8_check["n"]:
        changed = 1 - int8_check["top1_agree"] / int8_check["n"]
        int8_check["changed_fraction"] = changed
        int8_check["warning"] = changed > INT8_CHANGED_LIMIT
    done.files = _written(job, done)
    done.result.update(_result(job, done, source, check))
    if done.agreement is not None:
        done.result["images"] = _named(done.agreement)
    if int8_check is not None:
        done.result["int8_check"] = int8_check
    _extras(job, done)


def _written(job: _Job, done: Exported) -> list[Path]:
    """Every file the export wrote."""
    from ..deploy.export import sidecar_path

    path = done.path
    if done.web is not None:
        return [path / name for name in done.web.downloads]
    written = [path]
    record = export_format(job.format)
    if record.bin:
        written.append(path.with_suffix(".bin"))
    if record.sidecar:
        written.append(sidecar_path(path))
    return written


def _result(job: _Job, done: Exported, source: str, check: dict) -> dict:
    """What ``export --json`` prints first: the file, its precision and the logit check."""
    fp16 = job.fp16 or (done.web is not None and done.web.weights == "fp16")
    return {
        "path": str(done.path),
        "format": job.format,
        "precision": "int8" if job.int8 else "fp16" if fp16 else "fp32",
        "model": job.name,
        "weights": job.weights,
        "input_size": job.input_size,
        "check_images": source,
        **check,
        "bytes": sum(f.stat().st_size for f in done.files),
    }


def _extras(job: _Job, done: Exported) -> None:
    """The result's parts for weightless graphs and web pages."""
    result = done.result
    if job.weightless:
        sqz = done.sqz
        result["weightless"] = True
        result["filled_from"] = str(sqz) if sqz else "the model's weights"
        if sqz:  # what a device receives
            result["sqz_bytes"] = sqz.stat().st_size
            result["device_bytes"] = result["bytes"] + result["sqz_bytes"]
    if done.web is not None:
        result["web"] = _web_result(done.web)


def _remove(done: Exported) -> None:
    """A model that fails its check is not left behind to be used by mistake."""
    if done.web is not None:
        shutil.rmtree(done.web.folder, ignore_errors=True)
    for f in done.files:
        f.unlink(missing_ok=True)


def _check_batch(job: _Job):
    """The batch logits are compared on: ``check_count`` check images, else random."""
    import torch

    if job.check_images is None:
        in_channels = getattr(getattr(job.model, "spec", None), "in_channels", 3)
        size = job.input_size
        gen = torch.Generator().manual_seed(0)
        return torch.randn(4, in_channels, size, size, generator=gen), "random"
    from ..data import load_image
    from ..data.images import list_images

    root = Path(job.check_images)
    if not root.is_dir():
        raise ValueError(f"{root}: --check-images must be a folder of images")
    files = list_images(root)[0][: job.check_count]
    if not files:
        raise ValueError(f"{root}: no images to compare outputs on")
    return torch.stack([job.preprocess(load_image(f)) for f in files]), str(root)


def _check_folder(root: str, model) -> list[tuple[Path, int | None]]:
    """Every image under ``root``, labelled as ``squeezenet evaluate`` labels them when the
    folder allows it (else with None: agreement alone is measured)."""
    from ..data import DatasetError, scan_folder
    from ..data.images import default_class_list, list_images
    from ..weights.loading import model_classes, num_outputs

    outputs = num_outputs(model)
    try:
        images = scan_folder(root, default_class_list(None, outputs, model_classes(model)))
    except DatasetError:  # not a labelled layout (or labels the model does not know)
        images = None
    if images is not None and images.samples:
        if max(label for _, label in images.samples) < outputs:
            return [(path, label) for path, label in images.samples]
    return [(path, None) for path in list_images(root)[0]]


def _description(job: _Job) -> dict:
    """What the exported file says about the model (``ModelInfo.to_dict()``): the
    architecture as built (overrides included), its class names and the preprocessing the
    export was checked with, so that ``predict -w <export>`` needs no flag."""
    from ..weights import ModelInfo
    from ..weights.loading import model_classes
    from ..weights.sqz.modeldesc import describe_model

    model = job.model
    return ModelInfo(
        describe_model(model, job.name), model_classes(model), job.preprocess
    ).to_dict()


def _sqz_source(model) -> Path | None:
    """The ``.sqz`` file the model's weights were read from, if they were."""
    from ..weights.sqz.fileformat import MAGIC

    card = model_card(model)
    source = card.source if card is not None else None
    if source is not None and Path(source).is_file():
        with open(source, "rb") as f:
            return Path(source) if f.read(len(MAGIC)) == MAGIC else None
    return None


def _export_weightless(job: _Job):
    """The weightless graph, a callable that runs it as a device will (filled from the
    ``.sqz`` the weights came from, else from the model's state_dict) and that ``.sqz``."""
    from ..deploy.export import export_weightless
    from ..lite import Classifier, load, read_graph

    model = job.model
    path = export_weightless(model, job.output, job.input_size, job.opset, _description(job))
    sqz = _sqz_source(model)
    if sqz is not None:
        return path, load(sqz, path), sqz
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return path, Classifier(read_graph(path), state), None


def _export_web(job: _Job):
    """The page folder (:func:`squeezenet.deploy.web.export_web`)."""
    import tempfile

    from ..data.images import imagenet_class_list, short_name
    from ..deploy.export import export_weightless
    from ..deploy.web import export_web
    from ..weights.loading import num_outputs

    model = job.model
    description = _description(job)
    with tempfile.TemporaryDirectory(prefix="squeezenet-web-") as tmpdir:
        graph = export_weightless(
            model, Path(tmpdir) / "g.onnx", job.input_size, job.opset, description
        )
        graph_bytes = graph.read_bytes()
    classes = None
    if num_outputs(model) == 1000:  # unnamed 1000 classes are ImageNet's, as predict reads them
        classes = [short_name(name) for name in imagenet_class_list()[1]]
    return export_web(
        model, job.output, graph_bytes, description, _sqz_source(model), job.runtime_dir, classes
    )


def _web_result(web) -> dict:
    return {
        "downloads": web.downloads,
        "model_bytes": web.downloads.get("model.sqz", web.downloads.get("weights.fp16.bin")),
        "weights": web.weights,
        "upgraded_sqz": web.upgraded,
        "runtime": {"src": web.runtime.src, "version": web.runtime.version},
    }


def _named(a: dict) -> dict:
    """``agreement_on_images``' result with the accuracy of each side (top-1, a fraction)
    under the name of the model it belongs to."""
    out = {k: a[k] for k in ("n", "top1_agree", "skipped", "labelled")}
    if a["labelled"]:
        for side, key in (("torch", "reference_correct"), ("export", "candidate_correct")):
            out[f"{side}_correct"] = a[key]
            out[f"{side}_top1"] = a[key] / a["n"] if a["n"] else None
    return out


def _held_back(job: _Job):
    """Up to :data:`INT8_CHECK_IMAGES` photos of the calibration sources that calibration did
    not draw (None when it drew them all)."""
    from ..data import DatasetError, drawn_names, sample_images

    drawn = drawn_names(job.calibration, job.calibration_size)
    try:
        return sample_images(job.calibration, job.preprocess, INT8_CHECK_IMAGES, 1, exclude=drawn)
    except DatasetError:  # a source whose every image went into calibration
        return None


def _top1_agreement(model, candidate, batch) -> int:
    """On how many images of ``batch`` the two models' top-1 classes agree (a few at a
    time, so that 200 photos need no more memory than 32)."""
    import torch

    from ..deploy.export import compare_outputs

    with torch.no_grad():
        return sum(compare_outputs(model, candidate, c)["top1_agree"] for c in batch.split(32))
