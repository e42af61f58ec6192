"""The ``squeezenet`` command line: each sub-command lives in its own module here and exposes
``SUMMARY`` (its line in ``squeezenet --help``), ``DESCRIPTION`` (what its own ``--help``
says of it) and ``register(parser)``, which adds its options; the CLI only
parses arguments into library calls. The modules import the library (and so PyTorch) only in
``register`` and in the functions that run a command, so ``squeezenet --help``, ``--version``
and a mistyped command answer without loading PyTorch."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterable

# Sub-command modules, in the order --help lists them.
COMMANDS = [
    "demo",
    "predict",
    "evaluate",
    "train",
    "summary",
    "compress",
    "sensitivity",
    "decompress",
    "export",
    "bench",
    "explore",
    "report",
]


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """States each option's default once: argparse's default is shown unless it is None
    ("not given": the help says what applies then), the option is an on/off switch (off
    unless given) or the help already names the default."""

    def _get_help_string(self, action):
        switch = action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction)
        if action.default is None or switch or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)

    def add_argument(self, action):
        super().add_argument(action)
        # argparse measures the sub-command names at their parent's indent, though it prints
        # them one step further in, and so puts the longest names' help on a line of their own.
        subactions = list(self._iter_indented_subactions(action))
        if subactions and action.help is not argparse.SUPPRESS:
            longest = max(len(self._format_action_invocation(a)) for a in subactions)
            width = longest + self._current_indent + self._indent_increment
            self._action_max_length = max(self._action_max_length, width)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command, or, given ``commands``, of those only: the others are
    listed with their one-line help, as ``squeezenet --help`` shows them, but take no
    options. A command's options come from the library (the choices of ``--format``,
    ``--preset``, ...), which imports PyTorch; :func:`main` builds only the command given."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="squeezenet",
        description="SqueezeNet and Deep Compression: models, pretrained weights, "
        "evaluation, training and compression.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        help="one of these; `squeezenet COMMAND --help` lists its options",
    )
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        p = sub.add_parser(name, help=module.SUMMARY, formatter_class=_Formatter)
        if commands is None or name in commands:
            p.description = module.DESCRIPTION
            module.register(p)
    return parser


def _command(argv: list[str]) -> str | None:
    """The sub-command ``argv`` names: its first word that is not an option (the top level
    has no option that takes a value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _passive_openmp_for_ncnn(argv: list[str]) -> None:
    """ncnn brings an OpenMP runtime of its own beside PyTorch's, and in one process the idle
    worker threads of each spin for the CPU while the other computes: both ran 2-30x slower
    (export's check runs PyTorch and ncnn in turn). ``OMP_WAIT_POLICY=PASSIVE`` makes idle
    threads sleep instead, but each runtime reads it once, when it loads: so a command that
    mentions ncnn (``-f ncnn``, ``--backend ncnn``, a ``.param`` file) sets it here, before
    anything imports torch, unless the user chose a policy. Any other command is left as is."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules:
        return
    if any("ncnn" in a.lower() or a.lower().endswith(".param") for a in argv):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _passive_openmp_for_ncnn(argv)
    args = build_parser([_command(argv) or ""]).parse_args(argv)
    # A command's own refusal of its flags (``refuse``, set by the command), said before the
    # library and PyTorch load: seconds, or minutes for a large export, saved on a typo.
    problem = args.refuse(args) if hasattr(args, "refuse") else None
    if problem:
        print(f"squeezenet {args.command}: error: {problem}", file=sys.stderr)
        return 2

    from ..data import DatasetError, ImageError
    from ..settings import SettingError
    from ..weights import WeightsError
    from .common import check_model_args

    problem = check_model_args(args)
    if problem:
        args.usage_error(problem)  # exits with status 2, as argparse does
    try:
        return int(args.func(args) or 0)
    except SettingError as e:
        # The library names its settings; here they are the flags of the same name.
        flag = e.cited_as(lambda name: "--" + name.replace("_", "-"))
        print(f"squeezenet {args.command}: error: {flag}", file=sys.stderr)
        return 2
    except (WeightsError, ImageError, DatasetError, ValueError, OSError) as e:
        # Expected, user-facing failures: one clear line, no traceback. OSError covers
        # OutputError (a result that cannot be written) and unreadable inputs; both name
        # the path.
        print(f"squeezenet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"squeezenet {args.command}: interrupted", file=sys.stderr)
        return 130
