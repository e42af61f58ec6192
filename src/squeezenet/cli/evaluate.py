"""``squeezenet evaluate``: top-1 / top-5 over a labelled image folder."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .common import (
    READING_FLAGS,
    add_backend_arg,
    add_data_arg,
    add_model_args,
    add_preprocess_arg,
    add_reading_args,
    flag_values,
    model_flags,
    printable,
    skipper,
)

# The line `squeezenet --help` shows for the command.
SUMMARY = "top-1 / top-5 accuracy over a folder of labelled images"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Measure top-1 / top-5 accuracy. DIR is either an ImageFolder tree "
    "(DIR/<class>/<image>; classes are the sorted folder names, or their positions in "
    "--classes) or a flat folder whose file names start with the class wnid "
    "(n01440764_tench.JPEG). For 1000-class models the ImageNet-1k class list that "
    "ships with squeezenet maps wnids to class indices; --classes overrides it. An "
    "unreadable image is named on stderr and left out of the scores (exit status 1 at "
    "the end), or stops the run with --strict."
)


def register(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    add_data_arg(p, "image folder to score", required=True)
    p.add_argument(
        "--classes",
        default=None,
        metavar="FILE",
        help="class list, one '<wnid> <names>' line per class in index order (default: "
        "the class names the weights file carries, as `squeezenet train` writes them; else "
        "the ImageNet-1k list that ships with squeezenet for 1000-class models; else "
        "ImageFolder classes are the sorted folder names)",
    )
    add_preprocess_arg(p)
    add_backend_arg(p)
    add_reading_args(
        p,
        batch_size=50,
        batch_help="images per batch",
        workers=min(2, os.cpu_count() or 1),
        json="print one JSON object with top1, top5 (fractions), n and skipped",
        otherwise="leave it out of the scores, and exit with status 1 at the end",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..api import evaluate
    from ..data import DatasetError, ImageError

    try:
        result = evaluate(
            args.data,
            args.weights,
            args.model,
            on_skip=skipper("evaluate"),
            **model_flags(args),
            **flag_values(args),
            **flag_values(args, READING_FLAGS),
        )
    except (ImageError, DatasetError) as e:  # a file name, shown on one line
        raise type(e)(printable(str(e))) from None
    if args.json:
        print(json.dumps(result))
    else:
        precision = result["precision"]
        print(
            f"{result['model']} ({args.weights or 'random init'}), preprocess "
            f"{result['preprocess']} crop {result['crop']}, {args.decode} decode"
            + (f", {precision}" if precision else f", {result['backend']}")
            + f": top-1 {result['top1']:.2%} ({result['correct1']}/{result['n']})"
            # With 5 classes or fewer every label is in the top 5: nothing to report.
            + (
                f", top-5 {result['top5']:.2%} ({result['correct5']}/{result['n']})"
                if result["num_classes"] > 5
                else ""
            )
        )
    if result["skipped"]:
        print(
            f"squeezenet evaluate: error: {result['skipped']} of "
            f"{result['n'] + result['skipped']} files could not be read or labelled (named "
            "above) and are not in the scores",
            file=sys.stderr,
        )
        return 1
    return 0
