"""``squeezenet compress``: Deep Compression of a model's weights into one small file."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import Field, fields
from functools import cache

from .argtypes import (
    bits_spec,
    non_negative_float,
    non_negative_int,
    positive_float,
    prune_spec,
    seed,
)
from .common import (
    add_device_arg,
    add_model_args,
    add_output_arg,
    add_preprocess_arg,
    add_progress_arg,
    add_report_args,
    add_setting_flags,
    flag_values,
    model_flags,
    model_from_args,
)


@cache
def _settings() -> dict[str, Field]:
    """The library's settings, which are these flags (those with a help text); imported when
    the command is built, not with the module, as they import PyTorch."""
    from ..compress import CompressConfig, FineTuneData

    return {
        f.name: f
        for c in (CompressConfig, FineTuneData)
        for f in fields(c)
        if f.metadata.get("help")
    }


# How a flag's text becomes its field's value, where a plain int or str would admit values the
# field cannot take (a usage error then names the flag); other ints are positive.
_PARSE = {
    "prune": prune_spec,
    "finetune_steps": non_negative_int,
    "codebook_steps": non_negative_int,
    "seed": seed,
    "bits": bits_spec,
    "lr": positive_float,
    "codebook_lr": positive_float,
    "adaround_lr": positive_float,
    "distill_temperature": positive_float,
    "grid_scale": positive_float,
    "adaround_regularizer": non_negative_float,
    "weight_decay": non_negative_float,
}


def _flags(values: dict) -> str:
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in values.items())


# The line `squeezenet --help` shows for the command.
SUMMARY = "prune, weight-share and entropy-code weights into a compressed file"
# What `squeezenet COMMAND --help` says of the command.
DESCRIPTION = (
    "Deep Compression (Han et al., 2016): magnitude pruning, k-means weight "
    "sharing and entropy coding, with optional fine-tuning after each stage: retraining "
    "with labels on the model's training data (--data, as in the paper) or, "
    "without labels, distillation from the uncompressed model on unlabeled calibration "
    "images (--calibration). The output is read back by every command that takes --weights, "
    "and by `squeezenet decompress`."
)


def register(p: argparse.ArgumentParser) -> None:
    from ..compress import COMPRESS_PRESETS, PRESET_SUMMARY

    add_model_args(p, weights_required=True)
    add_output_arg(p, "compressed file to write (.sqz)", required=True)
    p.add_argument(
        "--lossless",
        action="store_true",
        help="re-encode weights that are already pruned and weight-shared (e.g. "
        "Han's .net file) exactly; ignores the pruning/quantization options",
    )
    p.add_argument(
        "--preset",
        choices=sorted(COMPRESS_PRESETS),
        help="named settings (flags given override them): "
        + "; ".join(
            f"'{name}' = {_flags(values)} ({PRESET_SUMMARY[name]})"
            for name, values in COMPRESS_PRESETS.items()
        )
        + " (default: gptq with --calibration and no --data, else paper)",
    )
    p.add_argument(
        "--allow-collapse",
        action="store_true",
        help="write the file even when the compressed model has lost more than half of its "
        "accuracy above chance (or, scored by no labels, agrees with the uncompressed model "
        "on fewer calibration images than halfway between chance and all); without it such "
        "a run writes nothing and exits with status 1",
    )
    add_setting_flags(
        p, _settings().values(), _PARSE, COMPRESS_PRESETS, "--preset", check_choices=True
    )
    p.add_argument(
        "--eval",
        default=None,
        metavar="DIR",
        help="labelled images to score after every stage (see `evaluate`) (default: --data's "
        "held-out split, if --data is given; else no scores)",
    )
    p.add_argument(
        "--classes",
        default=None,
        metavar="FILE",
        help="class list for --eval (default: as in `evaluate`)",
    )
    add_preprocess_arg(p)
    add_report_args(p, "the stage/layer report", ["--report"], "JSON")
    add_device_arg(p, "fine-tune and score")
    add_progress_arg(p)
    p.set_defaults(func=run)


def settings(args) -> dict:
    """The library settings given as flags (the flags are the settings' names)."""
    given = {k: v for k, v in vars(args).items() if k in _settings() and v is not None}
    return given | ({"progress": False} if not args.progress else {})


#: Flags that are :func:`squeezenet.api.compress`'s keyword arguments of the same names.
_CALL_FLAGS = ("preset", "preprocess", "image_size", "device", "classes", "allow_collapse")


def run(args) -> int:
    from pathlib import Path

    from ..api import compress
    from ..compress import CompressionCollapsed
    from ..files import check_not_input, make_folder, write_text

    make_folder(Path(args.output).absolute().parent)  # fail now, not after minutes of work
    read = {"-w file": args.weights, "--classes file": args.classes}
    check_not_input(args.output, read)
    if args.report:
        check_not_input(args.report, {**read, "-o file": args.output}, "--report")
    if args.lossless:
        return _lossless(args)
    try:
        size, report = compress(
            args.weights,
            args.output,
            args.model,
            eval_dir=args.eval,
            log=lambda line: print(line, file=sys.stderr),
            **model_flags(args),
            **flag_values(args, _CALL_FLAGS),
            **settings(args),
        )
    except CompressionCollapsed as e:
        print(e.report.format(), file=sys.stderr)
        print(
            f"squeezenet compress: error: {e}; check that the calibration images or --data "
            "look like the model's own (its preprocessing: "
            f"{e.preprocess.name}, {e.preprocess.crop} px), or pass --allow-collapse to keep it",
            file=sys.stderr,
        )
        return 1
    summary = {**report.to_dict(), "file_bytes": size, "output": args.output}
    print(json.dumps(summary) if args.json else report.format())
    print(f"wrote {args.output}: {size:,} bytes", file=sys.stderr)
    if args.report:
        write_text(args.report, json.dumps({**summary, "command": sys.argv}, indent=1))
    return 0


def _lossless(args) -> int:
    """``--lossless``: the weights as they are, entropy-coded."""
    from ..compress import compress_lossless, default_coder
    from ..engine import resolve_device
    from ..weights import preprocess_for

    model = model_from_args(args).to(resolve_device(args.device))
    preprocess = preprocess_for(args.model, model, args.preprocess, args.image_size)
    coder = args.coder or default_coder()
    size, original = compress_lossless(
        model, args.model, args.weights, args.output, coder, preprocess
    )
    print(
        f"{args.output}: {size:,} bytes (source {original:,} bytes, "
        f"{original / size:.2f}x), lossless, coder {coder}"
    )
    return 0
