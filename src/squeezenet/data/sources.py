"""Decode a labelled dataset once into uint8 tensors ``(N, 3, H, W)``, cached on disk.

Three sources are understood:

* the CIFAR-10 JPEG archive (``cifar10/{train,test}/<class>/NNNN.jpg`` inside a zip),
* an ImageFolder tree (``root/train/<class>/...`` and optionally ``root/val/<class>/...``),
* torchvision's CIFAR-10 python format (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``), read with a restricted unpickler that only rebuilds numpy arrays.

Small datasets are decoded once and kept in memory so the training loop spends its CPU time
on the model rather than on per-image Python work; the decoded tensors are cached under
``$SQUEEZENET_CACHE`` (default ``~/.cache/squeezenet``) keyed by the source's size and mtime.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..files import torch_save
from .images import (
    DECODE_MODES,
    DatasetError,
    ImageError,
    TolerantImages,
    list_images,
    load_image,
    open_zip_image,
    zip_image_names,
)
from .transforms import resize_crop

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
_CACHE_VERSION = 1


class CorruptImageWarning(UserWarning):
    """An image was skipped because it cannot be decoded."""


@dataclass
class TensorSplit:
    """One split of a decoded dataset: ``images`` uint8 (N, 3, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DecodedDataset:
    """Decoded splits by name (``train``, and ``val`` and/or ``test`` when the source has them)."""

    classes: list[str]
    splits: dict[str, TensorSplit]
    source: str


def cache_dir() -> Path:
    root = os.environ.get("SQUEEZENET_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "squeezenet"


def _source_key(path: Path, extra: str) -> str:
    """Identify a file or tree by its path, size and mtime (cheap; no full hash of 130 MB)."""
    parts = [str(path.resolve()), extra, str(_CACHE_VERSION)]
    if path.is_file():
        st = path.stat()
        parts += [str(st.st_size), str(st.st_mtime_ns)]
    else:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                parts += [str(p.relative_to(path)), str(st.st_size), str(st.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _to_cache(ds: DecodedDataset) -> dict:
    return {
        "version": _CACHE_VERSION,
        "classes": ds.classes,
        "source": ds.source,
        "splits": {
            k: {"images": s.images, "labels": s.labels, "skipped": s.skipped}
            for k, s in ds.splits.items()
        },
    }


def _from_cache(obj: dict) -> DecodedDataset:
    splits = {
        k: TensorSplit(v["images"], v["labels"], list(v["skipped"]))
        for k, v in obj["splits"].items()
    }
    return DecodedDataset(list(obj["classes"]), splits, obj["source"])


def _warn_skipped(ds: DecodedDataset, strict: bool) -> None:
    for split in ds.splits.values():
        for msg in split.skipped:
            if strict:
                raise ImageError(f"{msg} (--strict-data)")
            warnings.warn(f"skipped corrupt image {msg}", CorruptImageWarning, stacklevel=3)


def _fit(image: Image.Image, size: int | None, resize: int | None = None) -> Image.Image:
    """Resize the shorter side to ``resize`` (default ``size``) and center-crop a ``size``
    square (no-op when it fits)."""
    if size is None or (image.size == (size, size) and resize in (None, size)):
        return image
    return resize_crop(image, resize or size, size)


def _stack(
    arrays: list[np.ndarray], labels: list[int], skipped: list[str], where: str
) -> TensorSplit:
    if not arrays:
        raise DatasetError(f"{where}: no decodable images")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DatasetError(f"{where}: images differ in size {sorted(shapes)[:3]}; set image_size")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return TensorSplit(images, torch.tensor(labels, dtype=torch.int64), skipped)


# -- CIFAR-10 JPEG zip ----------------------------------------------------------------------------
def _decode_zip(path: Path, size: int | None, progress: bool) -> DecodedDataset:
    from tqdm import tqdm

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DatasetError(f"{path}: not a readable zip archive ({e})") from None
    with zf:
        members: dict[str, dict[str, list[str]]] = {}
        for name in zip_image_names(zf):
            parts = name.split("/")
            # <top>/<split>/<class>/<file>; tolerate a missing top folder.
            if len(parts) >= 3:
                split, cls = parts[-3], parts[-2]
                members.setdefault(split, {}).setdefault(cls, []).append(name)
        if "train" not in members:
            raise DatasetError(f"{path}: no train/<class>/<image> entries in the archive")
        classes = sorted(members["train"])
        splits = {}
        for split, by_class in sorted(members.items()):
            if split not in ("train", "val", "test"):
                continue
            unknown = sorted(set(by_class) - set(classes))
            if unknown:
                raise DatasetError(f"{path}: {split}/ has classes not in train/: {unknown[:5]}")
            arrays, labels, skipped = [], [], []
            names = [(n, classes.index(c)) for c in sorted(by_class) for n in sorted(by_class[c])]
            for name, label in tqdm(
                names,
                desc=f"decode {split}",
                unit="img",
                disable=not progress,
                file=__import__("sys").stderr,
                leave=False,
            ):
                try:
                    im = _fit(open_zip_image(zf, name, path), size)
                    arrays.append(np.asarray(im, dtype=np.uint8))
                except Exception as e:  # noqa: BLE001 - any decode failure means a bad member
                    skipped.append(str(e) if isinstance(e, ImageError) else f"{path}!{name} ({e})")
                    continue
                labels.append(label)
            splits[split] = _stack(arrays, labels, skipped, f"{path}:{split}/")
    return DecodedDataset(classes, splits, str(path))


# -- ImageFolder tree -------------------------------------------------------------------------
#: Decode a split in worker processes from this many images on (below, starting the
#: processes costs more than it saves).
PARALLEL_DECODE_FROM = 1000


def decode_workers(n_images: int) -> int:
    """Worker processes for decoding ``n_images`` once: one per CPU (at most 4), none for
    small sets."""
    if n_images < PARALLEL_DECODE_FROM:
        return 0
    return min(4, os.cpu_count() or 1)


def _fit_file(path: Path, size: int | None, fast: bool, resize: int | None) -> np.ndarray:
    """An HWC uint8 array of the image at ``path``: decoded at reduced size where ``size``
    allows (``fast``), resized and center-cropped to ``size``."""
    side = resize or size
    image = _fit(load_image(path, side if fast else None), size, resize)
    return np.asarray(image, dtype=np.uint8)


def _fit_files(
    files: list[tuple[Path, int]], size: int | None, fast: bool, resize: int | None = None
) -> TolerantImages:
    """``(path, label)`` -> ``(HWC uint8 array or None, label, error message)``."""
    return TolerantImages(files, partial(_fit_file, size=size, fast=fast, resize=resize))


def _as_list(batch: list) -> list:
    return batch


def _decode_files(dataset: TolerantImages, workers: int, desc: str, progress: bool):
    """Yield ``_fit_files`` items in order, decoded by ``workers`` processes (0: here)."""
    from tqdm import tqdm

    bar = tqdm(
        total=len(dataset),
        desc=desc,
        unit="img",
        disable=not progress,
        file=__import__("sys").stderr,
        leave=False,
    )
    with bar:
        if workers == 0:
            for i in range(len(dataset)):
                yield dataset[i]
                bar.update()
            return
        # spawn, not fork: forking a process that has already run torch's thread pools can
        # deadlock the children.
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=64,
            num_workers=workers,
            collate_fn=_as_list,
            multiprocessing_context="spawn",
            # Its own generator: the loader draws its workers' base seed from it, and drawing
            # from the global RNG instead would shift the model's initial weights, seeded
            # before the data is read, whenever the decode cache is cold.
            generator=torch.Generator(),
        )
        for batch in loader:
            yield from batch
            bar.update(len(batch))


def _decode_folder_split(
    root: Path,
    classes: list[str],
    size: int | None,
    progress: bool,
    workers: int | None = None,
    fast: bool = True,
    resize: int | None = None,
) -> TensorSplit:
    files: list[tuple[Path, int]] = []
    for label, cls in enumerate(classes):
        d = root / cls
        if not d.is_dir():
            continue
        found = list_images(d)[0]
        if not found:
            raise DatasetError(f"{d}: class folder holds no images")
        files += [(p, label) for p in found]
    if not files:
        raise DatasetError(f"{root}: no images")
    workers = decode_workers(len(files)) if workers is None else workers
    arrays, labels, skipped = [], [], []
    dataset = _fit_files(files, size, fast, resize)
    for array, label, error in _decode_files(dataset, workers, f"decode {root.name}", progress):
        if array is None:
            skipped.append(error)
            continue
        arrays.append(array)
        labels.append(label)
    if size is None:
        sizes = {a.shape[:2] for a in arrays}
        if len(sizes) > 1:
            raise DatasetError(
                f"{root}: images have different sizes; set image_size to decode them into memory"
            )
    return _stack(arrays, labels, skipped, str(root))


def folder_classes(root: Path) -> list[str]:
    """Class names of an ImageFolder split (sorted sub-folders); errors name the problem."""
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DatasetError(f"{root}: no class folders (expected {root}/<class>/<image>)")
    return classes


def _decode_folder(
    root: Path,
    size: int | None,
    progress: bool,
    workers: int | None,
    fast: bool,
    eval_size: int | None = None,
    eval_resize: int | None = None,
) -> DecodedDataset:
    classes = folder_classes(root / "train")
    decode = lambda split, side, resize=None: _decode_folder_split(  # noqa: E731
        root / split, classes, side, progress, workers, fast, resize
    )
    splits = {"train": decode("train", size)}
    for name in ("val", "test"):
        if (root / name).is_dir():
            extra = sorted(set(folder_classes(root / name)) - set(classes))
            if extra:
                raise DatasetError(f"{root / name}: classes not in train/: {extra[:5]}")
            splits[name] = decode(name, eval_size or size, eval_resize)
    return DecodedDataset(classes, splits, str(root))


# -- torchvision CIFAR-10 (python pickles) ------------------------------------------------------
class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuild only plain containers and numpy arrays: the batches are pickles, and a pickle
    from an untrusted download must not be able to run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One ``cifar-10-batches-py`` file -> (N, 3, 32, 32) uint8 array, labels."""
    try:
        with open(path, "rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="latin1").load()
        data = np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [int(v) for v in d["labels"]]
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing CIFAR-10 batch file") from None
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as e:
        raise DatasetError(f"{path}: not a CIFAR-10 python batch ({e})") from None
    if len(labels) != len(data):
        raise DatasetError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _decode_torchvision(root: Path) -> DecodedDataset:
    batches = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    splits = {}
    for split, names in (
        ("train", [f"data_batch_{i}" for i in range(1, 6)]),
        ("test", ["test_batch"]),
    ):
        parts = [read_cifar_batch(batches / n) for n in names]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        labels = torch.tensor([v for p in parts for v in p[1]], dtype=torch.int64)
        splits[split] = TensorSplit(images, labels)
    return DecodedDataset(list(CIFAR10_CLASSES), splits, str(root))


def detect_format(path: Path) -> str:
    """``cifar10-zip``, ``torchvision-cifar10`` or ``imagefolder`` from what is at ``path``."""
    if path.is_file():
        if zipfile.is_zipfile(path):
            return "cifar10-zip"
        raise DatasetError(f"{path}: a file that is not a zip archive")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such file or directory")
    if (path / "cifar-10-batches-py").is_dir() or (path / "data_batch_1").is_file():
        return "torchvision-cifar10"
    if (path / "train").is_dir():
        return "imagefolder"
    raise DatasetError(
        f"{path}: expected a zip archive, a folder with train/<class>/ "
        "(and val/<class>/), or torchvision's cifar-10-batches-py"
    )


def load_decoded(
    path: str | os.PathLike,
    fmt: str = "auto",
    image_size: int | None = None,
    strict: bool = False,
    use_cache: bool = True,
    progress: bool = True,
    decode: str = "fast",
    workers: int | None = None,
    eval_size: int | None = None,
    eval_crop: float = 1.0,
) -> DecodedDataset:
    """Decode the dataset at ``path`` (or load it from the cache).

    ImageFolder trees: images are resized to ``image_size`` (train) and ``eval_size`` (val,
    test; default ``image_size``), val and test resized to ``eval_size / eval_crop`` first
    and centre-cropped (``squeezenet evaluate``'s 256/224 is ``eval_crop`` 0.875). With
    ``decode="fast"`` and an ``image_size``, JPEGs are
    decoded at reduced size (DCT scaling) as long as both sides stay >= the target size;
    ``"exact"`` decodes them in full. ``workers`` decoding processes (default:
    :func:`decode_workers`).
    """
    if decode not in DECODE_MODES:
        raise ValueError(f"decode must be 'fast' or 'exact', got {decode!r}")
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    eval_side = eval_size or image_size
    eval_resize = None
    if eval_crop != 1.0 and eval_side is not None:
        eval_resize = round(eval_side / eval_crop)
    decoders = {
        "cifar10-zip": lambda: _decode_zip(path, image_size, progress),
        "imagefolder": lambda: _decode_folder(
            path, image_size, progress, workers, decode == "fast", eval_size, eval_resize
        ),
        "torchvision-cifar10": lambda: _decode_torchvision(path),
    }
    if fmt not in decoders:
        raise DatasetError(f"unknown data format {fmt!r}; choose from {sorted(decoders)}")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    # Reduced-size decoding changes pixels: its cache is not the exact one.
    reduced = fmt == "imagefolder" and image_size is not None and decode == "fast"
    sizes = f"{image_size}" if eval_size in (None, image_size) else f"{image_size}/{eval_size}"
    if eval_resize is not None and fmt == "imagefolder":
        sizes += f"@{eval_resize}"
    key = f"{fmt}:{sizes}" + (":fast" if reduced else "")
    cache = cache_dir() / f"{fmt}-{_source_key(path, key)}.pt"
    if use_cache and cache.is_file():
        try:
            ds = _from_cache(torch.load(cache, map_location="cpu", weights_only=True))
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
            ds = None
        if ds is not None:
            _warn_skipped(ds, strict)
            return ds
    ds = decoders[fmt]()
    _warn_skipped(ds, strict)
    if use_cache:
        try:
            torch_save(_to_cache(ds), cache)
        except OSError as e:
            warnings.warn(f"could not write the decoded-data cache {cache}: {e}", stacklevel=2)
    return ds
