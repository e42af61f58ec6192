"""Options shared by several sub-commands."""

from __future__ import annotations

import argparse

from ..data import get_preprocess
from ..data.transforms import PRESETS, Preprocess
from ..models import default_input_size
from .argtypes import non_negative_int, positive_int


def add_model_args(p: argparse.ArgumentParser, weights_required: bool = False) -> None:
    from ..models import list_models

    p.add_argument(
        "--model",
        "-m",
        default="squeezenet1_1",
        choices=list_models(),
        metavar="NAME",
        help="registered model name: " + ", ".join(list_models()),
    )
    p.add_argument(
        "--weights",
        "-w",
        required=weights_required,
        default=None,
        help="registered weights name (see `squeezenet summary --weights`), a "
        "path (.pth state_dict/checkpoint, compressed file, Deep Compression .net) "
        "or a URL (cached under $TORCH_HOME/hub/checkpoints, sha256-checked)",
    )
    p.add_argument(
        "--conv10-padding",
        type=non_negative_int,
        default=None,
        metavar="P",
        help="override conv10's padding (1 = the original Caffe v1.0 network)",
    )


def add_preprocess_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preprocess",
        choices=sorted(PRESETS),
        default=None,
        help="preprocessing preset; default: the one the weights record names, "
        "'caffe' for .net files, 'cifar' for 32x32 models, else 'torchvision'",
    )
    p.add_argument(
        "--crop",
        type=positive_int,
        default=None,
        help="center-crop size (default: the preset's, 224 or 227)",
    )


def build_model(args: argparse.Namespace):
    from ..weights import create_model

    return create_model(
        args.model, weights=args.weights, conv10_padding=getattr(args, "conv10_padding", None)
    )


def choose_preprocess(args: argparse.Namespace, model) -> Preprocess:
    """The explicit --preprocess, else what the weights need."""
    name = args.preprocess
    if name is None:
        record = getattr(model, "weights_record", None)
        path = getattr(model, "weights_path", None)
        if record is not None:
            name = record.preprocess
        elif path is not None and str(path).endswith(".net"):
            name = "caffe"
        elif default_input_size(args.model) == 32:
            name = "cifar"  # the 32x32 models are trained with CIFAR statistics
        else:
            name = "torchvision"
    preprocess = get_preprocess(name)
    if args.crop:
        preprocess = preprocess.with_crop(args.crop)
    return preprocess


def add_backend_arg(p: argparse.ArgumentParser) -> None:
    from ..deploy.backends import BACKENDS

    p.add_argument(
        "--backend",
        choices=list(BACKENDS),
        default="torch",
        help="inference runtime: "
        + "; ".join(f"{n}: {i.help}" for n, i in BACKENDS.items())
        + " (see docs/deployment.md; onnxruntime/openvino need their extras)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="DIR|ZIP",
        help="calibration images for the -int8 backends: an image folder or a zip "
        "of images, apart from the images you score",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="inference threads (default: the runtime's own choice)",
    )


def build_backend(args: argparse.Namespace, model, preprocess: Preprocess):
    """``model`` itself for ``--backend torch``, else the named runtime's callable."""
    if args.backend == "torch" and args.threads is None:
        return model
    from ..deploy.backends import BACKENDS, create_backends

    calibration = None
    if BACKENDS[args.backend].precision == "int8" and args.calibration is not None:
        from ..data import sample_images

        calibration = sample_images(args.calibration, preprocess)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return create_backends(
        [args.backend], model.eval(), preprocess.crop, args.threads, calibration
    )[0]
