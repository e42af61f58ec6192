"""``squeezenet train``: train or fine-tune from a YAML config and/or flags."""

from __future__ import annotations

import argparse
import json

from .argtypes import float_in, non_negative_int, positive_int, prune_spec

# (field, flag type, help). Every flag defaults to None = "not given", so only the flags a
# user sets override the YAML file and the recipe.
_BOOL = "bool"
_OPTIONS: list[tuple[str, object, str]] = [
    (
        "recipe",
        str,
        "named recipe to start from: 'paper' (the paper's ImageNet solver), "
        "'cifar10-fast' (CIFAR-10 on a CPU in under 30 minutes) or 'imagenette' (a folder "
        "of full-size photographs, such as Imagenette2, on a CPU)",
    ),
    ("model", str, "registered model name (see `squeezenet summary`)"),
    (
        "weights",
        str,
        "start from these weights (registered name, path or URL); the classifier "
        "is replaced when the data has a different number of classes (fine-tuning)",
    ),
    ("freeze_features", _BOOL, "train only the classifier (conv10); the features stay fixed"),
    (
        "batchnorm",
        _BOOL,
        "add batch norm after every conv for training; it is folded into the "
        "convs when the model is saved, so model.pth is a plain SqueezeNet (default: on when "
        "training from scratch, where a plain SqueezeNet often stalls; off when fine-tuning "
        "from --weights)",
    ),
    (
        "data",
        str,
        "training data: the CIFAR-10 JPEG zip, an ImageFolder root with train/ "
        "(and val/, test/), or torchvision's cifar-10-batches-py folder",
    ),
    ("data_format", str, "auto, cifar10-zip, imagefolder or torchvision-cifar10"),
    ("image_size", positive_int, "training/eval image side (default: the model's input size)"),
    (
        "in_memory",
        str,
        "auto, yes or no: decode the data once into uint8 tensors in memory "
        "(auto: yes below 4 GiB of pixels) instead of streaming files with worker processes",
    ),
    (
        "val_fraction",
        float,
        "fraction of train held out for validation (best-checkpoint "
        "selection) when the data has no val/ split; the test split is never used to select",
    ),
    ("strict_data", _BOOL, "stop at the first corrupt image instead of warning and skipping it"),
    ("workers", non_negative_int, "image-decoding worker processes when streaming from files"),
    (
        "crop_padding",
        non_negative_int,
        "in-memory data: pad by this many pixels, then random-crop back",
    ),
    ("flip", _BOOL, "random horizontal flips"),
    (
        "cutout",
        non_negative_int,
        "in-memory data: zero a random square this many pixels wide (0: off)",
    ),
    (
        "crop_scale",
        float,
        "random-resized crops (as torchvision's RandomResizedCrop) covering at least this "
        "fraction of the image, resized to --image-size: for in-memory data instead of "
        "padded crops, e.g. 0.35 for photographs; for streamed data the minimum area of its "
        "crops (default 0.08, torchvision's)",
    ),
    (
        "image_size_start",
        positive_int,
        "with --crop-scale: progressive resizing, the training side grows from this to "
        "--image-size over the first three quarters of the epochs (cheaper early epochs)",
    ),
    (
        "decode_size",
        positive_int,
        "in-memory ImageFolder data: side at which training images are held in memory "
        "(default: --image-size); larger than --image-size with --crop-scale, so crops keep "
        "detail",
    ),
    (
        "eval_image_size",
        positive_int,
        "side of validation/test images (default: --image-size); a little larger than the "
        "training side suits random-resized-crop training (Touvron et al., 2019)",
    ),
    (
        "cutmix",
        float,
        "probability that a training batch is mixed by CutMix (Yun et al., 2019): a box of "
        "each image is replaced by another image's, and the loss weighs both labels by area "
        "(default 0: off)",
    ),
    (
        "recalibrate_bn",
        _BOOL,
        "after the last epoch, re-estimate the batch-norm statistics on the training images "
        "seen as at evaluation (whole images at --eval-image-size, no augmentation) before "
        "the final validation and the fold into model.pth (FixRes, Touvron et al., 2019)",
    ),
    ("epochs", positive_int, "number of epochs"),
    ("batch_size", positive_int, "images per forward pass, per process"),
    (
        "effective_batch",
        positive_int,
        "images per optimizer step, reached by gradient accumulation "
        "(must be a multiple of batch size x processes)",
    ),
    ("optimizer", str, "sgd or adamw"),
    (
        "lr",
        float,
        "peak learning rate (for the effective batch); default 0.1, or 0.001 when "
        "fine-tuning from --weights (higher rates can kill a fresh conv10: a warning says so)",
    ),
    ("momentum", float, "SGD momentum"),
    ("nesterov", _BOOL, "Nesterov momentum"),
    ("weight_decay", float, "L2 weight decay"),
    ("schedule", str, "lr schedule per step: linear (to 0), onecycle, cosine or constant"),
    ("warmup_fraction", float, "fraction of the steps spent warming the lr up"),
    (
        "label_smoothing",
        float_in(0, 1, high_open=True),
        "label smoothing of the cross-entropy loss",
    ),
    (
        "ema_decay",
        float,
        "keep an exponential moving average of the weights, updated after every optimizer "
        "step with this decay (e.g. 0.998: about the last 500 steps); it replaces the final "
        "epoch's weights before the last validation, --recalibrate-bn and model.pth",
    ),
    (
        "teacher",
        str,
        "distil from this trained copy of the model (weights: registered name, "
        "path, URL or compressed file; Hinton et al. 2015), e.g. when retraining a pruned model",
    ),
    (
        "distill_weight",
        float,
        "with --teacher: weight of the distillation term (the rest goes "
        "to the cross-entropy with the labels)",
    ),
    ("distill_temperature", float, "with --teacher: softmax temperature of the distillation"),
    (
        "prune",
        prune_spec,
        "prune while training (Deep Compression section 2) to these densities: one "
        "number for every conv (0.25), 'paper' (Table 1's profile) or 'pattern=density,...' over "
        "parameter names or fire aliases; masks are re-applied after every step, kept in "
        "checkpoints, and the best checkpoint is chosen only at the final density",
    ),
    (
        "prune_rounds",
        positive_int,
        "pruning rounds (each removes the same fraction of what is left)",
    ),
    ("prune_until", float, "spread the rounds over this first fraction of the epochs"),
    (
        "prune_granularity",
        str,
        "'weight' (each weight by magnitude, as Deep Compression) or "
        "'kernel' (whole k x k kernels by L2 norm, Mao et al. 2017: positions cost far less in "
        "the compressed file, so a kernel-sparse layer can keep more weights; 1x1 layers are "
        "pruned weight by weight either way)",
    ),
    (
        "device",
        str,
        "auto, cpu, cuda or cuda:N (under torchrun each process takes its LOCAL_RANK's GPU)",
    ),
    (
        "amp",
        str,
        "mixed precision: auto (bf16 on CPUs/GPUs that have it, else fp16 with a "
        "GradScaler on CUDA, else off), bf16, fp16 or off",
    ),
    ("channels_last", _BOOL, "channels-last memory format (faster convolutions)"),
    ("compile", _BOOL, "torch.compile the model"),
    ("threads", positive_int, "CPU threads for the model (default: torch's choice)"),
    (
        "output",
        str,
        "run directory: config.yaml, metrics.csv, last.pt, best.pt, model.pth, "
        "results.json, curves.png, tensorboard/",
    ),
    (
        "resume",
        _BOOL,
        "continue from <output>/last.pt (model, optimizer, schedule, scaler, epoch, RNG "
        "state); refused if it was written with different settings. Under torchrun "
        "--max-restarts a restarted run resumes by itself",
    ),
    ("seed", int, "random seed (data order, augmentation, initialisation)"),
    ("deterministic", _BOOL, "use deterministic algorithms only"),
    ("eval_test", _BOOL, "score the best checkpoint on the test split at the end"),
    (
        "tta",
        _BOOL,
        "also score val/test with mirrored-image test-time augmentation (mean "
        "logits); the best checkpoint is then chosen by that score",
    ),
    (
        "val_every",
        positive_int,
        "validate every N epochs and after the last one (default 1); checkpoints are "
        "still written every epoch, and 'best' selection only sees validated epochs",
    ),
    (
        "select",
        str,
        "which epoch's weights become best.pt / model.pth and are tested: 'best' "
        "(highest validation top-1) or 'last' (e.g. when the validation split is too small to "
        "rank epochs)",
    ),
    ("max_steps_per_epoch", positive_int, "stop each epoch after this many batches (smoke tests)"),
    ("progress", _BOOL, "progress bar with images/s and ETA"),
    ("tensorboard", _BOOL, "write TensorBoard logs (needs the tensorboard package)"),
    ("plot", _BOOL, "write curves.png at the end (needs matplotlib)"),
]


