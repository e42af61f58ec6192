"""``squeezenet report``: the paper-style markdown report with plots."""

from __future__ import annotations

import argparse
from pathlib import Path

# The line `squeezenet --help` shows for the command.
SUMMARY = "render the paper-style report (Tables 1-3, Figure 3 analogs) as markdown + PNG"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Render a markdown report with PNG plots from the results other commands "
    "wrote: explore.csv (squeezenet explore), compression.json (squeezenet compress) and "
    "cifar10.json (squeezenet train), with the paper's published numbers beside ours. "
    "Sections whose input file is missing say so."
)


def register(p: argparse.ArgumentParser) -> None:
    from .common import add_output_arg

    p.add_argument(
        "--results",
        default="squeezenet-explore",
        metavar="DIR",
        help="folder holding explore.csv (and optionally compression.json, cifar10.json) "
        "(default: squeezenet-explore, where `squeezenet explore` writes)",
    )
    add_output_arg(p, "folder to write README.md and its PNG plots into", "squeezenet-report")
    p.add_argument(
        "--han-net",
        default=None,
        metavar="PATH",
        help="Deep Compression release (compressed_SqueezeNet.net), to measure its "
        "per-layer density for Table 1 (column left out without it)",
    )
    p.add_argument(
        "--sweep",
        default=None,
        metavar="CSV",
        help="the sweep to report, an explore.csv written by `squeezenet explore` (or its "
        "--csv copy, e.g. docs/results/explore-imagenette.csv) (default: RESULTS/explore.csv)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ..explore import render_report

    if not Path(args.results).is_dir():
        raise ValueError(f"{args.results}: --results is not a folder (no such folder)")
    output = Path(args.output)
    if output.suffix.lower() == ".md":  # a markdown file named directly (the --out form)
        path = render_report(args.results, output, args.han_net, args.sweep)
    else:
        path = render_report(args.results, output / "README.md", args.han_net, args.sweep)
    print(f"wrote {path}")
    return 0
