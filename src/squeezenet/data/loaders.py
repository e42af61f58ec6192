"""Training/validation/test batches for the training loops (``build_loaders``).

In-memory data (CIFAR-10 and other small sets) stays as uint8 tensors; each batch is cropped
(from a zero-padded copy) and flipped with a handful of tensor ops in the main process, so no
per-image Python runs during training. Large ImageFolder trees (ImageNet) are streamed from
disk by DataLoader workers with PIL crops and flips instead. Both shard the data with a
:class:`~torch.utils.data.DistributedSampler` whose ``set_epoch`` reshuffles every epoch;
evaluation shards with :class:`EvalShard`, which counts every image exactly once.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler

from .augment import cutout, random_crop_flip, random_resized_crop_flip
from .images import DatasetError, ImageError, LabelledImages, load_image, scan_folder
from .sources import CorruptImageWarning, TensorSplit, detect_format, load_decoded
from .spec import DataSpec
from .transforms import resize_crop

#: ``in_memory: auto`` decodes an ImageFolder tree into memory below this many bytes.
IN_MEMORY_LIMIT = 4 << 30


class EvalShard(torch.utils.data.Sampler):
    """Process ``rank``'s share of ``n`` evaluation images: every ``world_size``-th one.

    Unlike ``DistributedSampler``, it never pads the shards to equal length with repeated
    images, so metrics summed over processes count each image exactly once (45 images on 2
    processes: 23 + 22, not 23 + 23)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Evaluation order does not change between epochs."""


def keeps_last_batch(n: int, batch_size: int) -> bool:
    """Whether a training epoch of ``n`` images (per process) also trains on its last,
    partial batch: when dropping it would leave out more than 5% of the images (a few
    hundred photos at batch 128); below that, dropping keeps every step's batch statistics
    alike, as the CIFAR-10 and Imagenette recipes were tuned with."""
    return (n % batch_size) * 20 > n


def _sampler(n: int, *, train: bool, rank: int, world_size: int, seed: int):
    if not train:
        return EvalShard(n, rank, world_size)
    return DistributedSampler(
        range(n),  # type: ignore[arg-type]  # only len() is used
        num_replicas=world_size,
        rank=rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )


class TensorBatches:
    """Batches of an in-memory uint8 split, sharded across processes.

    Training batches are shuffled by the sampler (seeded by ``seed`` + epoch) and augmented
    with a generator seeded by (seed, epoch, rank): a run resumed at an epoch boundary sees
    exactly the batches an uninterrupted run sees.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        train: bool,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        crop_padding: int = 0,
        flip: bool = False,
        cutout: int = 0,
        resized_crop: tuple[list[int], float] | None = None,
        pin_memory: bool = False,
        max_steps: int | None = None,
    ):
        self.images, self.labels = images, labels
        # (output side of each epoch, minimum area fraction): random-resized crops instead
        # of padded ones; the side may grow over the epochs (progressive resizing). The
        # crops are cut straight from a channels-last copy (what the resize kernel reads
        # fastest), so no batch is gathered first.
        self.resized_crop = resized_crop
        if resized_crop is not None and train:
            self.images = images.contiguous(memory_format=torch.channels_last)
        self.batch_size, self.train = batch_size, train
        self.crop_padding, self.flip, self.pin_memory = crop_padding, flip, pin_memory
        self.cutout = cutout
        self.seed, self.rank, self.max_steps = seed, rank, max_steps
        self.sampler = _sampler(
            len(labels), train=train, rank=rank, world_size=world_size, seed=seed
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        drop = self.train and not keeps_last_batch(n, self.batch_size)
        steps = n // self.batch_size if drop else -(-n // self.batch_size)
        return min(steps, self.max_steps) if self.max_steps else steps

    @property
    def num_samples(self) -> int:
        """Samples this process sees per epoch (eval: its share, never padded)."""
        return len(self.sampler)

    @property
    def images_used(self) -> int:
        """Images this process trains on per epoch (a dropped partial batch is not)."""
        return min(len(self) * self.batch_size, len(self.sampler))

    def __iter__(self):
        index = torch.tensor(list(iter(self.sampler)), dtype=torch.int64)
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 4099 + self.rank)
        for step in range(len(self)):
            idx = index[step * self.batch_size : (step + 1) * self.batch_size]
            y = self.labels[idx]
            if self.train and self.resized_crop is not None:
                sizes, min_scale = self.resized_crop
                size = sizes[min(self.epoch, len(sizes) - 1)]
                x = random_resized_crop_flip(self.images, size, min_scale, self.flip, gen, idx)
            elif self.train:
                x = random_crop_flip(self.images[idx], self.crop_padding, self.flip, gen)
            else:
                x = self.images[idx]
            if self.train and self.cutout:
                x = cutout(x, self.cutout, gen)
            if self.pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            yield x, y


