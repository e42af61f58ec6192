"""``squeezenet compress``: Deep Compression of a model's weights into one small file."""

from __future__ import annotations

import argparse
import json
import sys

from ..compress.presets import PRESETS, preset_settings
from .argtypes import non_negative_int, positive_int, prune_spec
from .common import (
    add_batch_size_arg,
    add_calibration_args,
    add_data_arg,
    add_deprecated_alias,
    add_device_arg,
    add_json_arg,
    add_model_args,
    add_output_arg,
    add_preprocess_arg,
    add_progress_arg,
    build_model,
    choose_preprocess,
)


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
        "parameter names or fire aliases (fire9.squeeze.weight)",
    )
    p.add_argument(
        "--prune-rounds",
        type=positive_int,
        default=1,
        help="iterative pruning: reach the densities in this many rounds",
    )
    add_deprecated_alias(p, "--prune-steps", "--prune-rounds")
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
    add_calibration_args(
        p,
        "unlabeled images for fine-tuning by distillation (folder or zip); without it "
        "(and without --data) the compression is post-training only",
        size_default=512,
    )
    p.set_defaults(calibration_size=None)  # 512, or what --preset says
    p.add_argument("--calibration-prefix", default="", help="only zip members under this prefix")
    add_deprecated_alias(p, "--calib", "--calibration")
    add_deprecated_alias(p, "--calib-images", "--calibration-size")
    add_deprecated_alias(p, "--calib-prefix", "--calibration-prefix")
    add_data_arg(
        p,
        "labelled training data in any format `squeezenet train` reads (e.g. the "
        "CIFAR-10 JPEG zip): fine-tune with labels (SGD, cosine lr) instead of "
        "distillation; without --eval, every stage is scored on its test split (else its "
        "validation split)",
    )
    add_deprecated_alias(p, "--train-data", "--data")
    p.add_argument(
        "--recipe",
        default="cifar10-fast",
        help="training recipe giving --data's normalisation and augmentation "
        "(must match how the model was trained)",
    )
    add_deprecated_alias(p, "--train-recipe", "--recipe")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=5e-5,
        help="weight decay when retraining with --data",
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
        "is larger, GPTQ rounding on the --calibration images; --grid-scale sets the size)",
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
        "--dense-target",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --quantizer gptq: make each layer reproduce what the uncompressed network "
        "computes there, correcting the error the rounded layers before it pass on (about "
        "twice the rounding time; default off)",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="named settings: 'imagenet' = --prune none --quantizer gptq --grid-scale 0.024 "
        "--calibration-size 256 --bias-dtype float16 (an ImageNet SqueezeNet below 0.47 MB "
        "with --calibration on unlabeled ImageNet-like photos); flags given override it",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=1e-4,
        help="learning rate after pruning (Adam for distillation, SGD with "
        "--data, where ~1e-2 suits)",
    )
    p.add_argument("--codebook-lr", type=float, default=1e-4, help="centroid learning rate")
    add_batch_size_arg(p, 32, "fine-tuning batch size")
    p.add_argument(
        "--distill-temperature", type=float, default=2.0, help="distillation temperature"
    )
    add_deprecated_alias(p, "--temperature", "--distill-temperature")
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
    add_device_arg(p, "fine-tune and score")
    add_json_arg(p, "print the stage/layer report as one JSON object instead of the table")
    add_progress_arg(p)
    p.set_defaults(func=run)


def apply_preset(args):
    """Fill the options the user left out from ``--preset`` (else the built-in defaults)."""
    for key, value in preset_settings(args.preset).items():
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
    from ..engine import resolve_device
    from ..files import write_text
    from ..weights.sqz.entropy import default_coder

    check_writable(args.output)
    args.device = resolve_device(args.device)
    model = build_model(args).to(args.device)
    coder = args.coder or default_coder()
    if args.lossless:
        size, original = compress_lossless(model, args.model, args.weights, args.output, coder)
        print(
            f"{args.output}: {size:,} bytes (source {original:,} bytes, "
            f"{original / size:.2f}x), lossless, coder {coder}"
        )
        return 0
    apply_preset(args)
    config = CompressConfig(
        prune=args.prune,
        prune_steps=args.prune_rounds,
        prune_granularity=args.prune_granularity,
        bits=args.bits,
        finetune_steps=args.finetune_steps,
        codebook_steps=args.codebook_steps,
        lr=args.lr,
        codebook_lr=args.codebook_lr,
        batch_size=args.batch_size,
        temperature=args.distill_temperature,
        coder=coder,
        bias_dtype=args.bias_dtype,
        seed=args.seed,
        quantizer=args.quantizer,
        grid_scale=args.grid_scale,
        bias_correction=args.bias_correction,
        dense_target=args.dense_target,
        progress=not args.no_progress,
    )
    data = FineTuneData(
        calib=args.calibration,
        calib_prefix=args.calibration_prefix,
        calib_images=args.calibration_size,
        train_data=args.data,
        train_recipe=args.recipe,
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
    summary = {**report.to_dict(), "file_bytes": size, "output": args.output}
    print(json.dumps(summary) if args.json else report.format())
    print(f"wrote {args.output}: {size:,} bytes", file=sys.stderr)
    if args.report:
        write_text(args.report, json.dumps({**summary, "command": sys.argv}, indent=1))
    return 0
