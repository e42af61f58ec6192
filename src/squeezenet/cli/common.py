"""Options shared by several sub-commands: one spelling per concept (``-m/--model``,
``-w/--weights``, ``-d/--data``, ``-o/--output``, ``-b/--batch-size``, ``--device``,
``--threads``, ``--json``, ``--no-progress``, ``--calibration``)."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable, Iterable, Sequence

from .argtypes import (
    conv10_padding,
    device,
    finite_float,
    image_size,
    positive_int,
    threads,
    workers,
)


def flag(name: str) -> str:
    """The flag of setting ``name``: ``prune_rounds`` is ``--prune-rounds``."""
    return "--" + name.replace("_", "-")


def _shown(value: object) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def add_setting_flags(
    p: argparse.ArgumentParser,
    settings: Iterable[dataclasses.Field],
    parse: dict[str, Callable],
    presets: dict[str, dict],
    preset_flag: str,
    check_choices: bool = False,
    also: tuple[dict, str] = ({}, ""),
) -> None:
    """A flag for each config field in ``settings``, described by the field's metadata (see
    :func:`squeezenet.settings.setting`). Each defaults to None = "not given", so that only the
    flags a user sets override ``presets``; the help states the field's default, and that
    ``preset_flag`` may set it. Values are parsed by ``parse[name]``, else as a positive int,
    a float or a str by the field's type; ``check_choices``: argparse refuses other values
    (else the config does); ``also``: other defaults and when they apply (``({name: value},
    "when ...")``)."""
    for f in settings:
        text = re.sub(r"`(\w+)`", lambda m: flag(m.group(1)), f.metadata["help"])
        if "default" not in text and f.default is not None:
            shown = _shown(f.default)
            if f.name in also[0]:
                shown += f"; {_shown(also[0][f.name])} {also[1]}"
            given = any(f.name in values for values in presets.values())
            text += f" (default: {shown}{f'; a {preset_flag} may set it' if given else ''})"
        names = [f.metadata["short"], flag(f.name)] if f.metadata["short"] else [flag(f.name)]
        kind, choices = str(f.type).split(" | ")[0], f.metadata["choices"]
        if kind == "bool":
            p.add_argument(*names, action=argparse.BooleanOptionalAction, help=text)
            continue
        metavar = f.metadata.get("metavar") or (
            "{" + ",".join(choices) + "}" if choices else f.name.upper()
        )
        many = "Sequence[" in str(f.type)  # one value or several, the flag repeatable
        p.add_argument(
            *names,
            nargs="+" if many else None,
            action="extend" if many else "store",
            type=parse.get(f.name, {"int": positive_int, "float": finite_float}.get(kind, str)),
            choices=choices if check_choices else None,
            metavar=metavar,
            help=text,
        )


def add_output_arg(
    p: argparse.ArgumentParser, help: str, default: str | None = None, required: bool = False
) -> None:
    p.add_argument("-o", "--output", default=default, required=required, metavar="PATH", help=help)


def add_data_arg(p: argparse.ArgumentParser, help: str, required: bool = False) -> None:
    p.add_argument("-d", "--data", default=None, required=required, metavar="PATH", help=help)


def add_batch_size_arg(p: argparse.ArgumentParser, default: int | None, help: str) -> None:
    p.add_argument("-b", "--batch-size", type=positive_int, default=default, metavar="N", help=help)


def add_device_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--device",
        type=device,
        default="auto",
        help=f"where to {what}: auto (cuda if available, else cpu), cpu, cuda, cuda:N or mps",
    )


def printable(text: str) -> str:
    """``text`` with control characters (a newline in a file name) escaped, so that one
    result stays one line of output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def add_reading_args(
    p: argparse.ArgumentParser,
    *,
    batch_size: int,
    batch_help: str,
    workers: int,
    json: str,
    otherwise: str,
) -> None:
    """The options of a command that reads images in batches and scores them
    (:data:`READING_FLAGS` but ``--classes``, and ``--json``); ``otherwise``: see
    :func:`add_strict_arg`."""
    add_batch_size_arg(p, batch_size, batch_help)
    add_workers_arg(p, workers)
    add_decode_arg(p)
    add_precision_arg(p)
    add_json_arg(p, json)
    add_progress_arg(p)
    add_strict_arg(p, otherwise)


def add_compute_args(p: argparse.ArgumentParser, *, device: str, threads: str) -> None:
    """Where a command runs its model: ``--device`` (``device``: what it does there) and
    ``--threads`` (``threads``: its help)."""
    add_device_arg(p, device)
    add_threads_arg(p, threads)


def add_threads_arg(p: argparse.ArgumentParser, help: str, default: int | None = None) -> None:
    p.add_argument("--threads", type=threads, default=default, help=help)


def add_strict_arg(p: argparse.ArgumentParser, otherwise: str) -> None:
    """``--strict``; ``otherwise``: what becomes of an unreadable image without it."""
    p.add_argument(
        "--strict",
        action="store_true",
        help=f"stop at the first unreadable image (default: name it on stderr, {otherwise})",
    )


