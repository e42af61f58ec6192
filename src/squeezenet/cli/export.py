"""``squeezenet export``: ONNX / TorchScript / OpenVINO IR / ExecuTorch / LiteRT / ncnn files,
and weightless ONNX graphs for :mod:`squeezenet.lite`, checked against PyTorch."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from .argtypes import MIN_OPSET, export_output, float_in, opset, positive_int

# The line `squeezenet --help` shows for the command.
SUMMARY = (
    "export a model to ONNX, TorchScript, OpenVINO IR, ExecuTorch, LiteRT, ncnn (optionally "
    "INT8) or a web page"
)
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Export a model with its weights for a deployment runtime. ONNX files "
    "are validated by onnx.checker; every export is loaded back by its runtime (ONNX "
    "Runtime, OpenVINO, torch.jit, ExecuTorch, LiteRT, ncnn) and its logits compared with "
    "eager PyTorch on the --check-images (or on a fixed random batch). An fp32 export whose "
    "max abs logit difference exceeds --tolerance is an error. ONNX, OpenVINO, ExecuTorch, "
    "LiteRT and ncnn need the optional extras: pip install 'squeezenet-dc[onnx]' / "
    "'squeezenet-dc[openvino]' / 'squeezenet-dc[executorch]' / 'squeezenet-dc[litert]' / "
    "'squeezenet-dc[ncnn]'."
)


def register(p: argparse.ArgumentParser) -> None:
    from ..deploy.formats import EXPORT_FORMATS
    from .common import (
        add_calibration_args,
        add_json_arg,
        add_model_args,
        add_output_arg,
        add_preprocess_arg,
    )

    add_model_args(p)
    p.add_argument(
        "-f",
        "--format",
        choices=list(EXPORT_FORMATS),
        default="onnx",
        help="; ".join(f"{f.name}: {f.help}" for f in EXPORT_FORMATS.values()),
    )
    add_output_arg(
        p,
        "output file (default: <model>[-int8].onnx / .pt / .xml / .pte / .tflite / "
        ".ncnn.param); for ncnn the .param, '.param' appended to a name without it, the .bin "
        "beside it",
    )
    add_preprocess_arg(p)
    p.add_argument(
        "--int8",
        action="store_true",
        help="post-training static INT8, calibrated on --calibration (ONNX Runtime QDQ "
        "for the onnx and openvino formats; PT2E, per-channel symmetric, with XNNPACK's "
        "quantizer for executorch and litert_torch's for litert, whose file then takes and "
        "returns int8 tensors; not for ncnn, whose packages lack its INT8 tools)",
    )
    p.add_argument(
        "--fp16",
        action="store_true",
        help="ncnn: store the weights as fp16 (half the .bin; logits differ from PyTorch by "
        "a few 1e-3, so --tolerance does not apply); ncnn computes in fp32 either way",
    )
    add_calibration_args(
        p,
        "calibration images for --int8, which fails without them: an image folder (recursive) "
        "or a zip of images; keep them apart from your evaluation images",
    )
    p.add_argument(
        "--check-images",
        default=None,
        metavar="DIR",
        help="folder of real images for the output comparison (default: a fixed random "
        "batch); every image in it is also classified by both PyTorch and the export, which "
        "reports how often their top-1 agrees and, when the folder is labelled (an "
        "ImageFolder tree, or file names that start with the class wnid, as `squeezenet "
        "evaluate` reads), the top-1 accuracy of each",
    )
    p.add_argument(
        "--check-count",
        type=positive_int,
        default=16,
        metavar="N",
        help="how many --check-images to compare logits on",
    )
    p.add_argument(
        "--tolerance",
        type=float_in(0, float("inf"), high_open=True),
        default=1e-3,
        help="largest acceptable max abs logit difference for fp32 exports",
    )
    p.add_argument(
        "--opset",
        type=opset,
        default=None,
        help=f"ONNX opset, {MIN_OPSET} or more (default: the exporter's)",
    )
    p.add_argument(
        "--weightless",
        action="store_true",
        help="onnx: the graph without its weights (a few KB), for a device that gets the "
        ".sqz beside it and runs both without PyTorch (squeezenet.lite); checked by filling "
        "it from the .sqz the weights came from (else from the model's own weights)",
    )
    p.add_argument(
        "--runtime-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="web: copy ONNX Runtime Web into the page from this `npm install "
        "onnxruntime-web` folder (or the package folder itself), for use offline; by default "
        "the page loads it from a pinned CDN URL, checked by its integrity hash",
    )
    add_json_arg(p, "print the result as one JSON object")
    p.set_defaults(func=run, refuse=refuse)


def refuse(args) -> str | None:
    """Why the flags cannot make an export, or None: decided by the format table alone, so
    :func:`squeezenet.cli.main` says it before loading PyTorch or the model."""
    from ..deploy.formats import missing_extra, option_refusal

    problem = option_refusal(
        args.format,
        args.int8,
        args.fp16,
        calibrated=args.calibration is not None,
        weightless=args.weightless,
    )
    if problem is None and args.runtime_dir is not None and args.format != "web":
        problem = "--runtime-dir is for --format web only"
    return problem or missing_extra(args.format)


def _check_batch(args, preprocess, input_size: int, in_channels: int):
    import torch

    if args.check_images is None:
        gen = torch.Generator().manual_seed(0)
        return torch.randn(4, in_channels, input_size, input_size, generator=gen), "random"
    from ..data import load_image
    from ..data.images import list_images

    root = Path(args.check_images)
    if not root.is_dir():
        raise ValueError(f"{root}: --check-images must be a folder of images")
    files = list_images(root)[0][: args.check_count]
    if not files:
        raise ValueError(f"{root}: no images to compare outputs on")
    return torch.stack([preprocess(load_image(f)) for f in files]), str(root)


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


def _default_size(args, crop: int) -> int:
    """The preprocessing crop (224, or 227 for Caffe weights), unless the model is registered
    for another input size (CIFAR models: 32) and no --preprocess was asked for."""
    from ..models import default_input_size

    native = default_input_size(args.model)
    return crop if native == 224 or args.preprocess else native


def _description(args, model, preprocess) -> dict:
    """What the exported file says about the model (``ModelInfo.to_dict()``): the
    architecture as built (overrides included), its class names and the preprocessing the
    export was checked with, so that ``predict -w <export>`` needs no flag."""
    from ..weights import ModelInfo
    from ..weights.loading import model_classes
    from ..weights.sqz.modeldesc import describe_model

    return ModelInfo(describe_model(model, args.model), model_classes(model), preprocess).to_dict()


def _sqz_source(model) -> Path | None:
    """The ``.sqz`` file the model's weights were read from, if they were."""
    from ..weights import model_card
    from ..weights.sqz.fileformat import MAGIC

    card = model_card(model)
    source = card.source if card is not None else None
    if source is not None and Path(source).is_file():
        with open(source, "rb") as f:
            return Path(source) if f.read(len(MAGIC)) == MAGIC else None
    return None


