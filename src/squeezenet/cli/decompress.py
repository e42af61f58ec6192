"""``squeezenet decompress``: a compressed file back to a plain state_dict (.pth or
.safetensors)."""

from __future__ import annotations

import json


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "decompress",
        formatter_class=formatter,
        help="decode a compressed file into a PyTorch (.pth) or safetensors state_dict",
        description="Decode a file written by `squeezenet compress` (every tensor is "
        "checked) and save its weights as a plain state_dict in torchvision's layout: a "
        ".pth file for torch.load(..., weights_only=True), or a .safetensors file. "
        "Without --output, only describe the file.",
    )
    p.add_argument("input", help="compressed file")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PATH",
        help="weights file to write: a PyTorch state_dict (.pth) or, for names ending in "
        ".safetensors, a safetensors file; without it, only describe the file",
    )
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..weights import save_state_dict
    from ..weights.sqz.fileformat import describe, read_state_dict

    info = describe(args.input)
    if args.output:
        save_state_dict(read_state_dict(args.input), args.output)
        info["output"] = args.output
    if args.json:
        print(json.dumps(info))
    else:
        print(
            f"{args.input}: {info['model']}, {info['params']:,} parameters "
            f"({info['nonzero'] / info['params']:.1%} non-zero) in {info['bytes']:,} bytes, "
            f"coder {info['coder']}" + (f" -> {args.output}" if args.output else "")
        )
    return 0
