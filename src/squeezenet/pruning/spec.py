"""What to prune and how much: density profiles, their parsing and per-layer resolution."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar, overload

from torch import nn

from ..models.fire import Fire

# SqueezeNet paper Table 1, "sparsity" column (the fraction of weights kept after Deep
# Compression; Han's released file has exactly these densities): conv1 dense; expand 3x3 at
# 33%, 30% in fire8 and fire9; the 1x1 layers the paper halves at 50% (fire6 and fire8
# expand 1x1, fire7 and fire9 squeeze); conv10 at 20%; everything else dense. Keys are
# wildcard patterns over parameter names or their paper aliases (fire_aliases); first match
# wins.
SQUEEZENET_PROFILE: dict[str, float] = {
    "fire8.expand3x3.weight": 0.30,
    "fire9.expand3x3.weight": 0.30,
    "fire*.expand3x3.weight": 0.33,
    "fire6.expand1x1.weight": 0.5,
    "fire8.expand1x1.weight": 0.5,
    "fire7.squeeze.weight": 0.5,
    "fire9.squeeze.weight": 0.5,
    "classifier.*.weight": 0.20,
}


PROFILES: dict[str, float | dict[str, float]] = {"paper": SQUEEZENET_PROFILE, "none": 1.0}


def parse_prune(spec: str | float | dict) -> float | dict:
    """``paper``, ``none``, a density ``0.4`` or ``pattern=density,...``; ValueError (naming
    the value given) for anything else, or a density outside (0, 1]."""
    if isinstance(spec, str) and spec in PROFILES:
        return PROFILES[spec]
    try:
        if isinstance(spec, (int, float, dict)):
            parsed: float | dict = spec
        elif "=" in spec:
            parts = (part.partition("=") for part in spec.split(","))
            parsed = {p.strip(): float(d) for p, _, d in parts}
        else:
            parsed = float(spec)
    except (TypeError, ValueError):
        parsed = None  # type: ignore[assignment]  # reported below
    values = list(parsed.values()) if isinstance(parsed, dict) else [parsed]
    if parsed is None or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in values
    ):
        raise ValueError(
            "densities must be in (0, 1]: give a density, 'paper', 'none' or "
            f"'pattern=density,...', got {spec!r}"
        )
    return parsed


def fire_aliases(model: nn.Module) -> dict[str, str]:
    """Map parameter names to paper names (features.3.squeeze.weight -> fire2.squeeze.weight)
    so profiles can say ``fire8`` whatever the layer indices of the variant."""
    aliases = {}
    fire_i = 2
    for name, module in model.named_modules():
        if isinstance(module, Fire):
            for pname, _ in module.named_parameters():
                aliases[f"{name}.{pname}"] = f"fire{fire_i}.{pname}"
            fire_i += 1
    return aliases


def _match(pattern: str, name: str) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*")
    return re.fullmatch(regex, name) is not None


V = TypeVar("V", bound=float)  # a density (float) or a bit width (int)
D = TypeVar("D", bound="float | None")  # the value of layers no pattern matches


@overload
def resolve_per_layer(
    model: nn.Module,
    profile: Mapping[str, float] | float,
    names: list[str],
    *,
    require_match: bool = ...,
) -> dict[str, float]: ...
@overload
def resolve_per_layer(
    model: nn.Module,
    profile: Mapping[str, V] | V,
    names: list[str],
    default: D,
    require_match: bool = ...,
) -> dict[str, V | D]: ...
def resolve_per_layer(
    model: nn.Module,
    profile: Mapping[str, Any] | float,
    names: list[str],
    default: float | None = 1.0,
    require_match: bool = False,
) -> dict[str, Any]:
    """Per-parameter value (a density, or a bit width for quantization) from a profile: a
    number applies to all, a {pattern: value} dict gives the first matching pattern's value
    (names or fire aliases), else ``default``. With ``require_match`` (a profile the user
    wrote), a pattern that matches no parameter is a ValueError: a typo would otherwise
    silently leave every layer at ``default``."""
    if isinstance(profile, (int, float)):
        return {n: profile for n in names}
    aliases = fire_aliases(model)
    out: dict[str, Any] = {}
    for n in names:
        alias = aliases.get(n, n)
        for pattern, density in profile.items():
            if _match(pattern, n) or _match(pattern, alias):
                out[n] = density
                break
        else:
            out[n] = default
    if require_match:
        for pattern in profile:
            if not any(_match(pattern, n) or _match(pattern, aliases.get(n, n)) for n in names):
                like = [names[0], *sorted(set(aliases.values()))[:1], names[-1]]
                raise ValueError(
                    f"pattern {pattern!r} matches no layer of the model (its layers are named "
                    f"like {', '.join(like)})"
                )
    return out


def prunable(model: nn.Module) -> list[str]:
    """Names of conv / linear weights (biases are never pruned: they are few)."""
    return [
        f"{name}.weight"
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]


def target_densities(model: nn.Module, prune: str | float | dict) -> dict[str, float]:
    """The density each prunable weight is to reach under a ``--prune`` value."""
    # A profile written by the user must match; 'paper' names every SqueezeNet's layers.
    written = isinstance(prune, dict) or (isinstance(prune, str) and "=" in prune)
    return resolve_per_layer(model, parse_prune(prune), prunable(model), require_match=written)
