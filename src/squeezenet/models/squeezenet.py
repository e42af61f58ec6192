"""SqueezeNet built from the paper's metaparameters (section 5.1, Figure 2).

A :class:`SqueezeNetSpec` is the whole architecture as plain data (JSON-friendly, so compressed
files can carry it); :func:`build_squeezenet` is the one builder that expands it. The layer
widths of the i-th Fire module (i = 0 for fire2) are

    e_i    = base_e + incr_e * floor(i / freq)
    e3x3_i = pct3x3 * e_i,   e1x1_i = e_i - e3x3_i
    s1x1_i = SR * e_i

and the macro layout (stem conv, where the max-pools go, the conv10 classifier) comes from
the remaining fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from .fire import BYPASS_KINDS, Fire


def _round(x: float) -> int:
    # Round half up (Python's round() is banker's rounding, which would make 2.5 -> 2).
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class FireWidths:
    """Channel widths of one Fire module."""

    inplanes: int
    squeeze: int
    expand1x1: int
    expand3x3: int

    @property
    def outplanes(self) -> int:
        return self.expand1x1 + self.expand3x3


@dataclass(frozen=True)
class SqueezeNetSpec:
    """A SqueezeNet architecture as data. Defaults are SqueezeNet v1.0 (paper Table 1)."""

    # Metaparameters of section 5.1.
    base_e: int = 128
    incr_e: int = 128
    freq: int = 2
    pct3x3: float = 0.5
    sr: float = 0.125
    num_fire: int = 8
    # Macro layout. ``pool_before`` lists Fire indices (0 = fire2) that a 3x3/2 max-pool
    # precedes; v1.0 pools after conv1, fire4 and fire8, v1.1 after conv1, fire3 and fire5.
    in_channels: int = 3
    stem_channels: int = 96
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_padding: int = 0
    pool_before: tuple[int, ...] = (0, 3, 7)
    # Section 6: "none", "simple" (identity shortcuts where widths match) or "complex"
    # (identity where widths match, 1x1 conv shortcut elsewhere).
    bypass: str = "none"
    # The Caffe release of v1.0 pads conv10 by 1 (a generator quirk); torchvision uses 0.
    conv10_padding: int = 0
    dropout: float = 0.5
    num_classes: int = 1000

    def __post_init__(self) -> None:
        # Tuples arrive as lists from JSON; normalise so equality and hashing work.
        object.__setattr__(self, "pool_before", tuple(int(i) for i in self.pool_before))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        for name in (
            "base_e",
            "freq",
            "num_fire",
            "in_channels",
            "stem_channels",
            "stem_kernel",
            "stem_stride",
            "num_classes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("incr_e", "stem_padding", "conv10_padding"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not 0 < self.sr <= 1:
            raise ValueError(f"sr (squeeze ratio) must be in (0, 1], got {self.sr!r}")
        if not 0 <= self.pct3x3 <= 1:
            raise ValueError(f"pct3x3 must be in [0, 1], got {self.pct3x3!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.bypass not in BYPASS_KINDS:
            raise ValueError(f"bypass must be one of {BYPASS_KINDS}, got {self.bypass!r}")
        bad = [i for i in self.pool_before if not 0 <= i <= self.num_fire]
        if bad:
            raise ValueError(f"pool_before entries must be in [0, {self.num_fire}], got {bad}")
        self.fire_widths()  # raises for widths that round to zero

    def fire_widths(self) -> list[FireWidths]:
        """Per-Fire widths from the metaparameters (section 5.1)."""
        widths = []
        inplanes = self.stem_channels
        for i in range(self.num_fire):
            e = self.base_e + self.incr_e * (i // self.freq)
            e3 = _round(self.pct3x3 * e)
            e1 = e - e3
            s = _round(self.sr * e)
            where = f"fire{i + 2} (e={e})"
            if s < 1:
                raise ValueError(f"sr={self.sr} gives 0 squeeze filters in {where}")
            if e3 < 1 and self.pct3x3 > 0:
                raise ValueError(f"pct3x3={self.pct3x3} gives 0 expand3x3 filters in {where}")
            if e1 < 1 and self.pct3x3 < 1:
                raise ValueError(f"pct3x3={self.pct3x3} gives 0 expand1x1 filters in {where}")
            widths.append(FireWidths(inplanes, s, e1, e3))
            inplanes = e
        return widths

    def fire_bypass(self) -> list[str]:
        """The bypass kind each Fire gets (section 6)."""
        kinds = []
        for w in self.fire_widths():
            if self.bypass == "none":
                kinds.append("none")
            elif w.inplanes == w.outplanes:
                kinds.append("simple")
            else:
                kinds.append("complex" if self.bypass == "complex" else "none")
        return kinds

    def replace(self, **changes) -> SqueezeNetSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["pool_before"] = list(self.pool_before)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SqueezeNetSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown SqueezeNetSpec fields: {unknown}")
        return cls(**d)

    # -- spatial sizes -------------------------------------------------------------------------
    def output_size(self, size: int) -> int:
        """Side of the final feature map for a ``size`` x ``size`` input (0 if too small)."""
        size = (size + 2 * self.stem_padding - self.stem_kernel) // self.stem_stride + 1
        if size < 1:
            return 0
        for _ in range(self.num_pools):
            size = _pool_out(size)
            if size < 1:
                return 0
        return size + 2 * self.conv10_padding

    @property
    def num_pools(self) -> int:
        """How many max-pools the network has (repeated ``pool_before`` entries count once)."""
        return len(set(self.pool_before))

    @property
    def min_input_size(self) -> int:
        """The smallest square input the network accepts (21 for v1.0, 17 for v1.1).

        Closed form, so a spec from an untrusted file costs no search: a pool turns ``s``
        (>= 2) into ``s // 2``, so ``p`` pools need ``2**p`` at their input, and the stem
        turns ``s`` into ``(s + 2 * padding - kernel) // stride + 1``."""
        need = 1 << self.num_pools
        return max(1, (need - 1) * self.stem_stride + self.stem_kernel - 2 * self.stem_padding)


