"""``squeezenet compress``: Deep Compression of a model's weights into one small file."""

from __future__ import annotations

import json
import os
import sys

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
        default="paper",
        help="target densities: 'paper' (the SqueezeNet paper's Table 1 profile), "
        "'none', one density for all layers (0.4), or 'pattern=density,...' over "
        "parameter names or fire aliases (fire9.squeeze.weight)",
    )
    p.add_argument(
        "--prune-steps",
        type=int,
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
        default="float32",
        help="storage of biases and other unshared tensors",
    )
    p.add_argument(
        "--calib",
        default=None,
        metavar="DIR|ZIP",
        help="unlabeled images for fine-tuning (folder or zip); without it the "
        "compression is post-training only",
    )
    p.add_argument("--calib-prefix", default="", help="only zip members under this prefix")
    p.add_argument("--calib-images", type=int, default=512, help="calibration images to use")
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
        type=int,
        default=0,
        help="fine-tuning steps (batches) after each pruning round",
    )
    p.add_argument(
        "--codebook-steps",
        type=int,
        default=0,
        help="fine-tuning steps on the shared values (centroids) and biases",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=1e-4,
        help="learning rate after pruning (Adam for distillation, SGD with "
        "--train-data, where ~1e-2 suits)",
    )
    p.add_argument("--codebook-lr", type=float, default=1e-4, help="centroid learning rate")
    p.add_argument("--batch-size", "-b", type=int, default=32, help="fine-tuning batch size")
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


def run(args) -> int:
    from ..compress.pipeline import CompressConfig, compress, lossless
    from ..weights import read_state_dict, resolve_source
    from ..weights.sqz import fileformat
    from ..weights.sqz.entropy import default_coder
    from ..weights.sqz.modeldesc import describe_model

    # Fail before minutes of compression, not after: the output folder must be writable.
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    if not os.access(out_dir, os.W_OK):
        raise ValueError(f"{args.output}: cannot write to {out_dir}")
    model = build_model(args).to(args.device)
    coder = args.coder or default_coder()
    if args.lossless:
        path, _ = resolve_source(args.weights)
        cm = lossless(
            read_state_dict(path),
            describe_model(model, args.model),
            coder,
            meta={"source": os.path.basename(str(args.weights)), "lossless": True},
        )
        size = fileformat.save(cm, args.output)
        original = os.path.getsize(path)
        print(
            f"{args.output}: {size:,} bytes (source {original:,} bytes, "
            f"{original / size:.2f}x), lossless, coder {coder}"
        )
        return 0
    preprocess = choose_preprocess(args, model)
    score = None
    eval_names: set[str] = set()
    if args.eval:
        from ..data import scan_folder
        from ..evaluate import evaluate
        from .evaluate import find_class_list

        images = scan_folder(args.eval, find_class_list(args.eval, args.classes))
        eval_names = {p.name for p, _ in images.samples}

        def score(m):
            m.eval()
            return evaluate(
                lambda x: m(x.to(args.device)).cpu(),
                images,
                preprocess,
                batch_size=50,
                progress=False,
            )["top1"]

    if args.calib and args.train_data:
        raise ValueError("give --calib (distillation) or --train-data (labels), not both")
    calib = None
    if args.train_data:
        from ..compress.retrain import LabelledRetraining

        calib = LabelledRetraining(
            args.train_data,
            args.train_recipe,
            args.batch_size,
            args.device,
            args.seed,
            weight_decay=args.weight_decay,
        )
        if score is None:
            score = calib.score
            print(
                f"scoring every stage on {args.train_data}'s {calib.score_split} split",
                file=sys.stderr,
            )
    elif args.calib:
        from ..compress.calibration import load_calibration

        calib = load_calibration(
            args.calib, args.calib_images, preprocess, args.calib_prefix, args.seed
        ).to(args.device)
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
    )
    cm, report = compress(model, args.model, config, calib, score)
    cm.meta.update(
        source=os.path.basename(str(args.weights)),
        prune=str(args.prune),
        bits=str(args.bits),
        calib=os.path.basename(args.calib or "") or None,
        train_data=os.path.basename(args.train_data or "") or None,
        calib_overlaps_eval=bool(
            args.calib
            and eval_names
            and os.path.realpath(args.calib) == os.path.realpath(args.eval)
        ),
    )
    size = fileformat.save(cm, args.output)
    print(report.format())
    print(f"wrote {args.output}: {size:,} bytes", file=sys.stderr)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({**report.to_dict(), "file_bytes": size, "command": sys.argv}, f, indent=1)
    return 0
