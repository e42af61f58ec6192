"""``squeezenet decompress``: a compressed file back to a plain state_dict (.pth or
.safetensors)."""

from __future__ import annotations

import json
import os


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
        ".safetensors, a safetensors file",
    )
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..weights import save_state_dict
    from ..weights.sqz import fileformat
    from ..weights.sqz.codec import SharedTensor
    from ..weights.sqz.modeldesc import model_from_description

    cm = fileformat.load(args.input)
    state = cm.state_dict()
    # Check the architecture too: the state_dict must fit the model the header names.
    model_from_description(cm.model, {k: tuple(v.shape) for k, v in state.items()}, args.input)
    shared = [t for t in cm.tensors.values() if isinstance(t, SharedTensor)]
    params = sum(v.numel() for v in state.values())
    nonzero = sum(int((v != 0).sum()) for v in state.values())
    info = {
        "file": args.input,
        "bytes": os.path.getsize(args.input),
        "model": cm.model["name"],
        "coder": cm.coder,
        "tensors": len(state),
        "shared_tensors": len(shared),
        "params": params,
        "nonzero": nonzero,
        "meta": cm.meta,
    }
    if args.output:
        save_state_dict(state, args.output)
        info["output"] = args.output
    if args.json:
        print(json.dumps(info))
    else:
        print(
            f"{args.input}: {info['model']}, {params:,} parameters ({nonzero / params:.1%} "
            f"non-zero) in {info['bytes']:,} bytes, coder {cm.coder}"
            + (f" -> {args.output}" if args.output else "")
        )
    return 0
