"""Pruning shared by ``train --prune`` and ``compress``, shaped like ``torch.ao.pruning``:
what to prune (spec.py: ``--prune`` profiles), the masks (sparsifier.py), how much after each
round (scheduler.py) and per-layer sensitivity (sensitivity.py)."""

from .scheduler import GeometricScheduler
from .sensitivity import allocate, estimated_bytes, measure
from .sparsifier import GRANULARITIES, MagnitudeSparsifier, magnitude_mask
from .spec import SQUEEZENET_PROFILE, parse_prune, prunable, resolve_per_layer, target_densities
