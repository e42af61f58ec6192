"""Reading images and labelled image collections (ImageFolder trees and flat wnid folders)."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
# Images larger than this are refused before decoding (a 30000x30000 PNG of a few KB would
# need 2.7 GB): 8192 x 8192, below PIL's own decompression-bomb warning threshold.
MAX_IMAGE_PIXELS = 8192 * 8192
# Thin images are refused too: resizing the shorter side to 256 multiplies the longer one by
# 256 / shorter, so a 1 x 67,108,864 strip (under the pixel limit) would become 17 billion
# pixels wide. Refused before decoding, by their declared size.
MAX_ASPECT_RATIO = 32
# A few bytes of GIF or PNG can declare tens of millions of flat pixels. Above 4096 x 4096,
# an image may declare at most this many pixels per byte of its file (photographs hold a few
# per byte; deflate's best ratio is about 1,000 bytes to one): a small file never makes a
# reader allocate hundreds of megabytes.
FREE_PIXELS = 4096 * 4096
MAX_PIXELS_PER_BYTE = 1024


class ImageError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


class DatasetError(ValueError):
    """A data directory that cannot be used as given; the message says why."""


def load_image(path: str | os.PathLike, min_size: int | None = None) -> Image.Image:
    """Open any image PIL can decode as 8-bit RGB.

    Grayscale, palette, CMYK and 16-bit images are converted; transparent pixels
    (RGBA, LA, palette with transparency) are composited onto white rather than black.
    Images over ``MAX_IMAGE_PIXELS`` are refused before their pixels are decoded.

    ``min_size``: the shorter side the caller will resize to. A JPEG is then decoded at the
    smallest DCT scale (1/1, 1/2, 1/4 or 1/8) whose width and height both stay at least
    ``min_size`` (at least the original size if it is smaller): much less work for large
    photos, pixels slightly different from a full decode followed by the same resize.
    Other formats, and ``min_size=None``, decode exactly.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            # Opening a FIFO waits for a writer that may never come; a device never ends.
            raise ImageError(f"{path}: not a regular file (a FIFO, device or socket); not read")
        with Image.open(path) as im:
            _check_size(im.size, path)
            _check_density(im.size, os.path.getsize(path), path)
            if im.format == "PNG":
                _check_png_chunks(path)
            if min_size is not None and im.format == "JPEG":
                # PIL picks the largest scale 1/s with s <= min(w, h) // min_size, so both
                # sides of the reduced image are >= min_size.
                im.draft("RGB", (min_size, min_size))
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            if im.mode == "I;16" or im.mode == "I":
                # 16/32-bit grayscale: scale to 8 bits instead of clipping.
                im = im.point(lambda v: v / 256).convert("L")
            return im.convert("RGB")
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Image.DecompressionBombError:  # PIL's own check, in Image.open, fires first
        raise ImageError(f"{path}: {_TOO_LARGE}") from None
    except MemoryError:  # a decoder sized a buffer by a corrupt field; name the file
        raise ImageError(
            f"{path}: not a readable image (it needs more memory than is available)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{path}: not a readable image ({e})") from None


_TOO_LARGE = f"the image is over the limit of {MAX_IMAGE_PIXELS:,} pixels (8192 x 8192)"


def _check_size(size: tuple[int, int], path) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(f"{path}: {width} x {height}: {_TOO_LARGE}")
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise ImageError(
            f"{path}: {width} x {height}: the sides' ratio is over the limit of "
            f"{MAX_ASPECT_RATIO}:1 (resizing it would need "
            f"{max(width, height) * 256 // max(1, min(width, height)):,} pixels per row)"
        )


def _check_density(size: tuple[int, int], file_bytes: int, path) -> None:
    pixels = size[0] * size[1]
    if pixels > max(FREE_PIXELS, MAX_PIXELS_PER_BYTE * file_bytes):
        raise ImageError(
            f"{path}: {size[0]} x {size[1]} pixels from a file of {file_bytes:,} bytes: "
            f"over {MAX_PIXELS_PER_BYTE:,} pixels per byte above 4096 x 4096 (a "
            "decompression bomb)"
        )


