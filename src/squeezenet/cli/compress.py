"""``squeezenet compress``: Deep Compression of a model's weights into one small file."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields

from ..compress.pipeline import CompressConfig
from ..compress.presets import COMPRESS_PRESETS
from ..compress.weights_file import FineTuneData
from .argtypes import non_negative_int, positive_int, prune_spec
from .common import (
    add_batch_size_arg,
    add_calibration_args,
    add_data_arg,
    add_device_arg,
    add_json_arg,
    add_model_args,
    add_output_arg,
    add_preprocess_arg,
    add_progress_arg,
    model_from_args,
)

# The library's settings, which are these flags: each flag defaults to None ("not given"), so
# that a --preset can fill it, and its help states the dataclass default.
_SETTINGS = {f.name: f for c in (CompressConfig, FineTuneData) for f in fields(c)}


def _default(name: str) -> str:
    value = _SETTINGS[name].default
    return "" if value is MISSING else f" (default: {value})"


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "compress",
        formatter_class=formatter,
        help="prune, weight-share and entropy-code weights into a compressed file",
        description="Deep Compression (Han et al., 2016): magnitude pruning, k-means weight "
        "sharing and entropy coding, with optional fine-tuning after each stage: retraining "
        "with labels on the model's training data (--data, as in the paper) or, "
        "without labels, distillation from the uncompressed model on unlabeled calibration "
        "images (--calibration). The output is read back by every command that takes --weights, "
        "and by `squeezenet decompress`.",
    )
    add_model_args(p, weights_required=True)
    add_output_arg(p, "compressed file to write (.sqz)", required=True)
    p.add_argument(
        "--lossless",
        action="store_true",
        help="re-encode weights that are already pruned and weight-shared (e.g. "
        "Han's .net file) exactly; ignores the pruning/quantization options",
    )
    p.add_argument(
        "--prune",
        type=prune_spec,
        default=None,
        help="target densities: 'paper' (the SqueezeNet paper's Table 1 profile), "
        "'none', one density for all layers (0.4), or 'pattern=density,...' over "
        "parameter names or fire aliases (fire9.squeeze.weight)" + _default("prune"),
    )
    p.add_argument(
        "--prune-rounds",
        type=positive_int,
        help="iterative pruning: reach the densities in this many rounds"
        + _default("prune_rounds"),
    )
    p.add_argument(
        "--prune-granularity",
        choices=["weight", "kernel"],
        help="prune single weights by magnitude (Deep Compression) or whole k x k "
        "kernels by L2 norm (cheaper positions; 1x1 layers stay per weight)"
        + _default("prune_granularity"),
    )
    p.add_argument(
        "--bits",
        help="index bits per layer (codebook of 2**bits shared values): one number "
        "or 'pattern=bits,...' (first match wins; unmatched layers stay float)" + _default("bits"),
    )
    p.add_argument(
        "--coder",
        choices=["ans", "huffman"],
        default=None,
        help="entropy coder (default: ans if constriction is installed)",
    )
    p.add_argument(
        "--bias-dtype",
        choices=["float32", "float16"],
        default=None,
        help="storage of biases and other unshared tensors" + _default("bias_dtype"),
    )
    add_calibration_args(
        p,
        "unlabeled images for fine-tuning by distillation (folder or zip); without it "
        "(and without --data) the compression is post-training only",
        size_default=None,
    )
    p.add_argument(
        "--calibration-size",
        type=positive_int,
        metavar="N",
        help="how many calibration images to draw (fixed seed)" + _default("calibration_size"),
    )
    p.add_argument("--calibration-prefix", help="only zip members under this prefix")
    add_data_arg(
        p,
        "labelled training data in any format `squeezenet train` reads (e.g. the "
        "CIFAR-10 JPEG zip): fine-tune with labels (SGD, cosine lr) instead of "
        "distillation; without --eval, every stage is scored on its test split (else its "
        "validation split)",
    )
    p.add_argument(
        "--recipe",
        help="training recipe giving --data's normalisation and augmentation "
        "(must match how the model was trained)" + _default("recipe"),
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        help="weight decay when retraining with --data" + _default("weight_decay"),
    )
    p.add_argument(
        "--finetune-steps",
        type=non_negative_int,
        help="fine-tuning steps (batches) after each pruning round" + _default("finetune_steps"),
    )
    p.add_argument(
        "--codebook-steps",
        type=non_negative_int,
        help="fine-tuning steps on the shared values (centroids) and biases"
        + _default("codebook_steps"),
    )
    p.add_argument(
        "--quantizer",
        choices=["kmeans", "gptq"],
        help="weight sharing: 'kmeans' (Deep Compression: 2**bits shared values per layer; "
        "the default) or 'gptq' (a uniform grid per layer, finer where the Fisher information "
        "is larger, GPTQ rounding on the --calibration images; --grid-scale sets the size)",
    )
    p.add_argument(
        "--grid-scale",
        type=float,
        help="with --quantizer gptq: grid step of a layer of typical sensitivity; larger = "
        "smaller file, less accurate" + _default("grid_scale"),
    )
    p.add_argument(
        "--bias-correction",
        action=argparse.BooleanOptionalAction,
        help="with --quantizer gptq: let each layer's bias absorb the mean output shift "
        "that rounding its weights causes on the calibration images (default: off)",
    )
    p.add_argument(
        "--dense-target",
        action=argparse.BooleanOptionalAction,
        help="with --quantizer gptq: make each layer reproduce what the uncompressed network "
        "computes there, correcting the error the rounded layers before it pass on (about "
        "twice the rounding time; default: off)",
    )
    p.add_argument(
        "--preset",
        choices=sorted(COMPRESS_PRESETS),
        help="named settings: 'imagenet' = --prune none --quantizer gptq --grid-scale 0.024 "
        "--calibration-size 256 --bias-dtype float16 (an ImageNet SqueezeNet below 0.47 MB "
        "with --calibration on unlabeled ImageNet-like photos); flags given override it",
    )
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate after pruning (Adam for distillation, SGD with "
        "--data, where ~1e-2 suits)" + _default("lr"),
    )
    p.add_argument(
        "--codebook-lr", type=float, help="centroid learning rate" + _default("codebook_lr")
    )
    add_batch_size_arg(p, None, "fine-tuning batch size" + _default("batch_size"))
    p.add_argument(
        "--distill-temperature",
        type=float,
        help="distillation temperature" + _default("distill_temperature"),
    )
    p.add_argument(
        "--eval",
        default=None,
        metavar="DIR",
        help="labelled images to score after every stage (see `evaluate`)",
    )
    p.add_argument(
        "--classes", default=None, metavar="FILE", help="class list for --eval (as in `evaluate`)"
    )
    add_preprocess_arg(p)
    p.add_argument(
        "--report", default=None, metavar="JSON", help="also write the stage/layer report as JSON"
    )
    p.add_argument("--seed", type=int, help="seed for sampling and fine-tuning" + _default("seed"))
    add_device_arg(p, "fine-tune and score")
    add_json_arg(p, "print the stage/layer report as one JSON object instead of the table")
    add_progress_arg(p)
    p.set_defaults(func=run)


def settings(args) -> dict:
    """The library settings given as flags (the flags are the settings' names)."""
    given = {k: v for k, v in vars(args).items() if k in _SETTINGS and v is not None}
    return given | ({"progress": False} if args.no_progress else {})


def run(args) -> int:
    from pathlib import Path

    from ..compress.weights_file import compress_lossless, compress_weights_file
    from ..engine import resolve_device
    from ..files import make_folder, write_text
    from ..weights import preprocess_for
    from ..weights.sqz.entropy import default_coder

    make_folder(Path(args.output).absolute().parent)  # fail now, not after minutes of work
    args.device = resolve_device(args.device)
    model = model_from_args(args).to(args.device)
    if args.lossless:
        coder = args.coder or default_coder()
        size, original = compress_lossless(model, args.model, args.weights, args.output, coder)
        print(
            f"{args.output}: {size:,} bytes (source {original:,} bytes, "
            f"{original / size:.2f}x), lossless, coder {coder}"
        )
        return 0
    size, report = compress_weights_file(
        model,
        args.model,
        args.weights,
        args.output,
        preprocess_for(args.model, model, args.preprocess, args.image_size),
        preset=args.preset,
        eval_dir=args.eval,
        classes=args.classes,
        device=args.device,
        **settings(args),
    )
    summary = {**report.to_dict(), "file_bytes": size, "output": args.output}
    print(json.dumps(summary) if args.json else report.format())
    print(f"wrote {args.output}: {size:,} bytes", file=sys.stderr)
    if args.report:
        write_text(args.report, json.dumps({**summary, "command": sys.argv}, indent=1))
    return 0