class _EpochIndices(torch.utils.data.Sampler):
    """The training sampler's indices, each with the epoch it is drawn in, so that the
    dataset can seed an image's augmentation from (seed, epoch, index)."""

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler, self.epoch = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        return ((i, self.epoch) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class _StreamedImages(torch.utils.data.Dataset):
    """Decode-on-access uint8 tensors for trees too large to hold in memory.

    JPEGs are decoded at reduced size (DCT scaling) as long as both sides stay at least the
    size the transform works at: ``size`` for training crops, the resize before the center
    crop for evaluation. Training crops (area fraction in ``[min_scale, 1]``) and flips are
    drawn from a seed of their own per (seed, epoch, image), not from the RNG of whichever
    worker process decodes the image: an epoch's augmentation is the same for any number of
    workers, and a run resumed at an epoch boundary (whose persistent workers start afresh)
    sees what an uninterrupted run sees."""

    def __init__(
        self,
        images: LabelledImages,
        size: int,
        train: bool,
        strict: bool,
        seed: int,
        min_scale: float = 0.08,
    ):
        from torchvision import transforms as T

        self.images, self.strict, self.train, self.seed = images, strict, train, seed
        resize = self.eval_resize(size)
        self.transform = (
            T.Compose([T.RandomResizedCrop(size, scale=(min_scale, 1.0)), T.RandomHorizontalFlip()])
            if train
            else partial(resize_crop, resize=resize, crop=size)
        )
        self.decode_size = size if train else resize

    @staticmethod
    def eval_resize(size: int) -> int:
        """The shorter side validation images are resized to before the centre crop."""
        return round(size * 256 / 224)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        from torchvision.transforms.functional import pil_to_tensor

        i, epoch = item if self.train else (item, 0)
        path, label = self.images.samples[i]
        try:
            image = load_image(path, self.decode_size)
        except ImageError as e:
            if self.strict:
                raise ImageError(f"{e} (--strict-data)") from None
            warnings.warn(f"skipped corrupt image {e}", CorruptImageWarning, stacklevel=2)
            return None
        if not self.train:
            return pil_to_tensor(self.transform(image)), label
        # torchvision's random transforms draw from the global RNG; fork it, so that without
        # worker processes the training loop's RNG (dropout) is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + i)
            return pil_to_tensor(self.transform(image)), label


def _collate_skipping(batch):
    batch = [b for b in batch if b is not None]
    if not batch:
        return torch.empty(0, 3, 1, 1, dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.stack([b[0] for b in batch]), torch.tensor([b[1] for b in batch])


class StreamedBatches:
    """DataLoader over image files with a DistributedSampler (``set_epoch`` each epoch)."""

    def __init__(
        self,
        images: LabelledImages,
        size: int,
        batch_size: int,
        *,
        train: bool,
        rank: int,
        world_size: int,
        seed: int,
        workers: int,
        pin_memory: bool,
        strict: bool,
        max_steps: int | None = None,
        min_scale: float = 0.08,
    ):
        dataset = _StreamedImages(images, size, train, strict, seed, min_scale)
        self.sampler = _sampler(
            len(dataset), train=train, rank=rank, world_size=world_size, seed=seed
        )
        n = len(self.sampler)
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=_EpochIndices(self.sampler) if train else self.sampler,
            # Its own generator for the workers' base seeds (unused: augmentation is seeded
            # per image), so that starting workers does not advance the global RNG.
            generator=torch.Generator(),
            num_workers=workers,
            pin_memory=pin_memory,
            drop_last=train and not keeps_last_batch(n, batch_size),
            collate_fn=_collate_skipping,
            persistent_workers=workers > 0,
        )
        self.max_steps = max_steps

    def set_epoch(self, epoch: int) -> None:
        self.loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]  # ours, see above

    def __len__(self) -> int:
        return min(len(self.loader), self.max_steps) if self.max_steps else len(self.loader)

    @property
    def num_samples(self) -> int:
        return len(self.sampler)

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size or 1

    @property
    def images_used(self) -> int:
        """Images this process trains on per epoch (a dropped partial batch is not)."""
        return min(len(self) * self.batch_size, len(self.sampler))

    def __iter__(self):
        for step, batch in enumerate(self.loader):
            if self.max_steps and step >= self.max_steps:
                return
            yield batch