def add_report_args(
    p: argparse.ArgumentParser, what: str, flags: Sequence[str], metavar: str
) -> None:
    """A command that prints ``what`` as a table: ``flags`` also write it to a JSON file,
    ``--json`` prints it as JSON instead."""
    p.add_argument(
        *flags,
        default=None,
        metavar=metavar,
        help=f"also write {what} to this JSON file (default: none)",
    )
    add_json_arg(p, f"print {what} as one JSON object instead of the table")


def add_json_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_progress_arg(p: argparse.ArgumentParser) -> None:
    # One spelling with train, whose --progress/--no-progress is a setting.
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bars on stderr (default: on)",
    )


def add_workers_arg(p: argparse.ArgumentParser, default: int) -> None:
    p.add_argument(
        "--workers",
        type=workers,
        default=default,
        help="image-decoding worker processes (0 = decode in the main process)",
    )


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="arithmetic of the torch model (--backend torch): fp32 gives the exact scores; "
        "bf16 is about 1.5x as fast on CPUs with native bf16 (AVX512-BF16 or AMX) but "
        "changes predictions whose top classes are nearly tied, which moves top-1 by a few "
        "tenths of a point (torchvision's SqueezeNet 1.1 on 1,000 ImageNet photos: 652 "
        "correct in fp32, 649 in bf16); auto is bf16 where the CPU has it, else fp32",
    )


def add_calibration_args(
    p: argparse.ArgumentParser, help: str, size_default: int | None = 200
) -> None:
    """Calibration images: one spelling in compress, export, bench, predict and evaluate."""
    p.add_argument(
        "--calibration",
        nargs="+",
        action="extend",
        default=None,
        metavar="DIR|ZIP",
        help=help + " (several sources share the draw equally; a source with fewer images than "
        "its share gives them all)",
    )
    if size_default is not None:
        p.add_argument(
            "--calibration-size",
            type=positive_int,
            default=size_default,
            metavar="N",
            help="how many calibration images to draw (fixed seed); enough to set INT8 "
            "activation ranges (compress, which also fine-tunes on them, draws 512)",
        )


def add_model_args(p: argparse.ArgumentParser, weights_required: bool = False) -> None:
    from ..models import list_models

    p.add_argument(
        "-m",
        "--model",
        default=None,
        choices=list_models(),
        metavar="NAME",
        help="registered model name: "
        + ", ".join(list_models())
        + " (default: the model the weights file describes, as files written by `squeezenet "
        "train` and `compress` do, or its registered weights name implies; else squeezenet1_1)",
    )
    p.add_argument(
        "-w",
        "--weights",
        required=weights_required,
        default=None,
        help="registered weights name (see `squeezenet summary --list-weights`), a "
        "path (.pth state_dict/checkpoint, .safetensors, compressed .sqz file, Deep "
        "Compression .net; predict, evaluate and bench also run an exported .onnx, "
        "OpenVINO .xml, ExecuTorch .pte, LiteRT .tflite or ncnn .param (+ .bin) file in its "
        "runtime) "
        "or a URL (cached under $TORCH_HOME/hub/checkpoints, sha256-checked)"
        + ("" if weights_required else "; without it the model is randomly initialised"),
    )
    p.add_argument(
        "--conv10-padding",
        type=conv10_padding,
        default=None,
        metavar="P",
        help="override conv10's padding (1 = the original Caffe v1.0 network; default: the "
        "model's, 0 as in torchvision)",
    )
    add_model_arg_flag(p, "the weights were trained with")


def add_model_arg_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--model-arg",
        action="append",
        type=model_arg,
        default=None,
        metavar="KEY=VALUE",
        help=f"architecture override {what} (repeatable), e.g. sr=0.25 or bypass=simple; "
        "values are parsed as YAML (default: none, the architecture as the model name or the "
        "weights file describes it)",
    )
    # main() checks the flags against the chosen model once all are parsed (-m may come
    # after them) and reports a misfit as this parser's usage error.
    p.set_defaults(usage_error=p.error)