def _export_weightless(args, model, output: Path, input_size: int, preprocess):
    """The weightless graph, a callable that runs it as a device will (filled from the
    ``.sqz`` the weights came from, else from the model's state_dict) and that ``.sqz``."""
    from ..deploy.export import export_weightless
    from ..lite import Classifier, load, read_graph

    description = _description(args, model, preprocess)
    path = export_weightless(model, output, input_size, args.opset, description)
    sqz = _sqz_source(model)
    if sqz is not None:
        return path, load(sqz, path), sqz
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return path, Classifier(read_graph(path), state), None


def _export_web(args, model, output: Path, input_size: int, preprocess):
    """The page folder (:func:`squeezenet.deploy.web.export_web`)."""
    import tempfile

    from ..data.images import imagenet_class_list, short_name
    from ..deploy.export import export_weightless
    from ..deploy.web import export_web
    from ..weights.loading import num_outputs

    description = _description(args, model, preprocess)
    with tempfile.TemporaryDirectory(prefix="squeezenet-web-") as tmpdir:
        graph = export_weightless(
            model, Path(tmpdir) / "g.onnx", input_size, args.opset, description
        )
        graph_bytes = graph.read_bytes()
    classes = None
    if num_outputs(model) == 1000:  # unnamed 1000 classes are ImageNet's, as predict reads them
        classes = [short_name(name) for name in imagenet_class_list()[1]]
    return export_web(
        model, output, graph_bytes, description, _sqz_source(model), args.runtime_dir, classes
    )


def _web_result(web) -> dict:
    return {
        "downloads": web.downloads,
        "model_bytes": web.downloads.get("model.sqz", web.downloads.get("weights.fp16.bin")),
        "weights": web.weights,
        "upgraded_sqz": web.upgraded,
        "runtime": {"src": web.runtime.src, "version": web.runtime.version},
    }


