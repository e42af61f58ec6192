"""Inference latency/throughput of every backend vs torchvision's eager squeezenet1_1.

A thin wrapper so that the speed figures in docs/results/speed.md come from a script in
benchmarks/; it runs ``squeezenet bench`` (interleaved rounds, medians, torchvision baseline row
in the same run) with the arguments given, e.g.

    python benchmarks/inference_speed.py -w squeezenet1_1.tv_in1k \\
        --calibration cifar10-jpg.zip [--json]
"""

import sys

from squeezenet.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
