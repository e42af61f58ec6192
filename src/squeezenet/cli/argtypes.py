"""argparse value types for counts and sizes: out-of-range values are usage errors."""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _int_at_least(low: int, what: str, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value

    parse.__name__ = "int"  # argparse names the type in its messages
    return parse


def float_in(low: float, high: float, *, low_open: bool = False, high_open: bool = False):
    """A float in [low, high] (``low_open``/``high_open``: the bound itself excluded)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    what = f"a number in {lo}{low:g}, {high:g}{hi}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high or value != value:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = "float"
    return parse


positive_int = _int_at_least(1, "a positive integer")
non_negative_int = _int_at_least(0, "0 or more")
# Every seed is used by torch and numpy, whose legacy seeding takes 32 bits.
seed = _int_at_least(0, f"in [0, {2**32 - 1}]", 2**32 - 1)
# Threads and worker processes beyond this machine's CPUs only add contention: a
# million threads ran out of memory after a minute and blamed a good image for it.
CPUS = os.cpu_count() or 1
threads = _int_at_least(1, f"in [1, {CPUS}] (this machine's CPUs)", CPUS)
workers = _int_at_least(0, f"in [0, {CPUS}] (this machine's CPUs)", CPUS)
# conv10's padding grows its output map, and with it the memory a forward pass needs: the
# Caffe release uses 1.
conv10_padding = _int_at_least(0, "in [0, 16]", 16)
# A network input side: the preprocessing's resize allocates (side * 256/224)**2 pixels
# per image, so a huge side is refused before any image is read.
MAX_IMAGE_SIZE = 1024
image_size = _int_at_least(1, f"in [1, {MAX_IMAGE_SIZE}]", MAX_IMAGE_SIZE)


# torch's ONNX exporter builds opset-18 graphs; converting one down failed, or kept 18.
MIN_OPSET = 18


def opset(text: str) -> int:
    """An ONNX opset the exporter writes: from :data:`MIN_OPSET` to the newest the installed
    onnx package knows."""
    try:
        import onnx

        newest: int | None = onnx.defs.onnx_opset_version()
    except ImportError:  # export says which extra it needs
        newest = None
    what = f"in [{MIN_OPSET}, {newest}]" if newest else f"{MIN_OPSET} or more"
    return _int_at_least(MIN_OPSET, what, newest)(text)


opset.__name__ = "int"


def _usage_errors(name: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """An argparse type from a library parser: its ValueError is a usage error that names the
    value, and argparse calls the type ``name`` in its messages. The parsers import the library
    (and PyTorch) when called, not when the CLI starts."""

    def wrap(parse: Callable[[str], T]) -> Callable[[str], T]:
        @functools.wraps(parse)
        def checked(text: str) -> T:
            try:
                return parse(text)
            except ValueError as e:
                raise argparse.ArgumentTypeError(str(e)) from None

        checked.__name__ = name
        return checked

    return wrap


@_usage_errors("shard")
def shard(text: str) -> tuple[int, int]:
    """``K/N`` with 0 <= K < N (``squeezenet explore --shard``)."""
    from ..explore import parse_shard

    return parse_shard(text)


@_usage_errors("prune")
def prune_spec(text: str) -> str:
    """A ``--prune`` value (a density, 'paper', 'none' or 'pattern=density,...'), kept as
    given; out-of-range densities and non-numbers are usage errors naming the value."""
    from ..pruning import parse_prune

    parse_prune(text)
    return text


@_usage_errors("bits")
def bits_spec(text: str) -> str:
    """A ``--bits`` value (one width, or 'pattern=bits,...'), kept as given; widths must be
    integers in [1, 16]."""
    from ..compress import parse_bits

    parse_bits(text)
    return text


def density_list(text: str) -> list[float]:
    """Comma-separated densities, each in (0, 1]."""
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a number") from None
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"densities must be in (0, 1], got {part.strip()}")
        values.append(value)
    return values


density_list.__name__ = "densities"
positive_float = float_in(0, float("inf"), low_open=True, high_open=True)
non_negative_float = float_in(0, float("inf"), high_open=True)
# Any finite number: the default for float settings, so that nan and inf never reach a run.
finite_float = float_in(float("-inf"), float("inf"), low_open=True, high_open=True)


@_usage_errors("device")
def device(text: str) -> str:
    """A ``--device`` value whose spelling is valid (auto, cpu, cuda, cuda:N, mps); whether
    the device exists is checked when it is used."""
    from ..devices import check_device

    check_device(text)
    return text
