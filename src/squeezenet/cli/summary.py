"""``squeezenet summary``: parameters, fp32 size, MACs and size vs AlexNet per model."""

from __future__ import annotations

import argparse
import json

# The line `squeezenet --help` shows for the command.
SUMMARY = "parameters, size, MACs and size ratio vs AlexNet for each model"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Print, for each registered model (or those named), its parameter count, "
    "fp32 size in MiB, multiply-accumulates at its default input size and how many times "
    "smaller than AlexNet it is: the columns of the SqueezeNet paper's Tables 1 and 2."
)


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="models to list (default: every registered architecture)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument(
        "--list-weights",
        action="store_true",
        help="list the registered pretrained weights (names for -w/--weights) instead",
    )
    p.set_defaults(func=run)


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'model':<30} {'params':>12} {'fp32 MiB':>9} {'input':>6} {'MMACs':>9} {'vs AlexNet':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<30} {r['params']:>12,} {r['size_mib_fp32']:>9.2f} "
            f"{r['input_size']:>6} {r['macs'] / 1e6:>9.1f} {r['alexnet_size_ratio']:>10.1f}x"
        )
    return "\n".join(lines)


def _weights_rows() -> list[dict]:
    from ..weights import get_weights_record, list_weights

    rows = []
    for name in list_weights():
        r = get_weights_record(name)
        rows.append(
            {
                "weights": name,
                "model": r.model,
                "preprocess": r.preprocess,
                "input_size": r.input_size,
                "metrics": r.metrics,
                "source": r.url or f"packaged with squeezenet ({r.filename})",
                "license": r.license,
            }
        )
    return rows


def run(args) -> int:
    if args.list_weights:
        rows = _weights_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            for r in rows:
                metrics = "; ".join(
                    f"{d}: top-1 {m['top1']}%, top-5 {m['top5']}%" for d, m in r["metrics"].items()
                )
                print(f"{r['weights']:<30} {r['preprocess']:<12} {metrics}\n    {r['source']}")
        return 0
    from ..summary import summarize_all

    rows = summarize_all(args.models or None)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0
