"""Top-k classes of images, a batch at a time: what ``squeezenet predict`` prints."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from PIL import Image

from .data import ImageError, imagenet_class_list, load_transformed, read_class_list, short_name
from .data.images import LabelledImages, decode_min_size
from .data.transforms import Preprocess
from .engine.batches import autocast, input_device, resolve_precision

ImageSource = str | os.PathLike | Image.Image


def class_names(num_classes: int, path: str | Sequence[str] | None = None) -> list[str]:
    """Names of the classes: the names themselves (as a model file carries them), else the
    short names from the class list file ``path``, else ImageNet-1k's for 1000 outputs, else
    ``class N``."""
    if isinstance(path, (str, os.PathLike)):
        names = [short_name(n) for n in read_class_list(path)[1]]
    elif path is not None:
        names = list(path)
    elif num_classes == 1000:
        names = [short_name(n) for n in imagenet_class_list()[1]]
    else:
        return [f"class {i}" for i in range(num_classes)]
    if len(names) != num_classes:
        where = path if isinstance(path, (str, os.PathLike)) else "the class names given"
        raise ValueError(f"{where}: lists {len(names)} classes, the model has {num_classes}")
    return names


def predict(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: Sequence[ImageSource],
    preprocess: Preprocess,
    k: int = 5,
    batch_size: int = 32,
    classes: str | Sequence[str] | None = None,
    strict: bool = False,
    on_skip: Callable[[str], None] | None = None,
    decode: str = "fast",
    progress: bool = False,
    workers: int = 0,
    precision: str = "fp32",
) -> Iterator[dict]:
    """Yield ``{"image", "top": [{"index", "name", "prob"}, ...]}`` for each of ``images``
    (files, or PIL images) in order: its ``k`` most probable classes by softmax (at most as
    many as the model has), named from the class list ``classes`` (a file or the names; see
    :func:`class_names`).

    ``model`` is any callable from a float batch to logits; a module gets its batches on
    its own device. Images are read one batch at a time, so thousands never sit in memory
    at once and each batch's results come before the next is read. An unreadable image
    raises :class:`ImageError` when ``strict``; otherwise the rest of its batch is kept and
    its message passed to ``on_skip``. ``decode``, ``workers`` (image-decoding processes,
    for files) and ``precision`` (of a module) as for :func:`squeezenet.engine.evaluate`.
    """
    from tqdm import tqdm

    decode_size = decode_min_size(decode, preprocess.decode_size)
    device = input_device(model)
    bf16 = resolve_precision(precision) == "bf16" and isinstance(model, torch.nn.Module)
    names = None
    disable = not progress or len(images) <= batch_size
    batches = _batches(images, preprocess, decode_size, batch_size, workers)
    with tqdm(
        total=len(images), desc="predict", unit="img", file=sys.stderr, disable=disable
    ) as bar:
        for read, inputs, errors in batches:
            bar.update(len(read) + len(errors))
            for message in errors:
                if strict:
                    raise ImageError(message)
                if on_skip is not None:
                    on_skip(message)
            if not read:
                continue
            with torch.inference_mode(), autocast(device, "bf16" if bf16 else "off"):
                x = torch.stack(inputs).to(device)
                probs = torch.as_tensor(model(x)).float().cpu().softmax(1)
            names = names or class_names(probs.shape[1], classes)
            top = probs.topk(min(k, probs.shape[1]), dim=1)
            for image, values, indices in zip(read, top.values, top.indices):
                yield {
                    "image": image,
                    "top": [
                        {"index": int(i), "name": names[int(i)], "prob": float(p)}
                        for p, i in zip(values, indices)
                    ],
                }


def _batches(
    images: Sequence[ImageSource],
    preprocess: Preprocess,
    decode_size: int | None,
    batch_size: int,
    workers: int,
) -> Iterator[tuple[list[ImageSource], list[torch.Tensor], list[str]]]:
    """(images read, their input tensors, messages of those that could not be) a batch at a
    time, in order; files are decoded in ``workers`` processes when there are any."""
    if workers and not any(isinstance(i, Image.Image) for i in images):
        from .engine.evaluate import SkippingImages, collate_skipping

        # The label carries each image's position, to name the images read.
        indexed = LabelledImages([(Path(p), i) for i, p in enumerate(images)], [])  # type: ignore[arg-type]
        loader = torch.utils.data.DataLoader(
            SkippingImages(indexed, preprocess, decode_size),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=collate_skipping,
        )
        for x, positions, errors in loader:
            read = [] if x is None else [images[int(i)] for i in positions]
            yield read, [] if x is None else list(x), errors
        return
    for start in range(0, len(images), batch_size):
        read, inputs, errors = [], [], []
        for image in images[start : start + batch_size]:
            try:
                if isinstance(image, Image.Image):
                    inputs.append(preprocess(image))
                else:
                    inputs.append(load_transformed(image, preprocess, decode_size))
                read.append(image)
            except ImageError as e:
                errors.append(str(e))
        yield read, inputs, errors