def _check_png_chunks(path) -> None:
    """Refuse a PNG chunk that declares more bytes than the file holds: PIL reads the rest
    of a chunk in one call, allocating what the length field says (2 GiB from a 73-byte
    file) before finding the file short."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        offset = 8
        while offset + 8 <= size:
            f.seek(offset)
            length = int.from_bytes(f.read(4), "big")
            kind = f.read(4)
            if offset + 12 + length > size:
                raise ImageError(
                    f"{path}: PNG chunk {kind.decode('latin-1')!r} declares {length:,} bytes, "
                    "past the end of the file"
                )
            if kind == b"IEND":
                return
            offset += 12 + length


#: How JPEGs are decoded: "fast" at a reduced size (DCT scaling) that keeps what the
#: preprocessing needs, "exact" in full.
DECODE_MODES = ("fast", "exact")


def decode_min_size(decode: str, size: int | None) -> int | None:
    """The ``min_size`` :func:`load_image` gets under ``decode``: ``size`` (what the
    preprocessing resizes to) for ``fast``, None (full decoding) for ``exact``."""
    if decode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {DECODE_MODES}, got {decode!r}")
    return size if decode == "fast" else None


def load_transformed(
    path: str | os.PathLike, transform: Callable[[Image.Image], torch.Tensor], min_size=None
) -> torch.Tensor:
    """``transform(load_image(path, min_size))``; a failure of either (a resize that cannot
    be done) is an :class:`ImageError` naming the file, so a caller can skip just it."""
    image = load_image(path, min_size)
    try:
        return transform(image)
    except ImageError:
        raise
    except (ValueError, OverflowError, MemoryError) as e:
        raise ImageError(f"{path}: cannot be preprocessed ({e})") from None


def is_image_name(name: str) -> bool:
    """Whether a file or zip-member name ends in one of ``IMAGE_EXTENSIONS``."""
    return not name.endswith("/") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_image_file(path: Path) -> bool:
    return path.is_file() and is_image_name(path.name)


def list_images(folder: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """The image files under ``folder`` (recursively) and the links there that lead nowhere
    (dangling, or a loop), each sorted."""
    found = list(Path(folder).rglob("*"))
    return sorted(p for p in found if is_image_file(p)), sorted(filter(is_broken_link, found))


def zip_image_names(z: zipfile.ZipFile) -> list[str]:
    """The members of ``z`` named as images, in the archive's order."""
    return [n for n in z.namelist() if is_image_name(n)]


def open_zip_image(z: zipfile.ZipFile, name: str, source: str | os.PathLike) -> Image.Image:
    """Member ``name`` of ``z`` (the archive ``source``) decoded as RGB."""
    try:
        with Image.open(io.BytesIO(z.read(name))) as im:
            return im.convert("RGB")
    except OSError as e:
        raise ImageError(f"{source}!{name}: not a readable image ({e})") from None


def is_broken_link(path: Path) -> bool:
    """A symbolic link that leads nowhere: dangling, or a loop."""
    return path.is_symlink() and not path.exists()


def read_class_list(path: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Parse ``<wnid> <names>`` lines (ImageNet class-index order) -> (wnids, names); a
    file that is not such text (a model file given by mistake, control characters that
    would reach the terminal) is a DatasetError naming it."""
    wnids, names = [], []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                if not line.isprintable():
                    raise DatasetError(
                        f"{path}: line {number} of the class list holds control characters"
                    )
                wnid, _, name = line.partition(" ")
                wnids.append(wnid)
                names.append(name.strip() or wnid)
    except UnicodeDecodeError:
        raise DatasetError(
            f"{path}: not a class list (UTF-8 text of '<wnid> <names>' lines); is it a model file?"
        ) from None
    if not wnids:
        raise DatasetError(f"{path}: the class list is empty")
    return wnids, names


# The ILSVRC-2012 (ImageNet-1k) classes in class-index order: "<wnid> <WordNet lemmas>".
IMAGENET_CLASSES = Path(__file__).with_name("imagenet_classes.txt")


def imagenet_class_list() -> tuple[list[str], list[str]]:
    """The ImageNet-1k class list that ships with the package -> (wnids, names)."""
    return read_class_list(IMAGENET_CLASSES)


def short_name(name: str) -> str:
    """The first of a class's comma-separated names ("tench, Tinca tinca" -> "tench")."""
    return name.split(",", 1)[0].strip() or name


@dataclass
class LabelledImages:
    """A list of ``(path, class index)`` with the class names."""

    samples: list[tuple[Path, int]]
    classes: list[str]
    # Links found where images were looked for that lead nowhere (dangling, or a loop).
    broken: list[Path] = field(default_factory=list)
    # What was left out, and why: a folder that names no class, a file whose name does not.
    stray: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)


