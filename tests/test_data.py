"""Image decoding, labelled folders and preprocessing presets."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import normalize as torchvision_normalize

from squeezenet.data import (
    DatasetError,
    ImageError,
    get_preprocess,
    imagenet_class_list,
    load_image,
    read_class_list,
    scan_folder,
    short_name,
)
from squeezenet.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def _save(path, mode, color, size=(40, 30), **kw):
    Image.new(mode, size, color).save(path, **kw)
    return path


@pytest.mark.parametrize(
    "mode, color, fmt, expected",
    [
        ("L", 128, "PNG", (128, 128, 128)),
        ("CMYK", (0, 0, 0, 0), "JPEG", (255, 255, 255)),
        ("RGBA", (255, 0, 0, 0), "PNG", (255, 255, 255)),  # fully transparent -> white
        ("RGBA", (255, 0, 0, 255), "PNG", (255, 0, 0)),
        ("I;16", 65535, "PNG", (255, 255, 255)),
        ("P", 3, "GIF", None),
    ],
)
def test_modes_are_converted_to_rgb(tmp_path, mode, color, fmt, expected):
    path = _save(tmp_path / f"img.{fmt.lower()}", mode, color, format=fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (40, 30)
    if expected is not None:
        pixel = image.getpixel((5, 5))
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, expected)), pixel


def test_unreadable_images_are_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageError, match=f"{bad}: not a readable image"):
        load_image(bad)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(ImageError, match=f"{text}: not a readable image"):
        load_image(text)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")


def _photo(path, size, fmt="JPEG", mode="RGB"):
    """A smooth gradient (JPEG-friendly, unlike noise) of the given size."""
    w, h = size
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    pixels = np.broadcast_to((x + y) / 2, (h, w, 3)).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt)
    return path


@pytest.mark.parametrize(
    "size, min_size, expected",
    [
        ((2000, 1200), 256, (500, 300)),  # 1/4: 1/8 would leave 150 < 256
        ((2000, 1200), 150, (250, 150)),  # 1/8 exactly reaches 150
        ((2000, 1200), 151, (500, 300)),  # ... one pixel more needs 1/4
        ((1200, 2000), 600, (600, 1000)),  # portrait: the shorter side decides
        ((500, 375), 256, (500, 375)),  # 1/2 would be 188 < 256: decoded in full
    ],
)
def test_reduced_size_jpeg_decoding(tmp_path, size, min_size, expected):
    path = _photo(tmp_path / "big.jpg", size)
    image = load_image(path, min_size)
    assert image.mode == "RGB" and image.size == expected
    assert min(image.size) >= min_size
    assert load_image(path).size == size  # the exact path decodes in full
    # Reduced decoding then resizing matches a full decode resized alike, nearly.
    full = np.asarray(load_image(path).resize(expected, Image.BILINEAR), dtype=np.float32)
    assert np.abs(np.asarray(image, dtype=np.float32) - full).mean() < 3


def test_reduced_size_decoding_keeps_mode_conversions(tmp_path):
    gray = load_image(_photo(tmp_path / "gray.jpg", (1024, 1024), mode="L"), 200)
    assert gray.mode == "RGB" and gray.size == (256, 256)
    cmyk = load_image(_photo(tmp_path / "cmyk.jpg", (1024, 1024), mode="CMYK"), 200)
    assert cmyk.mode == "RGB" and cmyk.size == (256, 256)


def test_reduced_size_decoding_leaves_other_formats_alone(tmp_path):
    path = _photo(tmp_path / "big.png", (1024, 768), fmt="PNG")
    assert np.array_equal(np.asarray(load_image(path, 100)), np.asarray(load_image(path)))
    # A PNG named .jpg is still a PNG: decoded in full.
    renamed = _photo(tmp_path / "png.jpg", (1024, 768), fmt="PNG")
    assert load_image(renamed, 100).size == (1024, 768)


def test_reduced_size_decoding_names_unreadable_files(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ImageError, match=f"{bad}: not a readable image"):
        load_image(bad, 256)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(_photo(tmp_path / "whole.jpg", (1024, 768)).read_bytes()[:2000])
    with pytest.raises(ImageError, match=f"{truncated}: not a readable image"):
        load_image(truncated, 256)
    with pytest.raises(ImageError, match=f"{tmp_path / 'missing.jpg'}: no such file"):
        load_image(tmp_path / "missing.jpg", 256)


def test_reduced_size_decoding_keeps_the_pixel_limit(tmp_path, monkeypatch):
    import squeezenet.data.images as images

    path = _photo(tmp_path / "big.jpg", (2000, 1200))
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 2000 * 1200 - 1)
    with pytest.raises(ImageError, match=f"{path}: 2000 x 1200: the image is over the limit"):
        load_image(path, 256)


def test_preprocess_in_two_steps_is_the_same_arithmetic(tmp_path):
    image = load_image(_photo(tmp_path / "a.jpg", (300, 200)))
    for name in ("torchvision", "caffe"):
        preprocess = get_preprocess(name)
        crop = preprocess.crop_uint8(image)
        assert crop.dtype == torch.uint8 and crop.shape == (3, preprocess.crop, preprocess.crop)
        batch = preprocess.normalize(torch.stack([crop, crop]))
        assert torch.equal(batch[1], preprocess(image))
    assert get_preprocess("torchvision").decode_size == 256


def test_normalize_keeps_the_layout_and_the_input():
    # evaluate normalises channels-last uint8 batches to torchvision's exact values; a float
    # input is never scaled in place.
    preprocess = get_preprocess("torchvision")
    batch = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    last = batch.contiguous(memory_format=torch.channels_last)
    out = preprocess.normalize(last)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, preprocess.normalize(batch))
    floats = batch.float()
    kept = floats.clone()
    reference = torchvision_normalize(floats * (1 / 255), IMAGENET_MEAN, IMAGENET_STD)
    assert torch.equal(preprocess.normalize(floats), reference)  # the same bits
    assert torch.equal(floats, kept)


def test_presets_compute_the_documented_values(tmp_path):
    path = _save(tmp_path / "flat.png", "RGB", (10, 20, 30), size=(300, 260))
    image = load_image(path)
    tv = get_preprocess("torchvision")(image)
    assert tv.shape == (3, 224, 224)
    expected = [(10 / 255 - 0.485) / 0.229, (20 / 255 - 0.456) / 0.224, (30 / 255 - 0.406) / 0.225]
    torch.testing.assert_close(tv[:, 100, 100], torch.tensor(expected))
    caffe = get_preprocess("caffe")(image)
    assert caffe.shape == (3, 227, 227)
    # BGR order, 0..255 minus (104, 117, 123), no std.
    expected = torch.tensor([30 - 104.0, 20 - 117.0, 10 - 123.0])
    torch.testing.assert_close(caffe[:, 100, 100], expected)
    with pytest.raises(ValueError, match="unknown preprocessing preset 'tf'"):
        get_preprocess("tf")


def test_with_crop_keeps_the_resize_ratio():
    small = get_preprocess("torchvision").with_crop(112)
    assert (small.resize, small.crop) == (128, 112)


def _tree(root, counts):
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            _save(root / cls / f"{i}.png", "RGB", (i, i, i))
    return root


def test_imagefolder_tree(tmp_path):
    images = scan_folder(_tree(tmp_path / "data", {"cat": 2, "ant": 3}))
    assert images.classes == ["ant", "cat"]
    assert [label for _, label in images.samples] == [0, 0, 0, 1, 1]


def test_imagefolder_with_wnid_class_list(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("n001 tench, Tinca tinca\nn002 goldfish\n")
    images = scan_folder(_tree(tmp_path / "data", {"n002": 1}), classes)
    assert images.samples[0][1] == 1 and images.classes == ["tench, Tinca tinca", "goldfish"]
    assert read_class_list(classes) == (["n001", "n002"], ["tench, Tinca tinca", "goldfish"])


def test_flat_wnid_folder(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("n001 tench\nn002 goldfish\n")
    flat = tmp_path / "flat"
    flat.mkdir()
    _save(flat / "n002_goldfish.JPEG", "RGB", (1, 2, 3), format="JPEG")
    _save(flat / "n001_tench.JPEG", "RGB", (1, 2, 3), format="JPEG")
    assert [label for _, label in scan_folder(flat, classes).samples] == [0, 1]
    with pytest.raises(DatasetError, match="needs a class list"):
        scan_folder(flat)
    _save(flat / "n999_other.png", "RGB", (0, 0, 0))
    assert scan_folder(flat, classes).stray == [
        f"{flat / 'n999_other.png'}: file-name prefix 'n999' is not a class in {classes}"
    ]


def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="not a directory"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        scan_folder(tmp_path / "empty")
    root = _tree(tmp_path / "data", {"a": 1})
    (root / "b").mkdir()
    with pytest.raises(DatasetError, match="b: class folder holds no images"):
        scan_folder(root)
    assert np.array_equal(np.asarray(load_image(root / "a" / "0.png"))[0, 0], [0, 0, 0])


def test_packaged_imagenet_class_list():
    wnids, names = imagenet_class_list()
    assert len(wnids) == len(set(wnids)) == 1000
    assert (wnids[0], names[0]) == ("n01440764", "tench, Tinca tinca")
    assert (wnids[999], short_name(names[999])) == ("n15075141", "toilet tissue")
    # The names torchvision shows, apart from the two it renames to tell duplicates apart.
    from torchvision.models import SqueezeNet1_1_Weights

    categories = SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"]
    differ = [(c, short_name(n)) for c, n in zip(categories, names) if c != short_name(n)]
    assert differ == [("crane bird", "crane"), ("maillot tank suit", "maillot")]


def test_packaged_class_list_matches_the_reference_file(imagenet_classes):
    wnids, _ = read_class_list(imagenet_classes)
    assert wnids == imagenet_class_list()[0]


def test_flat_wnid_folder_with_the_packaged_list(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    _save(flat / "n01443537_goldfish.JPEG", "RGB", (1, 2, 3), format="JPEG")
    _save(flat / "n01440764_tench.JPEG", "RGB", (1, 2, 3), format="JPEG")
    images = scan_folder(flat, "imagenet")
    assert [label for _, label in images.samples] == [0, 1]  # files sorted by name
    # One file or folder that names no class is left out, named; the others are scored.
    _save(flat / "n999_other.png", "RGB", (0, 0, 0))
    (flat / "stray").mkdir()
    images = scan_folder(flat, "imagenet")
    assert len(images) == 2
    assert images.stray == [
        f"{flat / 'stray'}: a folder that is not a class in the ImageNet-1k class list",
        f"{flat / 'n999_other.png'}: file-name prefix 'n999' is not a class in the ImageNet-1k "
        "class list",
    ]
    only = tmp_path / "only"
    only.mkdir()
    _save(only / "n999_other.png", "RGB", (0, 0, 0))
    with pytest.raises(DatasetError, match="prefix 'n999' is not a class in the ImageNet-1k"):
        scan_folder(only, "imagenet")


def test_imagefolder_with_a_stray_folder(tmp_path):
    for name in ("n01440764", "n01443537", "notes"):
        (tmp_path / name).mkdir()
    _save(tmp_path / "n01440764" / "a.png", "RGB", (0, 0, 0))
    _save(tmp_path / "n01443537" / "b.png", "RGB", (0, 0, 0))
    images = scan_folder(tmp_path, "imagenet")
    assert [label for _, label in images.samples] == [0, 1]
    assert images.stray == [
        f"{tmp_path / 'notes'}: a folder that is not a class in the ImageNet-1k class list"
    ]
