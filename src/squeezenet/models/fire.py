"""The Fire module (SqueezeNet paper, section 3.2) and its bypass forms (section 6)."""

from __future__ import annotations

import torch
from torch import nn

#: Allowed values of ``Fire(bypass=...)``.
BYPASS_KINDS = ("none", "simple", "complex")


class Fire(nn.Module):
    """squeeze 1x1 -> ReLU -> (expand 1x1 | expand 3x3) -> ReLU -> concat.

    Submodule names follow torchvision (``squeeze``, ``expand1x1``, ``expand3x3``) so that
    published checkpoints load with ``strict=True``.

    ``bypass``: ``"simple"`` adds the input to the output (identity shortcut; needs equal
    widths, no parameters); ``"complex"`` adds a 1x1 conv of the input (``shortcut``), used
    where the widths differ. ``expand1x1_planes`` or ``expand3x3_planes`` may be 0
    (pct3x3 = 0 or 1), in which case that branch does not exist.
    """

    def __init__(
        self,
        inplanes: int,
        squeeze_planes: int,
        expand1x1_planes: int,
        expand3x3_planes: int,
        bypass: str = "none",
    ) -> None:
        super().__init__()
        if bypass not in BYPASS_KINDS:
            raise ValueError(f"bypass must be one of {BYPASS_KINDS}, got {bypass!r}")
        outplanes = expand1x1_planes + expand3x3_planes
        if bypass == "simple" and inplanes != outplanes:
            raise ValueError(
                f"simple bypass needs equal input and output widths, got {inplanes} -> {outplanes}"
            )
        self.inplanes = inplanes
        self.outplanes = outplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = (
            nn.Conv2d(squeeze_planes, expand1x1_planes, 1) if expand1x1_planes else None
        )
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = (
            nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1) if expand3x3_planes else None
        )
        self.expand3x3_activation = nn.ReLU(inplace=True)
        self.bypass = bypass
        # Complex bypass: a learned 1x1 projection; registered only when used so that plain
        # Fire modules keep torchvision's exact state_dict keys.
        self.shortcut = nn.Conv2d(inplanes, outplanes, 1) if bypass == "complex" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze_activation(self.squeeze(x))
        branches = []
        if self.expand1x1 is not None:
            branches.append(self.expand1x1_activation(self.expand1x1(s)))
        if self.expand3x3 is not None:
            branches.append(self.expand3x3_activation(self.expand3x3(s)))
        out = torch.cat(branches, 1) if len(branches) > 1 else branches[0]
        if self.bypass == "simple":
            out = out + x
        elif self.shortcut is not None:
            out = out + self.shortcut(x)
        return out

    def extra_repr(self) -> str:
        return f"bypass={self.bypass!r}" if self.bypass != "none" else ""
