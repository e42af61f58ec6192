"""``squeezenet report``: the paper-style markdown report with plots."""

from __future__ import annotations

import os
from pathlib import Path


def register(sub, formatter) -> None:
    p = sub.add_parser(
        "report",
        formatter_class=formatter,
        help="render the paper-style report (Tables 1-3, Figure 3 analogs) as markdown + PNG",
        description="Render a markdown report with PNG plots from the results other commands "
        "wrote: explore.csv (squeezenet explore), compression.json (squeezenet compress) and "
        "cifar10.json (squeezenet train), with the paper's published numbers beside ours.",
    )
    p.add_argument(
        "--results",
        default="docs/results",
        help="folder holding explore.csv, compression.json, cifar10.json",
    )
    p.add_argument(
        "--out",
        "-o",
        default="docs/report/README.md",
        help="markdown file to write; plots go beside it",
    )
    p.add_argument(
        "--han-net",
        default=str(
            Path(os.environ.get("SQUEEZENET_SHARED", "../shared"))
            / "weights"
            / "deep-compression"
            / "compressed_SqueezeNet.net"
        ),
        help="Deep Compression release, to measure its per-layer density for Table 1 "
        "(skipped if absent)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..explore.tables import render_report

    path = render_report(args.results, args.out, args.han_net)
    print(f"wrote {path}")
    return 0
