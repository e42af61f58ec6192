"""AlexNet, the paper's baseline (Table 2), exactly as torchvision defines it."""

from __future__ import annotations

from torchvision.models import AlexNet


def build_alexnet(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    """torchvision's AlexNet (61,100,840 parameters at 1000 classes)."""
    return AlexNet(num_classes=num_classes, dropout=dropout)