def scan_folder(
    root: str | os.PathLike, class_list: str | os.PathLike | Sequence[str] | None = None
) -> LabelledImages:
    """Label the images under ``root``.

    * ImageFolder layout (``root/<class>/<image>``): classes are the sub-folder names, sorted
      (for ImageNet wnid folders that is the standard class order), or their position in
      ``class_list`` when one is given.
    * Flat layout (``root/<wnid>_<anything>.JPEG``): needs ``class_list``; each file's class is
      the position of its wnid prefix in it.

    ``class_list`` is a ``<wnid> <names>`` file, ``"imagenet"`` for the ImageNet-1k list that
    ships with the package, or the class names a model file carries (a list: folder names
    and file-name prefixes are matched against them). With a class list, a folder or file
    that names none of its classes is left out and listed in ``stray`` (all of them: an
    error, the class list is likely the wrong one).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    wnids, names, described = _class_list(class_list)
    found = list(root.iterdir())
    subdirs, stray = _class_folders(root, found, wnids, described)
    if subdirs:
        return _scan_class_folders(subdirs, wnids, names, stray)
    files = sorted(p for p in found if is_image_file(p))
    if not files:
        raise DatasetError(f"{root}: no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
    if wnids is None:
        raise DatasetError(
            f"{root}: a flat folder of images needs a class list (--classes) to map "
            "file-name prefixes such as n01440764_ to class indices"
        )
    index = {w: i for i, w in enumerate(wnids)}
    samples = []
    for p in files:
        prefix = p.name.split("_", 1)[0]
        if prefix in index:
            samples.append((p, index[prefix]))
        else:
            stray.append(f"{p}: file-name prefix {prefix!r} is not a class in {described}")
    if not samples:
        raise DatasetError(stray[-1])
    broken = sorted(p for p in found if is_broken_link(p))
    return LabelledImages(samples, list(names), broken, stray)


def _class_list(
    class_list: str | os.PathLike | Sequence[str] | None,
) -> tuple[list[str] | None, list[str], object]:
    """(wnids or None, names, how messages name the list) of a ``scan_folder`` class list."""
    if class_list == "imagenet":
        wnids, names = imagenet_class_list()
        return wnids, names, "the ImageNet-1k class list"
    if isinstance(class_list, (str, os.PathLike)):
        wnids, names = read_class_list(class_list)
        return wnids, names, class_list
    if class_list is not None:
        return list(class_list), list(class_list), "the model's classes"
    return None, [], None


def _class_folders(
    root: Path, found: list[Path], wnids: list[str] | None, described: object
) -> tuple[list[Path], list[str]]:
    """The sub-folders of ``root`` that are classes (none: a flat folder of images) and the
    ones left out as stray."""
    subdirs = sorted(p for p in found if p.is_dir())
    if wnids is None or not subdirs:
        return subdirs, []
    known = [d for d in subdirs if d.name in wnids]
    stray = [f"{d}: a folder that is not a class in {described}" for d in subdirs]
    if not known and any(is_image_file(p) for p in found):
        return [], stray  # a flat folder of images, with a stray folder among them
    if not known:
        unknown = [d.name for d in subdirs]
        raise DatasetError(f"{root}: folders not in {described}: {unknown[:5]}")
    return known, [s for d, s in zip(subdirs, stray) if d not in known]


def _scan_class_folders(
    subdirs: list[Path], wnids: list[str] | None, names: list[str], stray: list[str]
) -> LabelledImages:
    """An ImageFolder tree: each sub-folder's images, labelled by its name."""
    classes = [p.name for p in subdirs]
    index = {c: i for i, c in enumerate(classes)}
    if wnids is not None:
        index = {w: i for i, w in enumerate(wnids)}
        classes = list(names)
    samples: list[tuple[Path, int]] = []
    broken: list[Path] = []
    for d in subdirs:
        files, bad = list_images(d)
        broken += bad
        if not files:
            raise DatasetError(f"{d}: class folder holds no images")
        samples += [(p, index[d.name]) for p in files]
    return LabelledImages(samples, classes, broken, stray)


class ImageDataset(torch.utils.data.Dataset):
    """Decode + preprocess each sample on access (errors name the file).

    ``decode_size``: passed to :func:`load_image` as ``min_size`` (reduced-size JPEG
    decoding); None decodes exactly."""

    def __init__(
        self,
        images: LabelledImages,
        transform: Callable[[Image.Image], torch.Tensor],
        decode_size: int | None = None,
    ):
        self.images = images
        self.transform = transform
        self.decode_size = decode_size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.images.samples[i]
        return load_transformed(path, self.transform, self.decode_size), label


class TolerantImages(torch.utils.data.Dataset):
    """``(path, label)`` samples, each read by ``read(path)``; an image that cannot be read
    (an :class:`ImageError`) becomes ``(None, label, its message)`` rather than an exception,
    so that the message reaches the main process as the project's own, not as a worker's
    traceback, and the rest of its batch is still used. A read image is ``(value, label,
    "")``. The one way commands read images and skip the bad ones."""

    def __init__(self, samples: Sequence[tuple[Path, int]], read: Callable[[Path], object]):
        self.samples, self.read = samples, read

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[object, int, str]:
        path, label = self.samples[i]
        try:
            return self.read(path), label, ""
        except ImageError as e:
            return None, label, str(e)


def default_class_list(
    explicit: str | None, num_classes: int, model_classes: Sequence[str] | None = None
) -> str | Sequence[str] | None:
    """The class list to label images with: ``explicit`` if given, else the class names the
    model's file carries, else the packaged ImageNet-1k list (``"imagenet"``) for 1000-class
    models, else None (the classes are then the sorted folder names)."""
    if explicit:
        return explicit
    if model_classes is not None:
        return model_classes
    return "imagenet" if num_classes == 1000 else None
