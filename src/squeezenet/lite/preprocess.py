"""A model's preprocessing with PIL and numpy: the same pixels as
``squeezenet.data.Preprocess`` (torchvision's ``Resize`` + ``CenterCrop`` + ``Normalize``)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..weights.infocheck import check_preprocess

# The most pixels a resize may produce (8192 x 8192), as squeezenet.data.transforms.
_MAX_RESIZED_PIXELS = 8192 * 8192


class Preprocessing:
    """An image -> the model's float32 input ``(3, crop, crop)``: the shorter side
    bilinearly resized to ``resize``, the center ``crop`` square, then
    ``(pixels * scale - mean) / std`` per channel (channels reversed first with ``bgr``)."""

    def __init__(self, description: object, source: str = "preprocess") -> None:
        """``description``: a model description's ``preprocess`` entry (checked)."""

        def fail(problem: str) -> ValueError:
            return ValueError(f"{source}: the model description is invalid ({problem})")

        values = check_preprocess(description, fail)
        self.name: str = values["name"]
        self.resize: int = values["resize"]
        self.crop: int = values["crop"]
        self.bgr: bool = values["bgr"]
        self.scale: float = values["scale"]
        # float32 as torch.tensor(mean) makes them: the same rounding, the same bits.
        self.mean = np.asarray(values["mean"], dtype=np.float32).reshape(3, 1, 1)
        self.std = np.asarray(values["std"], dtype=np.float32).reshape(3, 1, 1)

    def __repr__(self) -> str:
        return f"Preprocessing({self.name!r}, resize={self.resize}, crop={self.crop})"

    def __call__(self, image: Image.Image | str | os.PathLike) -> np.ndarray:
        if not isinstance(image, Image.Image):
            with Image.open(image) as opened:
                return self(opened.convert("RGB"))
        if image.mode != "RGB":
            image = image.convert("RGB")
        x = np.asarray(self.crop_image(image), dtype=np.uint8).transpose(2, 0, 1)
        x = x.astype(np.float32)
        if self.bgr:
            x = x[::-1].copy()
        # The operations and order of Preprocess.normalize, in place on one float copy.
        if self.scale != 1.0:
            x *= np.float32(self.scale)
        x -= self.mean
        x /= self.std
        return x

    def crop_image(self, image: Image.Image) -> Image.Image:
        """torchvision's ``Resize(resize)`` (bilinear) then ``CenterCrop(crop)`` on a PIL
        image, with the same sizes and offsets."""
        w, h = image.size
        short, long = max(1, min(w, h)), max(w, h)
        if self.resize * self.resize * long // short > _MAX_RESIZED_PIXELS:
            raise ValueError(
                f"resizing {w} x {h} to a shorter side of {self.resize} needs more than "
                f"{_MAX_RESIZED_PIXELS:,} pixels"
            )
        new_long = int(self.resize * long / short)
        size = (self.resize, new_long) if w <= h else (new_long, self.resize)
        if size != image.size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        left = int(round((size[0] - self.crop) / 2.0))
        top = int(round((size[1] - self.crop) / 2.0))
        return image.crop((left, top, left + self.crop, top + self.crop))
