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


# How each stage's weights are stored, as (short label for the table, what the bytes count).
STORAGE = {
    "dense": ("fp32", "every weight as a 32-bit float"),
    "sparse": ("fp32 + mask", "32-bit non-zeros plus a 1-bit-per-weight position mask"),
    "shared": ("index + codebook", "a b-bit codebook index per non-zero, the mask, codebooks"),
    "file": ("coded file", "the size of the entropy-coded file"),
}


def stored_bytes(model: nn.Module, bits: dict[str, int] | None = None) -> tuple[int, str]:
    """Bytes the weights would take as stored after a stage, and the storage kind.

    Dense layers store fp32 values; pruned layers (Deep Compression section 2) their fp32
    non-zeros plus a 1-bit-per-weight position mask; weight-shared layers (section 3) a
    ``bits``-bit codebook index per non-zero, the mask and the fp32 codebook. Biases and
    other tensors stay fp32. (The entropy-coded file of section 4 is smaller still.)
    """
    bits = bits or {}
    state = model.state_dict()
    layers = set(prunable(model))
    total_bits, kind = 0, "dense"
    for name, _ in model.named_parameters():
        w = state[name]
        n = w.numel()
        nnz = int((w != 0).sum()) if name in layers else n
        mask = n if nnz < n else 0
        if name in bits:
            total_bits += nnz * bits[name] + mask + 32 * 2 ** bits[name]
            kind = "shared"
        elif mask and 32 * nnz + n < 32 * n:  # a few exact zeros are cheaper stored dense
            total_bits += 32 * nnz + n
            kind = "sparse" if kind == "dense" else kind
        else:
            total_bits += 32 * n
    return math.ceil(total_bits / 8), kind


class Report:
    """Collects, after each stage, the layer statistics, size and score."""

    def __init__(self, model: nn.Module, name: str, coder: str) -> None:
        self.model = model
        self.name = name
        self.coder = coder
        self.stages: list[dict] = []
        self.layers: list[dict] = []
        # Top-1 agreement of the file's model with the uncompressed one on the calibration
        # images, when there are some: a label-free check of what compression changed.
        self.agreement: float | None = None

    def stage(
        self,
        stage: str,
        score: float | None,
        cm: CompressedModel | None = None,
        bits: dict[str, int] | None = None,
    ) -> None:
        """Record a stage: ``cm`` for the encoded file, ``bits`` for weight-shared layers."""
        rows = _layer_stats(self.model)
        params = sum(p.numel() for p in self.model.parameters())
        nonzero = sum(r["nonzero"] for r in rows) + params - sum(r["params"] for r in rows)
        if cm is not None:
            size, kind = len(to_bytes(cm)), "file"
        else:
            size, kind = stored_bytes(self.model, bits)
        entry = {
            "stage": stage,
            "params": params,
            "nonzero": nonzero,
            "density": nonzero / params,
            "score": score,
            "bytes": size,
            "stored_as": kind,
        }
        self.stages.append(entry)
        if cm is not None:
            for r in rows:
                t = cm.tensors.get(r["layer"] + ".weight")
                if isinstance(t, SharedTensor):
                    r["bytes"] = len(encode_shared(t, cm.coder, kernel_block(t)))
            self.layers = rows

    def set_file_bytes(self, size: int) -> None:
        """The encoded stage's bytes as the file was written (metadata added to the header
        after the pipeline ran makes it a little larger)."""
        self.stages[-1]["bytes"] = size

    def to_dict(self) -> dict:
        out: dict = {"model": self.name, "coder": self.coder, "stages": self.stages}
        if self.agreement is not None:
            out["calibration_agreement"] = self.agreement
        return {**out, "layers": self.layers}

    def collapse(self, num_classes: int) -> str | None:
        """Why the compressed model is broken, or None: its score kept less than half of the
        uncompressed model's margin over chance, or (without scores) its top-1 agrees with
        the uncompressed model's on fewer calibration images than halfway between chance and
        all. A model about as good as chance before compression is not judged."""
        chance = 1 / num_classes
        before, after = self.stages[0]["score"], self.stages[-1]["score"]
        if before is not None and after is not None:
            if before - chance > 0.1 and after - chance < (before - chance) / 2:
                return (
                    f"the compressed model scores {after:.2%} where the uncompressed one scores "
                    f"{before:.2%} (chance: {chance:.2%}): more than half of its accuracy above "
                    "chance is lost"
                )
            return None
        if self.agreement is not None and self.agreement < (1 + chance) / 2:
            return (
                f"the compressed model's top-1 agrees with the uncompressed model's on "
                f"{self.agreement:.1%} of the calibration images (chance: {chance:.1%}): it "
                "no longer computes what the model did"
            )
        return None

    def format(self, score_name: str = "top-1") -> str:
        """The stage table, what its bytes count, then the per-layer table of the file."""
        base = self.stages[0]["bytes"] if self.stages else 1
        lines = [
            f"{'stage':<22} {'non-zero':>9} {'density':>8}  {'stored as':<16} {'bytes':>9} "
            f"{'ratio':>6} {score_name:>8}"
        ]
        for s in self.stages:
            score = "-" if s["score"] is None else f"{100 * s['score']:.2f}%"
            label = STORAGE[s.get("stored_as", "dense")][0]
            lines.append(
                f"{s['stage']:<22} {s['nonzero']:>9,} {s['density']:>8.1%}  {label:<16} "
                f"{s['bytes']:>9,} {base / s['bytes']:>5.1f}x {score:>8}"
            )
        if self.agreement is not None:
            lines.append(
                f"top-1 agreement with the uncompressed model on the calibration images: "
                f"{self.agreement:.1%}"
            )
        lines.append("non-zero: parameters left after pruning; bytes, as stored:")
        for kind in dict.fromkeys(s.get("stored_as", "dense") for s in self.stages):
            lines.append(f"  {STORAGE[kind][0]:<16} {STORAGE[kind][1]}")
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
            lines.append("layer bytes: the layer's weights as entropy-coded in the file")
        return "\n".join(lines)
