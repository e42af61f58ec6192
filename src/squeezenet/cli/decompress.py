"""``squeezenet decompress``: a compressed file back to a state_dict (.pth or .safetensors)."""

from __future__ import annotations

import argparse
import json

# The line `squeezenet --help` shows for the command.
SUMMARY = "decode a compressed file into a PyTorch (.pth) or safetensors weights file"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Decode a file written by `squeezenet compress` (every tensor is "
    "checked) and save its weights in torchvision's layout: a .pth file for "
    "torch.load(..., weights_only=True), or a .safetensors file. The file keeps what "
    "the compressed one says of the model (architecture, class names, preprocessing), so "
    "other commands need no -m, --classes or --preprocess for it: in a .safetensors "
    "file's metadata, in a .pth file as {'state_dict': ..., 'squeezenet': ...} unless "
    "--plain. Without --output, only describe the file."
)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="compressed file")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PATH",
        help="weights file to write: a PyTorch file (.pth) or, for names ending in "
        ".safetensors, a safetensors file; without it, only describe the file",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="write a .pth file as the bare state_dict (what torchvision's load_state_dict "
        "takes as it is), without the model's description",
    )
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..compress import describe
    from ..files import check_not_input
    from ..weights import read_weights, save_state_dict

    if args.output:
        check_not_input(args.output, {"input file": args.input})
    info = describe(args.input)
    # Every tensor is decoded and checked, with or without --output, as --help promises.
    state, model_info = read_weights(args.input)
    if args.output:
        save_state_dict(state, args.output, None if args.plain else model_info)
        info["output"] = args.output
    if args.json:
        print(json.dumps(info))
        return 0
    print(
        f"{args.input}: {info['model']}, {info['params']:,} parameters "
        f"({info['nonzero'] / info['params']:.1%} non-zero) in {info['bytes']:,} bytes, "
        f"coder {info['coder']}" + (f" -> {args.output}" if args.output else "")
    )
    classes = info["meta"].get("classes")
    if classes:
        from .common import printable

        shown = ", ".join(printable(c) for c in classes[:10])
        print(f"classes: {shown}" + (f" and {len(classes) - 10} more" if len(classes) > 10 else ""))
    return 0
