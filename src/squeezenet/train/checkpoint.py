"""Training checkpoints: everything ``--resume`` needs, written atomically, read without
unpickling arbitrary objects (``torch.load(..., weights_only=True)``)."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import numpy as np
import torch

from ..files import torch_save

FORMAT = "squeezenet-train-checkpoint"
VERSION = 1


def save_atomic(obj: object, path: str | os.PathLike) -> None:
    """torch.save to a temporary file then rename, so a crash never leaves half a file; a
    failed write names ``path`` and leaves the previous checkpoint intact."""
    torch_save(obj, path, "the checkpoint")


def rng_state() -> dict:
    """Global RNG states as plain lists and tensors (weights_only-loadable)."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # legacy=True: (name, keys, pos, has_gauss, gauss)
    state = {
        "torch": torch.get_rng_state(),
        "python": _listify(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _listify(x):
    return [_listify(v) for v in x] if isinstance(x, (tuple, list)) else x


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, list) else x


def make_checkpoint(
    *,
    model,
    optimizer,
    scheduler,
    scaler,
    epoch: int,
    best: dict,
    history: list[dict],
    config: dict,
    masks: dict | None = None,
    ema: dict | None = None,
) -> dict:
    """``epoch`` = number of completed epochs. ``model`` is the unwrapped module; ``masks``
    are the pruning masks (boolean tensors by parameter name), if the run prunes; ``ema``
    the state of the weights' moving average, if the run keeps one."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "epoch": epoch,
        "best": dict(best),
        "history": list(history),
        "rng": rng_state(),
        "config": config,
        "masks": masks,
        "ema": ema,
    }


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a training checkpoint; errors name the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to resume from")
    return parse_checkpoint(path.read_bytes(), path)


def parse_checkpoint(data: bytes, path: str | os.PathLike) -> dict:
    """A training checkpoint from the bytes of the file ``path`` (named in errors): how ranks
    on other machines read the ``last.pt`` that rank 0 sends them."""
    path = Path(path)
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle refusing a global, ...
        raise ValueError(f"{path}: not a readable training checkpoint ({e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a squeezenet training checkpoint")
    if ckpt.get("version", 0) > VERSION:
        raise ValueError(
            f"{path}: checkpoint version {ckpt['version']} is newer than this "
            f"library understands ({VERSION})"
        )
    return ckpt


# Settings that change how a run is carried out but not what it computes: resuming with
# different values continues the same run (another machine, more threads, no progress bar).
# Every other setting, including ones added later, must match the checkpoint's.
RUN_ONLY_SETTINGS = frozenset(
    {
        "output",
        "resume",
        "recipe",  # its values are compared one by one
        "device",
        "compile",
        "threads",
        "workers",
        "channels_last",
        "deterministic",
        "strict_data",
        "eval_test",
        "progress",
        "tensorboard",
        "plot",
    }
)


def config_differences(saved: dict, current: dict) -> list[str]:
    """``name: saved -> current`` for each setting that changes what a run computes and
    differs between a checkpoint's configuration and this run's. A setting the checkpoint
    does not record (written by an older version) is not compared."""
    return [
        f"{name}: {saved[name]!r} -> {value!r}"
        for name, value in current.items()
        if name not in RUN_ONLY_SETTINGS
        and name in saved
        and _comparable(saved[name]) != _comparable(value)
    ]


def _comparable(x):
    """Tuples as lists, inside mappings too: (0.5, 0.5) from Python and [0.5, 0.5] from YAML
    are the same setting."""
    if isinstance(x, dict):
        return {k: _comparable(v) for k, v in x.items()}
    return [_comparable(v) for v in x] if isinstance(x, (tuple, list)) else x
