"""``squeezenet predict``: top-k classes for each image."""

from __future__ import annotations

import argparse
import json

from .argtypes import positive_int

# The line `squeezenet --help` shows for the command.
SUMMARY = "print the top classes with probabilities for each image"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Classify images and print the top-k classes with their names and "
    "softmax probabilities. Any image PIL reads works; grayscale, CMYK and RGBA "
    "images are converted to RGB. Results are printed as each batch is done; an "
    "unreadable image is named on stderr and skipped (exit status 1 at the end), or "
    "stops the run with --strict."
)


def register(p: argparse.ArgumentParser) -> None:
    from .common import (
        add_backend_arg,
        add_model_args,
        add_preprocess_arg,
        add_reading_args,
    )

    add_model_args(p)
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, or folders (every image inside is classified)",
    )
    add_preprocess_arg(p)
    add_backend_arg(p)
    p.add_argument(
        "--classes",
        default=None,
        metavar="FILE",
        help="class list, one '<wnid> <names>' line per class in index order; "
        "default: the class names the weights file carries (as `squeezenet train` writes "
        "them), else the ImageNet-1k list that ships with squeezenet for 1000-class models, "
        "else 'class N'",
    )
    p.add_argument(
        "-k",
        "--topk",
        type=positive_int,
        default=5,
        help="how many classes to print (at most the model's classes)",
    )
    add_reading_args(
        p,
        batch_size=32,
        batch_help="images per forward pass (folders stream through in batches)",
        # No workers by default: starting them costs more than a few images take to decode.
        workers=0,
        json="print a JSON list, one object per image",
        otherwise="skip it, and exit with status 1 after classifying the others",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from ..api import predict
    from ..data import ImageError
    from .common import READING_FLAGS, flag_values, model_flags, printable, skipper

    skipped: list[str] = []
    try:
        found = predict(
            args.images,
            args.weights,
            args.model,
            k=args.topk,
            on_skip=skipper("predict", skipped),
            **model_flags(args),
            **flag_values(args),
            **flag_values(args, READING_FLAGS),
        )
    except ImageError as e:  # a file name, shown on one line
        raise ImageError(printable(str(e))) from None
    if args.weights is None and not args.json:
        print("note: no --weights given; the model is randomly initialised")
    out = _Output(args.json)
    try:  # a run stopped early still ends its output
        for result in found.results:
            out.write(result)
    finally:
        out.close()
    if skipped:
        print(
            f"squeezenet predict: error: {len(skipped)} of "
            f"{len(found.files) + len(found.left_out)} images could not be read (named "
            "above); the others were classified",
            file=sys.stderr,
        )
        return 1
    return 0


class _Output:
    """Prints each result as soon as it exists: text blocks, or the items of one JSON list
    (closed even when a run stops early, so the output stays valid JSON)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json, self.count, self.closed = as_json, 0, False

    def write(self, result: dict) -> None:
        if self.as_json:
            item = json.dumps(result, indent=2).replace("\n", "\n  ")
            print(("[\n  " if self.count == 0 else ",\n  ") + item, end="", flush=True)
        else:
            from .common import printable

            print(printable(result["image"]))
            for t in result["top"]:
                print(f"  {t['prob']:7.2%}  {t['index']:4d}  {printable(t['name'])}")
            print(end="", flush=True)
        self.count += 1

    def close(self) -> None:
        if self.as_json and not self.closed:
            print("[]" if self.count == 0 else "\n]", flush=True)
        self.closed = True
