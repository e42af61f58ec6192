"""The checks of a model description's preprocessing entry that need no torch: ``ModelInfo``
and the torch-free runtime (:mod:`squeezenet.lite`) read untrusted files by the same rule."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

PREPROCESS_KEYS = ("name", "resize", "crop", "mean", "std", "bgr", "scale")
# Twice the largest network input the CLI takes (1024): a resize of 8192 made each photo
# 89M pixels, which then failed as if the photo were unreadable.
_MAX_SIDE = 2048


def check_preprocess(d: object, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The checked values of a description's ``preprocess`` entry (``mean`` and ``std`` as
    tuples, ``scale`` as a float); raises ``fail(problem)`` otherwise."""
    if not isinstance(d, dict) or sorted(d) != sorted(PREPROCESS_KEYS):
        raise fail(f"'preprocess' must hold exactly {', '.join(PREPROCESS_KEYS)}")
    name, resize, crop, bgr, scale = d["name"], d["resize"], d["crop"], d["bgr"], d["scale"]
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise fail("preprocess 'name' must be a short string")
    for key, side in (("resize", resize), ("crop", crop)):
        if type(side) is not int or not 1 <= side <= _MAX_SIDE:
            raise fail(f"preprocess {key!r} must be an integer in [1, {_MAX_SIDE}]")
    if crop > resize:
        raise fail(f"preprocess crop {crop} is larger than its resize {resize}")
    if type(bgr) is not bool:
        raise fail("preprocess 'bgr' must be true or false")
    stats = []
    for key in ("mean", "std"):
        values = d[key]
        if not (
            isinstance(values, list)
            and len(values) == 3
            and all(_finite(v) for v in values)
            and (key == "mean" or all(v > 0 for v in values))
        ):
            raise fail(f"preprocess {key!r} must be 3 finite numbers" + (", > 0" * (key == "std")))
        a, b, c = (float(v) for v in values)
        stats.append((a, b, c))
    if not _finite(scale) or not scale > 0:
        raise fail("preprocess 'scale' must be a finite number > 0")
    return {
        "name": name,
        "resize": resize,
        "crop": crop,
        "mean": stats[0],
        "std": stats[1],
        "bgr": bgr,
        "scale": float(scale),
    }


def _finite(value: object) -> bool:
    return type(value) in (int, float) and abs(value) < 1e6 and math.isfinite(value)  # type: ignore[arg-type]
