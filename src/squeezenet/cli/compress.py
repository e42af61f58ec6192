"""``squeezenet compress``: Deep Compression of a model's weights into one small file."""

from __future__ import annotations

import argparse
import json
import sys

from ..compress.recipes import RECIPES, recipe_settings
from .argtypes import non_negative_int, positive_int
from .common import add_model_args, add_preprocess_arg, build_model, choose_preprocess


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "compress",
        formatter_class=formatter,
        help="prune, weight-share and entropy-code weights into a compressed file",
        description="Deep Compression (Han et al., 2016): magnitude pruning, k-means weight "
        "sharing and entropy coding, with optional fine-tuning after each stage: retraining "
        "with labels on the model's training data (--train-data, as in the paper) or, "
        "without labels, distillation from the uncompressed model on unlabeled calibration "
        "images (--calib). The output is read back by every command that takes --weights, "
        "and by `squeezenet decompress`.",
    )
    add_model_args(p, weights_required=True)
    p.add_argument("--output", "-o", required=True, help="compressed file to write")
    p.add_argument(
        "--lossless",
        action="store_true",
        help="re-encode weights that are already pruned and weight-shared (e.g. "
        "Han's .net file) exactly; ignores the pruning/quantization options",
    )
    p.add_argument(
        "--prune",
        default=None,
        help="target densities: 'paper' (the SqueezeNet paper's Table 1 profile), "
        "'none', one density for all layers (0.4), or 'pattern=density,...' over "
        "parameter names or fire aliases (fire9.squeeze.weight)",
    )
    p.add_argument(
        "--prune-steps",
        type=positive_int,
        default=1,
        help="iterative pruning: reach the densities in this many rounds",
    )
    p.add_argument(
        "--prune-granularity",
        choices=["weight", "kernel"],
        default="weight",
        help="prune single weights by magnitude (Deep Compression) or whole k x k "
        "kernels by L2 norm (cheaper positions; 1x1 layers stay per weight)",
    )
    p.add_argument(
        "--bits",
        default="8",
        help="index bits per layer (codebook of 2**bits shared values): one number "
        "or 'pattern=bits,...' (first match wins; unmatched layers stay float)",
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
        help="storage of biases and other unshared tensors (default float32)",
    )
    p.add_argument(
        "--calib",
        default=None,
        metavar="DIR|ZIP",
        help="unlabeled images for fine-tuning (folder or zip); without it the "
        "compression is post-training only",
    )
    p.add_argument("--calib-prefix", default="", help="only zip members under this prefix")
    p.add_argument(
        "--calib-images",
        type=positive_int,
        default=None,
        help="calibration images to use (default 512)",
    )
    p.add_argument(
        "--train-data",
        default=None,
        metavar="PATH",
        help="labelled training data in any format `squeezenet train` reads (e.g. "
        "../shared/data/cifar10-jpg.zip): fine-tune with labels (SGD, cosine lr) "
        "instead of distillation; without --eval, every stage is scored on its "
        "test split (else its validation split)",
    )
    p.add_argument(
        "--train-recipe",
        default="cifar10-fast",
        help="training recipe giving --train-data's normalisation and augmentation "
        "(must match how the model was trained)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=5e-5,
        help="weight decay when retraining with --train-data",
    )
    p.add_argument(
        "--finetune-steps",
        type=non_negative_int,
        default=0,
        help="fine-tuning steps (batches) after each pruning round",
    )
    p.add_argument(
        "--codebook-steps",
        type=non_negative_int,
        default=None,
        help="fine-tuning steps on the shared values (centroids) and biases (default 0)",
    )
    p.add_argument(
        "--quantizer",
        choices=["kmeans", "gptq"],
        default=None,
        help="weight sharing: 'kmeans' (Deep Compression: 2**bits shared values per layer; "
        "the default) or 'gptq' (a uniform grid per layer, finer where the Fisher information "
        "is larger, GPTQ rounding on the --calib images; --grid-scale sets the size)",
    )
    p.add_argument(
        "--grid-scale",
        type=float,
        default=None,
        help="with --quantizer gptq: grid step of a layer of typical sensitivity (default "
        "0.024); larger = smaller file, less accurate",
    )
    p.add_argument(
        "--bias-correction",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --quantizer gptq: let each layer's bias absorb the mean output shift "
        "that rounding its weights causes on the calibration images (default off)",
    )
    p.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default=None,
        help="named settings: 'imagenet' = --prune none --quantizer gptq --grid-scale 0.024 "
        "--calib-images 256 --bias-dtype float16 (an ImageNet SqueezeNet below 0.47 MB with "
        "--calib on unlabeled ImageNet-like photos); flags given override it",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=1e-4,
        help="learning rate after pruning (Adam for distillation, SGD with "
        "--train-data, where ~1e-2 suits)",
    )
    p.add_argument("--codebook-lr", type=float, default=1e-4, help="centroid learning rate")
    p.add_argument(
        "--batch-size", "-b", type=positive_int, default=32, help="fine-tuning batch size"
    )
    p.add_argument("--temperature", type=float, default=2.0, help="distillation temperature")
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
    p.add_argument("--seed", type=int, default=0, help="seed for sampling and fine-tuning")
    p.add_argument(
        "--device", default="cpu", help="where to fine-tune and score (cpu, cuda, cuda:1, ...)"
    )
    p.set_defaults(func=run)


def apply_recipe(args):
    """Fill the options the user left out from ``--recipe`` (else the built-in defaults)."""
    for key, value in recipe_settings(args.recipe).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def run(args) -> int:
    from ..compress.pipeline import CompressConfig
    from ..compress.weights_file import (
        FineTuneData,
        check_writable,
        compress_lossless,
        compress_weights_file,
    )
    from ..files import write_text
    from ..weights.sqz.entropy import default_coder

    check_writable(args.output)
    model = build_model(args).to(args.device)
    coder = args.coder or default_coder()
    if args.lossless:
        size, original = compress_lossless(model, args.model, args.weights, args.output, coder)
        print(
            f"{args.output}: {size:,} bytes (source {original:,} bytes, "
            f"{original / size:.2f}x), lossless, coder {coder}"
        )
        return 0
    apply_recipe(args)
    config = CompressConfig(
        prune=args.prune,
        prune_steps=args.prune_steps,
        prune_granularity=args.prune_granularity,
        bits=args.bits,
        finetune_steps=args.finetune_steps,
        codebook_steps=args.codebook_steps,
        lr=args.lr,
        codebook_lr=args.codebook_lr,
        batch_size=args.batch_size,
        temperature=args.temperature,
        coder=coder,
        bias_dtype=args.bias_dtype,
        seed=args.seed,
        quantizer=args.quantizer,
        grid_scale=args.grid_scale,
        bias_correction=args.bias_correction,
    )
    data = FineTuneData(
        calib=args.calib,
        calib_prefix=args.calib_prefix,
        calib_images=args.calib_images,
        train_data=args.train_data,
        train_recipe=args.train_recipe,
        weight_decay=args.weight_decay,
    )
    size, report = compress_weights_file(
        model,
        args.model,
        args.weights,
        args.output,
        config,
        choose_preprocess(args, model),
        data,
        eval_dir=args.eval,
        classes=args.classes,
        device=args.device,
    )
    print(report.format())
    print(f"wrote {args.output}: {size:,} bytes", file=sys.stderr)
    if args.report:
        report_json = {**report.to_dict(), "file_bytes": size, "command": sys.argv}
        write_text(args.report, json.dumps(report_json, indent=1))
    return 0