def model_arg(text: str) -> tuple[str, object]:
    """One ``--model-arg KEY=VALUE`` (argparse type): the value parsed as YAML."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expects KEY=VALUE, got {text!r}")
    try:
        return key, yaml.safe_load(value)
    except yaml.YAMLError as e:
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise argparse.ArgumentTypeError(
            f"{text!r}: the value is not valid YAML ({problem})"
        ) from None


def parse_model_args(items: list | None) -> dict:
    """``--model-arg`` flags (``(key, value)`` pairs, or ``KEY=VALUE`` strings) as a dict."""
    out = {}
    for item in items or ():
        key, value = model_arg(item) if isinstance(item, str) else item
        out[key] = value
    return out


def check_model_args(args: argparse.Namespace) -> str | None:
    """Why the ``--model-arg``/``--conv10-padding`` flags do not fit the chosen model, or
    None (``squeezenet train`` may name its model in its config: checked there)."""
    from ..models import DEFAULT_MODEL
    from ..models import check_model_args as check

    if not hasattr(args, "model"):
        return None
    name = args.model
    if name is None:
        if getattr(args, "weights", None) is not None:
            return None  # the weights file names the model: checked when it is read
        name = DEFAULT_MODEL
    flags = {"--model-arg": parse_model_args(getattr(args, "model_arg", None))}
    if getattr(args, "conv10_padding", None) is not None:
        flags["--conv10-padding"] = {"conv10_padding": args.conv10_padding}
    for flag, given in flags.items():
        try:
            check(name, given)
        except ValueError as e:
            return f"{flag}: {e}"
    return None


def add_preprocess_arg(p: argparse.ArgumentParser) -> None:
    from ..data import PRESETS

    p.add_argument(
        "--preprocess",
        choices=sorted(PRESETS),
        default=None,
        help="preprocessing preset; default: the one the weights file describes (files "
        "written by `squeezenet train` and `compress`) or its record names, 'caffe' for .net "
        "files, 'cifar' for 32x32 models, else 'torchvision'",
    )
    p.add_argument(
        "--image-size",
        type=image_size,
        default=None,
        metavar="PX",
        help="side of the square network input: the preprocessing's center crop (default: "
        "the preprocessing's own: 224 or 227 for the presets, 32 for CIFAR models, the "
        "trained size for files written by `squeezenet train`)",
    )


def add_decode_arg(p: argparse.ArgumentParser) -> None:
    from ..data import DECODE_MODES

    p.add_argument(
        "--decode",
        choices=DECODE_MODES,
        default="fast",
        help="fast: decode each JPEG at a reduced size (1/2, 1/4 or 1/8, by DCT scaling) "
        "when it stays at least as large as the preprocessing's resize, which changes "
        "pixels slightly and makes large photos much cheaper to decode; exact: decode every "
        "image in full (other formats always decode in full)",
    )


def model_flags(args: argparse.Namespace) -> dict:
    """``--conv10-padding`` and ``--model-arg``, as :func:`~squeezenet.api.open_model`'s
    keyword arguments."""
    return {
        "conv10_padding": getattr(args, "conv10_padding", None),
        "model_args": parse_model_args(getattr(args, "model_arg", None)),
    }


#: The flags that choose what runs a model and the input it takes, which are
#: :func:`~squeezenet.api.model_runner`'s keyword arguments of the same names.
RUNNER_FLAGS = (
    "backend",
    "device",
    "threads",
    "calibration",
    "calibration_size",
    "preprocess",
    "image_size",
)


#: The flags of commands that read images in batches and score them: keyword arguments of
#: :func:`~squeezenet.api.evaluate` and :func:`~squeezenet.api.predict` of the same names.
READING_FLAGS = ("classes", "batch_size", "workers", "decode", "precision", "strict", "progress")


def flag_values(args: argparse.Namespace, names: Sequence[str] = RUNNER_FLAGS) -> dict:
    """The values of the flags ``names`` (by their keyword names)."""
    return {name: getattr(args, name) for name in names}


def skipper(command: str, seen: list[str] | None = None) -> Callable[[str], None]:
    """What names a skipped file on stderr (one line, above any progress bar), keeping its
    message in ``seen``."""

    def skip(message: str) -> None:
        from tqdm import tqdm

        if seen is not None:
            seen.append(message)
        tqdm.write(f"squeezenet {command}: skipped {printable(message)}", file=sys.stderr)

    return skip


def model_from_args(args: argparse.Namespace, exported: bool = False):
    """:func:`~squeezenet.api.open_model` from -m, -w, --conv10-padding and --model-arg;
    ``args.model`` becomes the model built (the weights file's own when -m is left out)."""
    from ..api import open_model
    from ..weights import model_card

    model = open_model(args.model, args.weights, exported=exported, **model_flags(args))
    card = model_card(model)
    assert card is not None  # create_model and open_exported attach one
    args.model = card.architecture
    return model


def add_backend_arg(p: argparse.ArgumentParser) -> None:
    from ..deploy import BACKENDS

    runtimes = "; ".join(f"{n}: {i.help}" for n, i in BACKENDS.items())
    text = (
        f"inference runtime: {runtimes} (see docs/deployment.md; onnxruntime/openvino need "
        "their extras; default: torch, or for an exported -w file the runtime its format is "
        "for: onnxruntime for .onnx, openvino for .xml, executorch for .pte, litert for "
        ".tflite, ncnn for .param)"
    )
    p.add_argument("--backend", choices=list(BACKENDS), default=None, help=text)
    add_calibration_args(
        p,
        "calibration images for the -int8 backends, which refuse to run without them: an "
        "image folder or a zip of images, apart from the images you score",
    )
    add_compute_args(
        p,
        device="run the model (--backend torch)",
        threads="inference threads (default: the runtime's own choice)",
    )
