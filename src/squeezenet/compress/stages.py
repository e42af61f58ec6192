"""Per-stage, per-layer compression tables in the style of Deep Compression Table 4."""

from __future__ import annotations

import math

import numpy as np
from torch import nn

from ..pruning import prunable
from ..weights.sqz.codec import SharedTensor, encode_shared, kernel_block
from ..weights.sqz.fileformat import CompressedModel, to_bytes


def _layer_stats(model: nn.Module) -> list[dict]:
    state = model.state_dict()
    rows = []
    for name in prunable(model):
        w = state[name].detach().cpu().numpy()
        nz = w[w != 0]
        distinct = len(np.unique(nz))
        rows.append(
            {
                "layer": name[: -len(".weight")],
                "params": int(w.size),
                "nonzero": int(nz.size),
                "density": nz.size / w.size if w.size else 0.0,
                "bits": math.ceil(math.log2(distinct)) if distinct > 1 else distinct,
            }
        )
    return rows


class Report:
    """Collects, after each stage, the layer statistics, size and score."""

    def __init__(self, model: nn.Module, name: str, coder: str) -> None:
        self.model = model
        self.name = name
        self.coder = coder
        self.stages: list[dict] = []
        self.layers: list[dict] = []

    def stage(self, stage: str, score: float | None, cm: CompressedModel | None = None) -> None:
        rows = _layer_stats(self.model)
        params = sum(p.numel() for p in self.model.parameters())
        nonzero = sum(r["nonzero"] for r in rows) + params - sum(r["params"] for r in rows)
        entry = {
            "stage": stage,
            "params": params,
            "nonzero": nonzero,
            "density": nonzero / params,
            "score": score,
            "bytes": len(to_bytes(cm)) if cm is not None else 4 * params,
        }
        self.stages.append(entry)
        if cm is not None:
            for r in rows:
                t = cm.tensors.get(r["layer"] + ".weight")
                if isinstance(t, SharedTensor):
                    r["bytes"] = len(encode_shared(t, cm.coder, kernel_block(t)))
            self.layers = rows

    def to_dict(self) -> dict:
        return {
            "model": self.name,
            "coder": self.coder,
            "stages": self.stages,
            "layers": self.layers,
        }

    def format(self, score_name: str = "top-1") -> str:
        """The stage table, then the per-layer table of the encoded model."""
        base = self.stages[0]["bytes"] if self.stages else 1
        lines = [
            f"{'stage':<24} {'non-zero':>10} {'density':>8} {'bytes':>11} "
            f"{'ratio':>7} {score_name:>7}"
        ]
        for s in self.stages:
            score = "-" if s["score"] is None else f"{100 * s['score']:.1f}%"
            lines.append(
                f"{s['stage']:<24} {s['nonzero']:>10,} {s['density']:>8.1%} "
                f"{s['bytes']:>11,} {base / s['bytes']:>6.1f}x {score:>7}"
            )
        if self.layers:
            lines.append("")
            lines.append(
                f"{'layer':<26} {'params':>9} {'density':>8} {'bits':>5} "
                f"{'bytes':>9} {'bits/param':>10}"
            )
            for r in self.layers:
                b = r.get("bytes")
                per = f"{8 * b / r['params']:.2f}" if b is not None else "-"
                lines.append(
                    f"{r['layer']:<26} {r['params']:>9,} {r['density']:>8.1%} "
                    f"{r['bits']:>5} {b if b is not None else '-':>9} {per:>10}"
                )
        return "\n".join(lines)
