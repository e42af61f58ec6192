"""The vocabulary the config dataclasses share with the CLI: a field's name is its flag
(``prune_rounds`` is ``--prune-rounds``), a field describes itself once in its metadata
(help, allowed values, short flag), and errors name fields, which the CLI shows as flags."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
V = TypeVar("V")


class SettingError(ValueError):
    """A setting, or a combination of settings, that cannot work. The message cites each of
    ``settings`` (field names) as `name`; the CLI rewrites those as its flags."""

    def __init__(self, message: str, *settings: str) -> None:
        super().__init__(message)
        self.settings = settings

    def cited_as(self, spell) -> str:
        """The message with each `setting` spelled by ``spell(name)`` (e.g. as a flag)."""
        text = str(self)
        for name in self.settings:
            text = text.replace(f"`{name}`", spell(name))
        return text


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    choices: tuple | None = None,
    short: str | None = None,
    metavar: str | None = None,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A config field with its description: ``help`` (citing other settings as `name`), the
    ``choices`` allowed (checked by :func:`check_choices`), the CLI's ``short`` flag and
    ``metavar`` (what its value is); ``factory`` makes the default when it is not a constant."""
    meta = {"help": help, "choices": choices, "short": short, "metavar": metavar}
    return dataclasses.field(default=default, default_factory=factory, metadata=meta)


def check_choices(config: object) -> None:
    """Every field that declares its allowed values holds one of them."""
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        allowed, value = f.metadata.get("choices"), getattr(config, f.name)
        if allowed and value not in allowed:
            raise SettingError(f"`{f.name}` must be one of {allowed}, got {value!r}", f.name)


def check_finite(config: object) -> None:
    """Every number setting is finite: NaN passes every range comparison (``nan <= 0`` is
    False), and a NaN learning rate trained a model of NaNs to "100%"."""
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingError(f"`{f.name}` must be a finite number, got {value}", f.name)


def with_preset(cls: type[T], presets: dict[str, dict], preset: str | None, **settings) -> T:
    """A ``cls`` config: its defaults, then the named preset's values for its fields, then
    ``settings`` (explicit values win; ``None`` means not given)."""
    if preset is not None and preset not in presets:
        raise SettingError(f"unknown `preset` {preset!r}; choose from {sorted(presets)}", "preset")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    chosen = {k: v for k, v in presets.get(preset or "", {}).items() if k in names}
    chosen.update((k, v) for k, v in settings.items() if v is not None)
    return cls(**chosen)


def named(table: Mapping[str, V], name: str, unknown: Callable[[], str]) -> V:
    """``table[name]``; for a name it lacks, a ValueError with the message ``unknown()``
    (which names the choices), not a KeyError."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(unknown()) from None