# The short options every command shares (cli/common.py).
_SHORT = {
    "model": ("-m",),
    "weights": ("-w",),
    "data": ("-d",),
    "batch_size": ("-b",),
    "output": ("-o",),
}


def register(sub, formatter) -> None:
    from .common import add_model_arg_flag

    p = sub.add_parser(
        "train",
        formatter_class=formatter,
        help="train or fine-tune a model (one CPU, or many GPUs with torchrun)",
        description="Train or fine-tune. Settings come from --recipe, then --config (YAML), "
        "then the flags below (a flag given overrides the file). The resolved settings are "
        "saved as <output>/config.yaml. Distributed: `torchrun --nproc-per-node N -m squeezenet "
        "train ...` (gloo on CPU, NCCL on CUDA; several machines: --nnodes, --rdzv-backend "
        "c10d, --rdzv-endpoint HOST:PORT); only rank 0 logs and writes.",
        argument_default=None,
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="YAML",
        help="YAML file of settings (the names "
        "below, with underscores: lr, batch_size, model_args, ...)",
    )
    for name, kind, text in _OPTIONS:
        flags = [*_SHORT.get(name, ()), "--" + name.replace("_", "-")]
        if kind is _BOOL:
            p.add_argument(*flags, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            p.add_argument(*flags, type=kind, default=None, metavar=name.upper(), help=text)
    add_model_arg_flag(p, "passed to the model")
    p.add_argument(
        "--json", action="store_true", help="print the final summary as one JSON object on stdout"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train import fit, resolve_config
    from .common import parse_model_args

    overrides = {name: getattr(args, name) for name, _, _ in _OPTIONS}
    model_args = parse_model_args(args.model_arg)
    cfg = resolve_config(args.config, overrides)
    if model_args:
        cfg.model_args = {**cfg.model_args, **model_args}
    result = fit(cfg)
    result.pop("model", None)
    if args.json:
        print(json.dumps(result))
    return 0