def _pool_out(size: int, kernel: int = 3, stride: int = 2) -> int:
    """nn.MaxPool2d(kernel, stride, ceil_mode=True) output size (PyTorch's rule)."""
    out = -(-(size - kernel) // stride) + 1
    if (out - 1) * stride >= size:  # the last window must start inside the input
        out -= 1
    return out


class SqueezeNet(nn.Module):
    """``features`` (stem, pools, Fire modules) then ``classifier`` (dropout, conv10, ReLU,
    global average pool), laid out exactly as torchvision's SqueezeNet."""

    def __init__(self, spec: SqueezeNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.min_input_size = spec.min_input_size
        layers: list[nn.Module] = [
            nn.Conv2d(
                spec.in_channels,
                spec.stem_channels,
                spec.stem_kernel,
                stride=spec.stem_stride,
                padding=spec.stem_padding,
            ),
            nn.ReLU(inplace=True),
        ]
        widths = spec.fire_widths()
        for i, (w, bypass) in enumerate(zip(widths, spec.fire_bypass())):
            if i in spec.pool_before:
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            layers.append(Fire(w.inplanes, w.squeeze, w.expand1x1, w.expand3x3, bypass))
        if spec.num_fire in spec.pool_before:
            layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.num_features = widths[-1].outplanes
        final_conv = nn.Conv2d(self.num_features, spec.num_classes, 1, padding=spec.conv10_padding)
        self.classifier = nn.Sequential(
            nn.Dropout(p=spec.dropout),
            final_conv,
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        # Same initialisation as torchvision: conv10 ~ N(0, 0.01), the rest Kaiming-uniform.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace conv10 with a freshly initialised one for ``num_classes`` (fine-tuning)."""
        old = self.classifier[1]
        assert isinstance(old, nn.Conv2d)
        # torch types the attribute tuple[int, ...] and the argument tuple[int, int].
        new = nn.Conv2d(self.num_features, num_classes, 1, padding=old.padding)  # type: ignore[arg-type]
        assert new.bias is not None  # Conv2d's default bias=True
        nn.init.normal_(new.weight, mean=0.0, std=0.01)
        nn.init.constant_(new.bias, 0)
        self.classifier[1] = new.to(old.weight.device, old.weight.dtype)
        self.spec = self.spec.replace(num_classes=num_classes)

    @torch.jit.unused
    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f"expected a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h < self.min_input_size or w < self.min_input_size:
            raise ValueError(
                f"input {h}x{w} is smaller than this model's minimum "
                f"{self.min_input_size}x{self.min_input_size}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_scripting() or torch.jit.is_tracing()):
            self._check_input(x)
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)


def build_squeezenet(spec: SqueezeNetSpec | None = None, **overrides) -> SqueezeNet:
    """Build a SqueezeNet from a spec, with field overrides (e.g. ``sr=0.75``)."""
    spec = spec or SqueezeNetSpec()
    if overrides:
        spec = spec.replace(**overrides)
    return SqueezeNet(spec)


# The two published versions, as data. v1.1 (torchvision) has a 3x3/64 stem and pools
# earlier, for 2.4x less computation at the same accuracy.
SQUEEZENET1_0 = SqueezeNetSpec()
SQUEEZENET1_1 = SqueezeNetSpec(stem_channels=64, stem_kernel=3, pool_before=(0, 2, 4))
