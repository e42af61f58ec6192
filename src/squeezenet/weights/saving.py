"""Write a state_dict as a PyTorch ``.pth`` file or a pickle-free ``.safetensors`` file, with
the model's description (:class:`~squeezenet.weights.info.ModelInfo`) when there is one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..files import atomic_path, torch_save
from .info import INFO_KEY, ModelInfo

SAFETENSORS_SUFFIX = ".safetensors"


def save_state_dict(
    state: dict[str, torch.Tensor], path: str | os.PathLike, info: ModelInfo | None = None
) -> Path:
    """Write ``state`` to ``path``, atomically: ``.safetensors`` names get the safetensors
    format (what timm and the Hugging Face hub use), anything else ``torch.save``'s zip
    format. Both load back with ``read_state_dict`` and ``--weights``.

    With ``info`` the file describes its model (architecture, class names, preprocessing), so
    that no command needs them repeated: a safetensors file keeps it in its metadata, a
    ``.pth`` file is ``{"state_dict": state, "squeezenet": info}`` (load the tensors with
    ``torch.load(path)["state_dict"]``). Without it, a ``.pth`` file is the bare state_dict."""
    path = Path(path)
    if path.suffix != SAFETENSORS_SUFFIX:
        torch_save(state if info is None else {"state_dict": state, INFO_KEY: info.to_dict()}, path)
        return path
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        # safetensors stores each tensor's own bytes: no views, no shared storage.
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
        save_file(tensors, tmp, metadata={INFO_KEY: json.dumps(info.to_dict())} if info else None)
    return path
