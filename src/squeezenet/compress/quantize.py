"""Trained quantization by weight sharing (Deep Compression section 3).

Each layer's non-zero weights are clustered with 1-D k-means from a *linear* initialisation
(section 3.2: centroids evenly spaced over [min, max], which keeps the rare large weights
represented), into ``2**bits`` shared values. Pruned weights stay exactly zero: they are not
clustered. During fine-tuning (section 3.3) the assignments stay fixed and each centroid
moves by the sum of the gradients of the weights that share it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..pruning import prunable, resolve_per_layer
from ..weights.sqz.codec import SharedTensor


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's algorithm in 1-D with linear initialisation -> (centroids[k], assignment)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    lo, hi = float(values.min()), float(values.max())
    centroids = np.linspace(lo, hi, k) if k > 1 else np.array([values.mean()])
    assign = np.zeros(len(values), dtype=np.int64)
    for _ in range(iterations):
        # Sorted centroids: nearest centroid = bucket between consecutive midpoints.
        mids = (centroids[1:] + centroids[:-1]) / 2
        assign = np.searchsorted(mids, values)
        counts = np.bincount(assign, minlength=len(centroids))
        sums = np.bincount(assign, weights=values, minlength=len(centroids))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(new, centroids, rtol=0, atol=1e-12):
            break
        centroids = new
    # Drop empty clusters so the codebook holds only used values.
    used = np.unique(assign)
    remap = np.zeros(len(centroids), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return centroids[used].astype(np.float32), remap[assign]


def parse_bits(spec: str | int | dict[str, int]) -> dict[str, int] | int:
    """``"8"`` or ``"classifier.*=5,fire*.expand3x3.weight=4,*=6"`` -> an int or patterns."""
    if isinstance(spec, (int, dict)):
        return spec
    spec = spec.strip()
    if "=" not in spec:
        return _width(spec, spec)
    out = {}
    for part in spec.split(","):
        pattern, _, bits = part.partition("=")
        if not pattern.strip():
            raise ValueError(f"{part.strip()!r}: expected pattern=bits")
        out[pattern.strip()] = _width(bits, part.strip())
    return out


def _width(text: str, given: str) -> int:
    """One bit width in [1, 16] (a codebook of 2**bits values), or a ValueError naming
    ``given``."""
    try:
        bits = int(text)
    except ValueError:
        bits = 0
    if not 1 <= bits <= 16:
        raise ValueError(f"bit widths must be integers in [1, 16], got {given!r}")
    return bits


class Quantizer:
    """Weight sharing for a model's conv / linear weights, with codebook fine-tuning.

    ``bits`` is an int for all layers or a {pattern: bits} mapping (first match wins, like
    pruning profiles). After construction the model's weights hold their shared values.
    """

    def __init__(self, model: nn.Module, bits: int | dict[str, int]) -> None:
        self.model = model
        params = dict(model.named_parameters())
        names = prunable(model)
        # Same pattern matching as pruning profiles; unmatched layers stay float.
        table = resolve_per_layer(model, bits, names, default=None, require_match=True)
        self.bits = {n: int(b) for n, b in table.items() if b is not None}
        clusters = {}
        for name, b in self.bits.items():
            if not 1 <= b <= 16:
                raise ValueError(f"{name}: bits must be in 1..16, got {b}")
            w = params[name].detach().cpu().flatten().numpy()
            nz = np.flatnonzero(w)
            centroids, assign = kmeans_1d(w[nz], 2**b)
            full = np.full(w.shape, -1, dtype=np.int64)
            full[nz] = assign
            clusters[name] = (centroids, full)
        self._share(params, clusters)

    @classmethod
    def of_shared_weights(cls, model: nn.Module, names: list[str]) -> Quantizer:
        """The weight sharing that ``names`` already have (each distinct non-zero value is a
        shared value, e.g. after :func:`.gptq.gptq_quantize`), for codebook fine-tuning."""
        self = cls.__new__(cls)
        self.model = model
        params = dict(model.named_parameters())
        clusters = {}
        for name in names:
            w = params[name].detach().cpu().flatten().numpy()
            values, assign = np.unique(w, return_inverse=True)
            nonzero = values != 0
            remap = np.full(len(values), -1, dtype=np.int64)
            remap[nonzero] = np.arange(int(nonzero.sum()))
            clusters[name] = (values[nonzero].astype(np.float32), remap[assign.ravel()])
        self.bits = {
            n: max(1, int(np.ceil(np.log2(max(len(c), 2))))) for n, (c, _) in clusters.items()
        }
        self._share(params, clusters)
        return self

    def _share(self, params: dict[str, nn.Parameter], clusters: dict) -> None:
        """Keep ``{name: (centroids, flat assignment with -1 = pruned)}`` and apply it."""
        self.codebooks: dict[str, nn.Parameter] = {}
        self.assign: dict[str, torch.Tensor] = {}  # flat index per weight, -1 = pruned
        for name, (centroids, full) in clusters.items():
            self.codebooks[name] = nn.Parameter(torch.from_numpy(centroids))
            self.assign[name] = torch.from_numpy(full).to(params[name].device)
        self._params = params
        self.apply()

    def parameters(self) -> list[nn.Parameter]:
        return list(self.codebooks.values())

    @torch.no_grad()
    def apply(self) -> None:
        """Write the shared values into the weights (pruned positions stay 0)."""
        for name, cb in self.codebooks.items():
            p = self._params[name]
            a = self.assign[name]
            values = torch.cat([cb.to(p.device, p.dtype), p.new_zeros(1)])[a]  # -1 -> 0
            p.copy_(values.view_as(p))

    def accumulate_grads(self) -> None:
        """Centroid gradient = sum of its weights' gradients (section 3.3, Figure 3)."""
        for name, cb in self.codebooks.items():
            g = self._params[name].grad
            if g is None:
                continue
            a = self.assign[name]
            keep = a >= 0
            grad = torch.zeros(len(cb), dtype=g.dtype, device=g.device)
            grad.index_add_(0, a[keep], g.flatten()[keep])
            cb.grad = grad.to(cb.device, cb.dtype)
            self._params[name].grad = None  # the weights themselves do not move

    def shared_tensors(self) -> dict[str, SharedTensor]:
        """The exact shared form of each quantized weight (for the file writer)."""
        return {
            name: SharedTensor.from_dense(self._params[name].detach().cpu().numpy(), name)
            for name in self.codebooks
        }
