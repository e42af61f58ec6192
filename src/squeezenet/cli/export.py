"""``squeezenet export``: ONNX / TorchScript / OpenVINO IR / ExecuTorch / LiteRT / ncnn files,
and weightless ONNX graphs for :mod:`squeezenet.lite`, checked against PyTorch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .argtypes import MIN_OPSET, float_in, opset, positive_int

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
    from ..deploy import EXPORT_FORMATS
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
    from ..deploy import missing_extra, option_refusal

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


def _warn_int8(check: dict, limit: float) -> None:
    import sys

    n, changed = check["n"], check["n"] - check["top1_agree"]
    print(
        f"squeezenet export: WARNING: the INT8 model's top-1 class differs from the fp32 "
        f"model's on {changed} of {n} photos ({changed / n:.1%}; {check['images']}), more than "
        f"{limit:.0%}: expect it to be less accurate. Calibrate on more photos "
        "like the ones it will see (--calibration, --calibration-size) and measure it on "
        "labelled photos (squeezenet evaluate -w FILE -d DIR).",
        file=sys.stderr,
    )


#: The flags that are :func:`squeezenet.api.export`'s keyword arguments of the same names.
EXPORT_FLAGS = (
    "format",
    "output",
    "preprocess",
    "image_size",
    "int8",
    "fp16",
    "calibration",
    "calibration_size",
    "check_images",
    "check_count",
    "tolerance",
    "opset",
    "weightless",
    "runtime_dir",
)


def run(args) -> int:
    """The flags as one :func:`squeezenet.api.export` call; it hands its result to
    :func:`_show` before the tolerance check, so a failing export is reported first."""
    import sys

    from ..api import export
    from .common import flag_values, model_flags

    export(
        args.weights,
        args.model,
        **flag_values(args, EXPORT_FLAGS),
        on_skip=lambda message: print(f"squeezenet export: skipped {message}", file=sys.stderr),
        show=lambda done: _show(args, done),
        **model_flags(args),
    )
    return 0


def _show(args, done) -> None:
    """Print what the export wrote and measured (``--json``: as one object), and the INT8
    warning."""
    result = done.result
    if args.json:
        print(json.dumps(result))
    else:
        _print_result(args, done)
    if done.int8_warning:
        _warn_int8(result["int8_check"], done.int8_limit)


def _print_result(args, done) -> None:
    result, web, sqz = done.result, done.web, done.sqz
    print(
        f"wrote {done.path} ({result['bytes'] / 1e6:.2f} MB, {result['precision']}, {args.format})"
    )
    if web is not None:
        _print_web(web)
    if sqz:
        print(
            f"a device receives it and {sqz} ({result['sqz_bytes']:,} bytes): "
            f"{result['device_bytes']:,} bytes in all"
        )
    source = result["check_images"]
    print(
        f"vs eager PyTorch on {result['n']} {'random' if source == 'random' else 'real'} "
        f"images: max abs logit diff {result['max_abs_diff']:.3g}, top-1 agrees on "
        f"{result['top1_agree']}/{result['n']}"
    )
    if done.agreement is not None:
        print(_agreement_line(done.agreement, args.check_images))
    if done.held is not None and "int8_check" in result:
        print(
            f"INT8 vs fp32 on {done.held} photos {source}: top-1 agrees on "
            f"{result['int8_check']['top1_agree']}/{done.held}"
        )
    elif args.int8 and args.check_images is None:
        print(
            "no photos of --calibration were left over to check the INT8 model on; "
            "pass --check-images DIR (photos it did not calibrate on)"
        )
