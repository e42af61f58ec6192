"""Preprocessing presets: what each family of pretrained weights expects.

* ``torchvision``: RGB, resize shorter side to 256, center crop 224, /255, ImageNet mean/std.
* ``caffe``: BGR, 0..255 minus the per-channel mean (104, 117, 123), no std, center crop 227
  (how the original Caffe SqueezeNet and the Deep Compression release were trained).
* ``cifar``: RGB at 32x32 (resize + center crop), /255, CIFAR-10 mean/std: what the 32x32
  models trained by ``squeezenet train`` (cifar10-fast recipe) expect.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..settings import named

if TYPE_CHECKING:
    import torch
    from PIL import Image

# torch and torchvision are imported inside the functions that use them: the presets below
# are read by the command line's parsers, which answer without loading PyTorch.

# Per-channel statistics of the training images (RGB, pixels scaled to 0..1).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# The most pixels a resize may produce (8192 x 8192, the decoder's own limit).
_MAX_RESIZED_PIXELS = 8192 * 8192


def normalize(
    x: torch.Tensor, mean, std, scale: float = 1 / 255, bgr: bool = False
) -> torch.Tensor:
    """uint8 RGB ``(..., 3, H, W)`` -> ``(x * scale - mean) / std`` in float32, on ``x``'s
    device (channels reversed first with ``bgr``)."""
    # In place on one float copy: several times faster over a batch than a new tensor per
    # step, and the same operations in the same order as torchvision's ``ToTensor`` +
    # ``Normalize``, so the same bits (INT8 calibration notices the last bit).
    import torch

    x = x.to(torch.float32, copy=True)  # never scale the caller's tensor in place
    if bgr:
        x = x.flip(-3)
    if scale != 1.0:
        x.mul_(scale)
    mean = torch.tensor(mean, device=x.device).view(-1, 1, 1)
    return x.sub_(mean).div_(torch.tensor(std, device=x.device).view(-1, 1, 1))


def resize_crop(image: Image.Image, resize: int, crop: int) -> Image.Image:
    """The shorter side bilinearly resized to ``resize``, then the center ``crop`` x ``crop``
    square (torchvision's ``Resize`` + ``CenterCrop``)."""
    from torchvision.transforms import functional as F

    image = F.resize(image, resize, interpolation=F.InterpolationMode.BILINEAR)
    return F.center_crop(image, crop)


@dataclass(frozen=True)
class Preprocess:
    name: str
    resize: int
    crop: int
    mean: tuple[float, float, float]  # in the channel order the model sees
    std: tuple[float, float, float]
    bgr: bool
    scale: float  # multiply 0..255 pixels by this before mean/std

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """A PIL image (any mode) -> a normalised float tensor (3, crop, crop)."""
        return self.normalize(self.crop_uint8(image))

    def crop_uint8(self, image: Image.Image) -> torch.Tensor:
        """Resize and center-crop a PIL image -> uint8 RGB tensor (3, crop, crop): a quarter
        of the bytes of the float result, so worker processes hand these over and
        :meth:`normalize` runs once per batch."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        # The resize's output, checked before it is allocated (a thin strip becomes huge).
        w, h = image.size
        short = max(1, min(w, h))
        out_pixels = self.resize * self.resize * max(w, h) // short
        if out_pixels > _MAX_RESIZED_PIXELS:
            raise ValueError(
                f"resizing {w} x {h} to a shorter side of {self.resize} needs "
                f"{out_pixels:,} pixels, over the limit of {_MAX_RESIZED_PIXELS:,}"
            )
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(resize_crop(image, self.resize, self.crop))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 RGB ``(..., 3, H, W)`` -> the float input the model expects (the same
        arithmetic per image or per batch)."""
        return normalize(x, self.mean, self.std, self.scale, self.bgr)

    @property
    def decode_size(self) -> int:
        """The shorter side images are resized to: what reduced-size decoding must keep."""
        return self.resize

    def rgb_statistics(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The mean and std, in RGB order, that turn RGB pixels scaled to 0..1 (what the
        training engine normalises) into this preprocessing's input, up to the channel order
        (a BGR model's first conv must take its channels reversed)."""
        unit = 255 * self.scale  # this preset's pixel value of a 0..1 pixel of 1
        mean, std = (self.mean[::-1], self.std[::-1]) if self.bgr else (self.mean, self.std)
        return tuple(m / unit for m in mean), tuple(s / unit for s in std)

    def with_crop(self, crop: int) -> Preprocess:
        """The same preset at another crop size (resize keeps the preset's 256/224 ratio)."""
        resize = round(crop * self.resize / self.crop)
        return Preprocess(self.name, resize, crop, self.mean, self.std, self.bgr, self.scale)


PRESETS: dict[str, Preprocess] = {
    "torchvision": Preprocess("torchvision", 256, 224, IMAGENET_MEAN, IMAGENET_STD, False, 1 / 255),
    "caffe": Preprocess("caffe", 256, 227, (104.0, 117.0, 123.0), (1.0, 1.0, 1.0), True, 1.0),
    "cifar": Preprocess("cifar", 32, 32, CIFAR10_MEAN, CIFAR10_STD, False, 1 / 255),
}


def rgb_preprocess(resize: int, crop: int, mean, std) -> Preprocess:
    """The preprocessing of a model trained by this package: RGB pixels / 255, then
    ``(x - mean) / std``, the shorter side resized to ``resize`` and the centre ``crop``
    square; named after the preset it equals, else ``custom``."""
    made = Preprocess("custom", resize, crop, _three(mean), _three(std), bgr=False, scale=1 / 255)
    for preset in PRESETS.values():
        if replace(made, name=preset.name) == preset:
            return preset
    return made


def _three(values) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


def get_preprocess(name: str) -> Preprocess:
    return named(
        PRESETS,
        name,
        lambda: f"unknown preprocessing preset {name!r}; choose from {sorted(PRESETS)}",
    )
