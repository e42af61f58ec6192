"""Per-layer pruning sensitivity of a trained model, and a --prune profile chosen from it.

Kept so that recorded commands still run: the same as ``squeezenet sensitivity`` (see its
``--help``)::

    python scripts/prune_sensitivity.py --config configs/cifar10-fast.yaml \\
        --weights runs/cifar10/model.pth --budget 138000 --bits 'fire6.*=4,fire7.*=4,...,*=6' \\
        -o sensitivity.json
"""

from __future__ import annotations

import sys

from squeezenet.cli import main

if __name__ == "__main__":
    sys.exit(main(["sensitivity", *sys.argv[1:]]))