def _print_web(web) -> None:
    d = web.downloads
    weights = "model.sqz" if web.weights == "sqz" else "weights.fp16.bin (float16)"
    print(
        f"a visit downloads {sum(d.values()):,} bytes from it ({weights}: "
        f"{d.get('model.sqz', d.get('weights.fp16.bin', 0)):,}; graph: {d['model.onnx']:,}) "
        f"and ONNX Runtime Web {web.runtime.version} from "
        f"{'the folder' if web.runtime.local else web.runtime.src}"
    )
    if web.upgraded:
        print("the .sqz was rewritten as format version 3 (same tensors), which browsers read")
    print(f"serve it: python -m http.server -d {web.folder}, then open http://localhost:8000/")


def _named(a: dict) -> dict:
    """``agreement_on_images``' result with the accuracy of each side (top-1, a fraction)
    under the name of the model it belongs to."""
    out = {k: a[k] for k in ("n", "top1_agree", "skipped", "labelled")}
    if a["labelled"]:
        for side, key in (("torch", "reference_correct"), ("export", "candidate_correct")):
            out[f"{side}_correct"] = a[key]
            out[f"{side}_top1"] = a[key] / a["n"] if a["n"] else None
    return out


def _agreement_line(a: dict, folder: str) -> str:
    n = a["n"]
    line = f"on all {n} images of {folder}: top-1 agrees with PyTorch on {a['top1_agree']}/{n}"
    if a["labelled"] and n:
        line += (
            f"; top-1 accuracy PyTorch {a['reference_correct'] / n:.2%} "
            f"({a['reference_correct']}/{n}), export {a['candidate_correct'] / n:.2%} "
            f"({a['candidate_correct']}/{n})"
        )
    elif not a["labelled"]:
        line += " (unlabelled folder: no accuracy)"
    return line


#: An INT8 export whose top-1 class differs from fp32's on more than this fraction of the
#: check photos is reported with a warning: its accuracy has likely dropped.
INT8_CHANGED_LIMIT = 0.05
#: How many photos held back from calibration the INT8 check uses (without --check-images).
INT8_CHECK_IMAGES = 200


def _held_back(args, preprocess):
    """Up to :data:`INT8_CHECK_IMAGES` photos of the calibration sources that calibration did
    not draw (None when it drew them all)."""
    from ..data import DatasetError, drawn_names, sample_images

    drawn = drawn_names(args.calibration, args.calibration_size)
    try:
        return sample_images(args.calibration, preprocess, INT8_CHECK_IMAGES, 1, exclude=drawn)
    except DatasetError:  # a source whose every image went into calibration
        return None


def _top1_agreement(model, candidate, batch) -> int:
    """On how many images of ``batch`` the two models' top-1 classes agree (a few at a
    time, so that 200 photos need no more memory than 32)."""
    import torch

    from ..deploy.export import compare_outputs

    with torch.no_grad():
        return sum(compare_outputs(model, candidate, c)["top1_agree"] for c in batch.split(32))


def _warn_int8(check: dict) -> None:
    import sys

    n, changed = check["n"], check["n"] - check["top1_agree"]
    print(
        f"squeezenet export: WARNING: the INT8 model's top-1 class differs from the fp32 "
        f"model's on {changed} of {n} photos ({changed / n:.1%}; {check['images']}), more than "
        f"{INT8_CHANGED_LIMIT:.0%}: expect it to be less accurate. Calibrate on more photos "
        "like the ones it will see (--calibration, --calibration-size) and measure it on "
        "labelled photos (squeezenet evaluate -w FILE -d DIR).",
        file=sys.stderr,
    )