@dataclass
class DataBundle:
    train: TensorBatches | StreamedBatches
    val: TensorBatches | StreamedBatches
    test: TensorBatches | StreamedBatches | None
    classes: list[str]
    val_source: str  # "val split" or "held out N of train"
    image_size: int
    # The training images without augmentation, shuffled, for recalibrate_bn (None unless
    # asked). They stay at decode_size; the recalibration resizes them to the evaluation side.
    calibration: TensorBatches | StreamedBatches | None = None
    # How validation images are made from a photo: the shorter side resized to [0], then the
    # centre [1] x [1] square (what a model file records as its preprocessing).
    eval_resize_crop: tuple[int, int] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def progressive_sizes(start: int | None, end: int, epochs: int, step: int = 16) -> list[int]:
    """Training side of each epoch for progressive resizing (as in FFCV's ResNet recipes and
    fast.ai's): linear from ``start`` to ``end`` over the first three quarters of the epochs,
    rounded down to a multiple of ``step``, then ``end``. Early low-resolution epochs cost
    less; the last ones train at the final side."""
    if start is None or start >= end:
        return [end] * epochs
    ramp = max(1, round(0.75 * (epochs - 1)))
    sizes = []
    for e in range(epochs):
        side = start + (end - start) * min(1.0, e / ramp)
        sizes.append(end if e >= ramp else max(start, int(side) // step * step))
    return sizes


def holdout(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` into (train, held-out) indices, reproducibly."""
    if fraction <= 0:
        raise DatasetError(
            "the data has no val/ split and val_fraction is 0: nothing to select "
            "the best checkpoint on (set val_fraction > 0)"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(10_000 + seed))
    k = max(1, round(n * fraction))
    if k >= n:
        raise DatasetError(f"cannot hold out {k} of {n} training images for validation")
    return perm[k:].sort().values, perm[:k].sort().values


def build_loaders(
    spec: DataSpec,
    *,
    image_size: int,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    epochs: int = 1,
    max_steps: int | None = None,
    recalibrate_bn: bool = False,
) -> DataBundle:
    """Open ``spec.path`` and make the three batch streams (errors come before training).
    ``image_size``: the training side when ``spec`` states none; ``epochs``: the length of
    progressive resizing; ``max_steps``: batches per training epoch at most;
    ``recalibrate_bn``: also keep the training images unaugmented (needs them in memory)."""
    path = spec.path
    fmt = detect_format(path) if spec.format == "auto" else spec.format
    in_memory = spec.in_memory
    # With random-resized crops, the training images are kept at decode_size and cropped
    # and resized to image_size batch by batch; validation is decoded at its own size.
    decode_size = spec.decode_size or image_size
    eval_size = spec.eval_size or image_size
    if in_memory == "auto":
        in_memory = "yes"
        if fmt == "imagefolder":
            n = len(scan_folder(path / "train").samples)
            in_memory = "yes" if n * 3 * decode_size**2 <= IN_MEMORY_LIMIT else "no"
    common = dict(rank=rank, world_size=world_size, seed=spec.seed)
    if in_memory == "yes":
        folder = fmt == "imagefolder"
        ds = load_decoded(
            path,
            fmt,
            image_size=decode_size if folder else None,
            eval_size=eval_size if folder else None,
            eval_crop=spec.eval_crop if folder else 1.0,
            strict=spec.strict,
            progress=spec.progress and rank == 0,
        )
        train = ds.splits["train"]
        if len(train) == 0:
            raise DatasetError(f"{path}: no training images")
        if "val" in ds.splits:
            tr_x, tr_y, va_x, va_y = train.images, train.labels, *_xy(ds.splits["val"])
            val_source = "val split"
        else:
            keep, held = holdout(len(train), spec.val_fraction, spec.seed)
            tr_x, tr_y = train.images[keep], train.labels[keep]
            va_x, va_y = train.images[held], train.labels[held]
            val_source = f"{len(held)} images held out of train"
        batch = train_batch(spec.batch_size, len(tr_y), world_size)
        size = tr_x.shape[-1]
        resized_crop = None
        if spec.crop_scale is not None:
            size = spec.image_size or size
            sizes = progressive_sizes(spec.image_size_start, size, epochs)
            resized_crop = (sizes, spec.crop_scale)
        mk = lambda x, y, train, bs: TensorBatches(  # noqa: E731
            x,
            y,
            bs,
            train=train,
            crop_padding=spec.crop_padding,
            flip=spec.flip,
            cutout=spec.cutout,
            resized_crop=resized_crop if train else None,
            pin_memory=pin_memory,
            max_steps=max_steps if train else None,
            **common,
        )
        eval_bs = max(spec.batch_size, 256)
        test = ds.splits.get("test")
        return DataBundle(
            mk(tr_x, tr_y, True, batch),
            mk(va_x, va_y, False, eval_bs),
            mk(*_xy(test), False, eval_bs) if test is not None else None,
            ds.classes,
            val_source,
            size,
            _calibration_batches(tr_x, tr_y, spec.batch_size, common) if recalibrate_bn else None,
            # Folders: as load_decoded resizes val; other formats hold images at their size.
            (round(eval_size / spec.eval_crop), eval_size) if folder else (va_x.shape[-1],) * 2,
        )
    if fmt != "imagefolder":
        raise DatasetError(f"{path}: in_memory 'no' is only for ImageFolder trees")
    if recalibrate_bn:
        raise DatasetError(f"{path}: recalibrate_bn needs the images in memory (in_memory: yes)")
    train_images = scan_folder(path / "train")
    classes = train_images.classes
    if (path / "val").is_dir():
        val_images, val_source = _scan_with(path / "val", classes), "val split"
    else:
        keep, held = holdout(len(train_images), spec.val_fraction, spec.seed)
        val_images = LabelledImages([train_images.samples[i] for i in held], classes)
        train_images = LabelledImages([train_images.samples[i] for i in keep], classes)
        val_source = f"{len(held)} images held out of train"
    test_images = _scan_with(path / "test", classes) if (path / "test").is_dir() else None
    batch = train_batch(spec.batch_size, len(train_images), world_size)
    # Streamed: torchvision's random-resized crops at image_size (area fraction from
    # crop_scale, else torchvision's 0.08); validation resized and centre-cropped at its size.
    mk_streamed = lambda imgs, train: StreamedBatches(  # noqa: E731
        imgs,
        image_size if train else eval_size,
        batch if train else spec.batch_size,
        min_scale=spec.crop_scale or 0.08,
        train=train,
        workers=spec.workers,
        pin_memory=pin_memory,
        strict=spec.strict,
        max_steps=max_steps if train else None,
        **common,
    )
    return DataBundle(
        mk_streamed(train_images, True),
        mk_streamed(val_images, False),
        mk_streamed(test_images, False) if test_images else None,
        classes,
        val_source,
        image_size,
        eval_resize_crop=(_StreamedImages.eval_resize(eval_size), eval_size),
    )


def train_batch(batch_size: int, n: int, world_size: int) -> int:
    """The training batch for ``n`` images over ``world_size`` processes: ``batch_size``,
    at most each process's share of the images."""
    return max(1, min(batch_size, n // world_size))


def _calibration_batches(images, labels, batch_size: int, common: dict) -> TensorBatches:
    """The training images for batch-norm recalibration: whole images, no augmentation, in
    a shuffled order. Image folders are sorted by class, and batch statistics of one class
    at a time would miss the variance between classes."""
    # The training sampler drops a last partial batch; a small dataset still fills one.
    batch_size = max(1, min(batch_size, len(labels) // common["world_size"]))
    return TensorBatches(
        images, labels, batch_size, train=True, crop_padding=0, flip=False, **common
    )


def _xy(split: TensorSplit) -> tuple[torch.Tensor, torch.Tensor]:
    return split.images, split.labels


def _scan_with(root: Path, classes: list[str]) -> LabelledImages:
    """Scan a val/test tree and index it by the training classes."""
    found = scan_folder(root)
    extra = sorted(set(found.classes) - set(classes))
    if extra:
        raise DatasetError(f"{root}: classes not in train/: {extra[:5]}")
    remap = {i: classes.index(c) for i, c in enumerate(found.classes)}
    return LabelledImages([(p, remap[y]) for p, y in found.samples], classes)
