"""Random-resized crops, progressive resizing and separate evaluation sizes for in-memory
photographs (the Imagenette recipe)."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_config, write_tree
from squeezenet.train import resolve_config
from squeezenet.train.data import build_data, progressive_sizes, random_resized_crop_flip


def _columns(n: int, side: int) -> torch.Tensor:
    """A uint8 batch whose pixel value is its column index."""
    return torch.arange(side, dtype=torch.uint8).expand(n, 3, side, side).clone()


def test_resized_crop_covers_at_least_the_minimum_area_and_keeps_the_content():
    x = _columns(256, 160)
    out = random_resized_crop_flip(x, 96, 0.35, False, torch.Generator().manual_seed(0))
    assert out.shape == (256, 3, 96, 96) and out.dtype == torch.uint8
    out = out.float()
    assert out.max() <= 159
    # Without flips the columns increase left to right: the crop is not mirrored.
    assert (out[:, 0, 0, -1] > out[:, 0, 0, 0]).all()
    # Each crop's width in source columns; with the aspect ratio at most 4/3 and the area at
    # least 0.35, the width is at least sqrt(0.35 * 3 / 4) of the image.
    width = (out[:, 0, 0, -1] - out[:, 0, 0, 0]) * 96 / 95
    assert width.min() >= (0.35 * 3 / 4) ** 0.5 * 160 - 2
    assert width.max() > 0.9 * 160  # and some crops cover nearly the whole width
    assert len({round(float(v)) for v in out[:, 0, 0, 0]}) > 50  # offsets vary


def test_resized_crop_flips_about_half_the_images():
    x = _columns(400, 64)
    out = random_resized_crop_flip(x, 32, 0.5, True, torch.Generator().manual_seed(1)).float()
    mirrored = (out[:, 0, 0, -1] < out[:, 0, 0, 0]).float().mean()
    assert 0.4 < mirrored < 0.6


def test_resized_crop_is_reproducible_from_the_generator():
    x = torch.randint(0, 256, (8, 3, 40, 40), dtype=torch.uint8)
    a = random_resized_crop_flip(x, 24, 0.3, True, torch.Generator().manual_seed(5))
    b = random_resized_crop_flip(x, 24, 0.3, True, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_progressive_sizes_ramp_then_hold():
    assert progressive_sizes(None, 128, 3) == [128, 128, 128]
    sizes = progressive_sizes(96, 128, 40)
    assert sizes[0] == 96 and sizes[-11:] == [128] * 11
    assert sizes == sorted(sizes) and set(sizes) == {96, 112, 128}
    assert progressive_sizes(96, 144, 10) == [96, 96, 96, 112, 112, 128, 128, 144, 144, 144]


def test_in_memory_folder_trains_on_crops_and_validates_at_its_own_size(tmp_path):
    tree = write_tree(tmp_path / "data", size=24)
    cfg = tiny_config(
        tree,
        tmp_path / "run",
        image_size=16,
        image_size_start=8,
        decode_size=24,
        eval_image_size=20,
        crop_scale=0.5,
        epochs=4,
    )
    data = build_data(cfg, rank=0, world_size=1, image_size=16, pin_memory=False)
    assert data.train.images.shape[-1] == 24  # kept at decode_size
    assert next(iter(data.val))[0].shape[-1] == 20
    seen = []
    for epoch in range(4):
        data.train.set_epoch(epoch)
        seen.append(next(iter(data.train))[0].shape[-1])
    assert seen == progressive_sizes(8, 16, 4) and seen[-1] == 16


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"crop_scale": 0}, "crop_scale must be in (0, 1]"),
        ({"crop_scale": 1.5}, "crop_scale must be in (0, 1]"),
        ({"decode_size": 0}, "decode_size must be a positive integer"),
        ({"eval_image_size": -3}, "eval_image_size must be a positive integer"),
    ],
)
def test_bad_crop_settings_are_refused(setting, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        resolve_config(None, {"data": "d", **setting})


def test_val_every_validates_every_nth_and_the_last_epoch(tmp_path):
    from squeezenet.train import fit

    tree = write_tree(tmp_path / "data")
    out = tmp_path / "run"
    result = fit(tiny_config(tree, out, epochs=5, val_every=2, select="best", plot=True))
    rows = (out / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    val = [row.split(",")[header.index("val_top1")] for row in rows[1:]]
    assert [bool(v) for v in val] == [False, True, False, True, True]
    assert result["best_epoch"] in (2, 4, 5)  # only validated epochs are candidates
    assert (out / "curves.png").stat().st_size > 0


def test_cropping_from_the_store_by_index_equals_cropping_the_gathered_batch():
    store = torch.randint(0, 256, (20, 3, 40, 40), dtype=torch.uint8)
    index = torch.tensor([7, 3, 3, 19, 0, 11])
    batch = random_resized_crop_flip(store[index], 24, 0.3, True, torch.Generator().manual_seed(2))
    direct = random_resized_crop_flip(
        store.contiguous(memory_format=torch.channels_last),
        24,
        0.3,
        True,
        torch.Generator().manual_seed(2),
        index,
    )
    assert torch.equal(batch, direct)
