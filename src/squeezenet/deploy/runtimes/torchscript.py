"""A TorchScript file (``export --format torchscript``) run by ``torch.jit.load``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch


def load(path: Path, threads: int | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The traced module in eager mode; ``threads`` is PyTorch's own setting, left as is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(x)

    return run
