"""Decode time of compressed SqueezeNet 1.1 files (issue target: <= 100 ms).

Builds the files once (post-training pruning + weight sharing, no fine-tuning: speed does
not depend on accuracy), then times, in interleaved rounds, reading each into a state_dict:
the fp32 ``.pth`` baseline (torch.load, weights_only), the ANS file and the Huffman file.
Reports medians. Run:  python benchmarks/decode_speed.py [-w WEIGHTS] [--rounds 15]
(WEIGHTS: default $SQUEEZENET_SHARED/weights/squeezenet1_1-fp16.pth when that variable is set,
else the registered squeezenet1_1.tv_in1k, downloaded once).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from squeezenet import create_model
from squeezenet.compress.pipeline import CompressConfig, compress
from squeezenet.weights import read_state_dict
from squeezenet.weights.sqz import fileformat


def main() -> None:
    shared = os.environ.get("SQUEEZENET_SHARED")
    default = "squeezenet1_1.tv_in1k"
    if shared:
        default = str(Path(shared) / "weights" / "squeezenet1_1-fp16.pth")
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "-w",
        "--weights",
        default=default,
        help="SqueezeNet 1.1 weights: registered name, path or URL",
    )
    p.add_argument("--prune", default="paper", help="as `squeezenet compress --prune`")
    p.add_argument("--bits", default="6", help="as `squeezenet compress --bits`")
    p.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp())
    files = {"fp32 .pth (torch.load)": tmp / "dense.pth"}
    model = create_model("squeezenet1_1", weights=args.weights)
    torch.save(model.state_dict(), files["fp32 .pth (torch.load)"])
    for coder in ("ans", "huffman"):
        m = create_model("squeezenet1_1", weights=args.weights)
        cm, _ = compress(
            m, "squeezenet1_1", CompressConfig(prune=args.prune, bits=args.bits, coder=coder)
        )
        files[f"compressed, {coder}"] = tmp / f"{coder}.sqz"
        fileformat.save(cm, files[f"compressed, {coder}"])
    times: dict[str, list[float]] = {k: [] for k in files}
    for _ in range(args.rounds):
        for name, path in files.items():
            t = time.perf_counter()
            read_state_dict(path)
            times[name].append(time.perf_counter() - t)
    print(
        f"SqueezeNet 1.1, prune={args.prune}, bits={args.bits}; {args.rounds} interleaved "
        f"rounds, torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name, path in files.items():
        print(
            f"  {name:<24} {path.stat().st_size:>10,} bytes  median "
            f"{1000 * statistics.median(times[name]):7.1f} ms  min "
            f"{1000 * min(times[name]):7.1f} ms"
        )


if __name__ == "__main__":
    main()
