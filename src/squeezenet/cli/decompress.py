"""``squeezenet decompress``: a compressed file back to a plain PyTorch state_dict."""

from __future__ import annotations

import json
import os
import tempfile


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "decompress",
        formatter_class=formatter,
        help="decode a compressed file into a PyTorch state_dict (.pth)",
        description="Decode a file written by `squeezenet compress` (every tensor is "
        "checked) and save its weights as a plain state_dict loadable with "
        "torch.load(..., weights_only=True). Without --output, only describe the file.",
    )
    p.add_argument("input", help="compressed file")
    p.add_argument("--output", "-o", default=None, help="state_dict (.pth) to write")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from ..compress import fileformat
    from ..compress.codec import SharedTensor
    from ..compress.modeldesc import build_model

    cm = fileformat.load(args.input)
    state = cm.state_dict()
    # Check the architecture too: the state_dict must fit the model the header names.
    build_model(cm.model, {k: tuple(v.shape) for k, v in state.items()}, args.input)
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
        folder = os.path.dirname(os.path.abspath(args.output))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(state, tmp)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, args.output)
        except BaseException:
            os.unlink(tmp)
            raise
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
