"""Write a state_dict as a PyTorch ``.pth`` file or a pickle-free ``.safetensors`` file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..files import atomic_path

SAFETENSORS_SUFFIX = ".safetensors"


def save_state_dict(state: dict[str, torch.Tensor], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path``, atomically: ``.safetensors`` names get the safetensors
    format (what timm and the Hugging Face hub use), anything else ``torch.save``'s zip
    format. Both load back with ``read_state_dict`` and ``--weights``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == SAFETENSORS_SUFFIX:
            from safetensors.torch import save_file

            # safetensors stores each tensor's own bytes: no views, no shared storage.
            save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, tmp)
        else:
            torch.save(state, tmp)
    return path