def run(args) -> int:
    import sys

    from ..deploy.backends import load_exported
    from ..deploy.export import (
        FORMATS,
        SIDECAR_FORMATS,
        agreement_on_images,
        compare_outputs,
        export_model,
        sidecar_path,
    )
    from ..files import check_not_input
    from ..weights import preprocess_for
    from .common import model_from_args

    model = model_from_args(args).eval()
    preprocess = preprocess_for(args.model, model, args.preprocess, args.image_size)
    input_size = args.image_size or _default_size(args, preprocess.crop)
    if input_size != preprocess.crop:
        preprocess = preprocess.with_crop(input_size)
    variant = "-int8" if args.int8 else "-weightless" if args.weightless else ""
    variant = "-fp16" if args.fp16 else variant
    output = Path(args.output or f"{args.model}{variant}{FORMATS[args.format]}")
    if args.format != "web":  # web writes a folder
        output = export_output(output, args.format, FORMATS[args.format])
    else:
        from ..deploy.web import check_output

        check_output(output)
    check_not_input(output, {"-w file": args.weights})
    calibration = None
    if args.int8:
        from ..data import sample_images

        calibration = sample_images(args.calibration, preprocess, args.calibration_size)
    sqz = None
    web = None
    if args.weightless:
        path, candidate, sqz = _export_weightless(args, model, output, input_size, preprocess)
    elif args.format == "web":
        web = _export_web(args, model, output, input_size, preprocess)
        path, candidate = web.folder, web.candidate
    else:
        description = _description(args, model, preprocess)
        path = export_model(
            model, output, args.format, input_size, calibration, args.opset, description, args.fp16
        )
        candidate = load_exported(path, args.format)
    in_channels = getattr(getattr(model, "spec", None), "in_channels", 3)
    held = _held_back(args, preprocess) if args.int8 and args.check_images is None else None
    if held is not None:  # real photos, not used to calibrate, rather than random tensors
        batch, source = held[: args.check_count], "held back from --calibration"
    else:
        batch, source = _check_batch(args, preprocess, input_size, in_channels)
    check = compare_outputs(model, candidate, batch)
    agreement = None
    if args.check_images is not None:
        agreement = agreement_on_images(
            model,
            candidate,
            _check_folder(args.check_images, model),
            preprocess,
            on_skip=lambda message: print(f"squeezenet export: skipped {message}", file=sys.stderr),
        )
    int8_check: dict | None = None
    if held is not None:
        agree = _top1_agreement(model, candidate, held)
        int8_check = {"images": source, "n": len(held), "top1_agree": agree}
    elif agreement is not None and args.int8:
        int8_check = {"images": args.check_images, "n": agreement["n"]}
        int8_check["top1_agree"] = agreement["top1_agree"]
    if int8_check is not None and int8_check["n"]:
        changed = 1 - int8_check["top1_agree"] / int8_check["n"]
        int8_check["changed_fraction"] = changed
        int8_check["warning"] = changed > INT8_CHANGED_LIMIT
    written = [path] if web is None else [path / name for name in web.downloads]
    if args.format == "openvino":
        written.append(path.with_suffix(".bin"))
    elif args.format in SIDECAR_FORMATS:
        if args.format == "ncnn":
            written.append(path.with_suffix(".bin"))
        written.append(sidecar_path(path))
    fp16 = args.fp16 or (web is not None and web.weights == "fp16")
    result = {
        "path": str(path),
        "format": args.format,
        "precision": "int8" if args.int8 else "fp16" if fp16 else "fp32",
        "model": args.model,
        "weights": args.weights,
        "input_size": input_size,
        "check_images": source,
        **check,
        "bytes": sum(f.stat().st_size for f in written),
    }
    if agreement is not None:
        result["images"] = _named(agreement)
    if int8_check is not None:
        result["int8_check"] = int8_check
    if args.weightless:
        result["weightless"] = True
        result["filled_from"] = str(sqz) if sqz else "the model's weights"
        if sqz:  # what a device receives
            result["sqz_bytes"] = sqz.stat().st_size
            result["device_bytes"] = result["bytes"] + result["sqz_bytes"]
    if web is not None:
        result["web"] = _web_result(web)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"wrote {path} ({result['bytes'] / 1e6:.2f} MB, {result['precision']}, {args.format})"
        )
        if web is not None:
            _print_web(web)
        if sqz:
            print(
                f"a device receives it and {sqz} ({result['sqz_bytes']:,} bytes): "
                f"{result['device_bytes']:,} bytes in all"
            )
        print(
            f"vs eager PyTorch on {check['n']} {'random' if source == 'random' else 'real'} "
            f"images: max abs logit diff {check['max_abs_diff']:.3g}, top-1 agrees on "
            f"{check['top1_agree']}/{check['n']}"
        )
        if agreement is not None:
            print(_agreement_line(agreement, args.check_images))
        if held is not None and int8_check is not None:
            print(
                f"INT8 vs fp32 on {len(held)} photos {source}: top-1 agrees on "
                f"{int8_check['top1_agree']}/{len(held)}"
            )
        elif args.int8 and args.check_images is None:
            print(
                "no photos of --calibration were left over to check the INT8 model on; "
                "pass --check-images DIR (photos it did not calibrate on)"
            )
    if int8_check is not None and int8_check.get("warning"):
        _warn_int8(int8_check)
    if not (args.int8 or fp16) and check["max_abs_diff"] > args.tolerance:
        # A model that fails its check is not left behind to be used by mistake.
        if web is not None:
            shutil.rmtree(web.folder, ignore_errors=True)
        for f in written:
            f.unlink(missing_ok=True)
        raise ValueError(
            f"{path}: outputs differ from PyTorch by {check['max_abs_diff']:.3g} "
            f"> --tolerance {args.tolerance}; the file was removed"
        )
    return 0
