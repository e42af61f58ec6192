"""Random-resized crops, progressive resizing and separate evaluation sizes for in-memory
photographs (the Imagenette recipe)."""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_config, write_tree
from squeezenet.data import DatasetError
from squeezenet.data.augment import random_resized_crop_flip
from squeezenet.data.loaders import build_loaders, progressive_sizes
from squeezenet.train import resolve_config


def _loaders(cfg):
    """The batches ``fit`` opens for ``cfg``, at 16 px."""
    return build_loaders(
        cfg.data_spec(),
        image_size=16,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps_per_epoch,
        recalibrate_bn=cfg.recalibrate_bn,
    )


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
    data = _loaders(cfg)
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


def test_val_every_validates_every_nth_and_the_last_epoch(tree, tmp_path):
    from squeezenet.train import fit

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


def _conv_bn(dropout: float = 0.0) -> torch.nn.Sequential:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Dropout(dropout), torch.nn.BatchNorm2d(4)
    )


def _stream(*batches):
    return [(x, torch.zeros(len(x), dtype=torch.long)) for x in batches]


def test_recalibrated_statistics_are_the_mean_of_the_batch_statistics_without_dropout():
    from squeezenet.engine import NormalizeBatch, recalibrate_batchnorm

    prepare = NormalizeBatch(torch.device("cpu"), (0.5,) * 3, (0.25,) * 3, channels_last=False)
    a, b = (torch.randint(0, 256, (n, 3, 12, 12), dtype=torch.uint8) for n in (6, 3))
    model = _conv_bn(dropout=0.9)
    model[2].momentum = 0.3
    model[2].running_mean.fill_(7.0)  # stale statistics are replaced, not blended
    seen = recalibrate_batchnorm(
        model, _stream(a, b), prepare, device=torch.device("cpu"), amp="off"
    )
    assert seen == 9
    with torch.no_grad():
        feats = [model[0](prepare(x, torch.zeros(1))[0]) for x in (a, b)]
    means = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    variances = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    assert torch.allclose(model[2].running_mean, means, atol=1e-5)
    assert torch.allclose(model[2].running_var, variances, rtol=1e-4)
    assert model[2].momentum == 0.3 and not model.training  # settings restored, eval mode


def test_recalibration_resizes_batches_to_the_evaluation_side():
    from squeezenet.engine import NormalizeBatch, recalibrate_batchnorm

    prepare = NormalizeBatch(torch.device("cpu"), (0.0,) * 3, (1 / 255,) * 3, channels_last=False)
    model, sides = _conv_bn(), []
    model[0].register_forward_hook(lambda m, inputs, out: sides.append(inputs[0].shape[-1]))
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    recalibrate_batchnorm(model, _stream(x), prepare, device=torch.device("cpu"), amp="off", size=8)
    assert sides == [8]


def test_recalibrate_bn_and_cutmix_in_a_run_and_recalibration_needs_batchnorm(tmp_path, capsys):
    from squeezenet.train import fit

    tree = write_tree(tmp_path / "data", size=24)
    out = tmp_path / "run"
    settings = dict(image_size=16, decode_size=24, eval_image_size=20, crop_scale=0.5, epochs=2)
    fit(tiny_config(tree, out, recalibrate_bn=True, cutmix=0.5, **settings))
    said = capsys.readouterr()
    assert "batch norm recalibrated on" in said.err + said.out
    # The statistics in the final checkpoint come from one pass over the training images,
    # in training-size batches, not from the training steps.
    cfg = tiny_config(tree, out, recalibrate_bn=True, **settings)
    data = _loaders(cfg)
    assert data.calibration is not None
    state = torch.load(out / "last.pt", weights_only=True)["model"]
    counts = {int(v) for k, v in state.items() if k.endswith("num_batches_tracked")}
    assert counts == {len(data.calibration)}
    with pytest.raises(ValueError, match="recalibrate_bn needs batchnorm"):
        resolve_config(None, {"data": "d", "batchnorm": False, "recalibrate_bn": True})


def test_cutmix_pastes_one_box_and_weighs_labels_by_area():
    from squeezenet.data.augment import CutMix

    x = torch.arange(8.0).view(8, 1, 1, 1).expand(8, 3, 20, 20).clone()
    y = torch.arange(8)
    mix = CutMix(1.0, seed=0, rank=0)
    mixed = 0
    for epoch in range(20):
        mix.set_epoch(epoch)
        out, pasted, lam = mix(x, y)
        if pasted is None:
            continue
        mixed += 1
        changed = out[:, 0] != x[:, 0]  # where an image shows another image's pixels
        moved = pasted != y  # images paired with themselves keep their pixels
        box = changed[moved.nonzero()[0, 0]]
        assert abs((1 - lam) - box.float().mean().item()) < 1e-6  # lam: area left of y
        rows, cols = box.any(1).nonzero().flatten(), box.any(0).nonzero().flatten()
        assert box.sum() == len(rows) * len(cols)  # one axis-aligned box
        # the box shows the pasted image's value
        assert torch.equal(out[:, 0][box.expand(8, -1, -1)].view(8, -1)[:, 0], pasted.float())
    assert mixed >= 15


def test_cutmix_is_reproducible_per_epoch_and_off_at_probability_zero():
    from squeezenet.data.augment import CutMix

    x, y = torch.randn(6, 3, 16, 16), torch.arange(6)
    a, b = CutMix(1.0, 3, 1), CutMix(1.0, 3, 1)
    a.set_epoch(4)
    b.set_epoch(4)
    out_a, pa, la = a(x, y)
    out_b, pb, lb = b(x, y)
    assert torch.equal(out_a, out_b) and torch.equal(pa, pb) and la == lb
    off = CutMix(0.0, 3, 1)
    off.set_epoch(0)
    out, pasted, lam = off(x, y)
    assert out is x and pasted is None and lam == 1.0
    with pytest.raises(ValueError, match="cutmix must be a probability"):
        resolve_config(None, {"data": "d", "cutmix": 1.5})


def test_calibration_batches_are_whole_training_images_in_shuffled_order(tmp_path):
    tree = write_tree(tmp_path / "data", size=24)
    settings = dict(image_size=16, decode_size=24, crop_scale=0.5, batch_size=4)
    cfg = tiny_config(tree, tmp_path / "run", recalibrate_bn=True, **settings)
    data = _loaders(cfg)
    assert data.calibration is not None
    store = data.train.images
    labels = []
    for x, y in data.calibration:
        assert x.shape[-1] == 24  # whole images at decode_size: no crop, no resize
        # each one is a stored training image, unchanged (no flip)
        assert all((store == image).flatten(1).all(1).any() for image in x)
        labels += y.tolist()
    # the folder is sorted by class; the calibration order is not
    assert labels != sorted(labels)
    streamed = tiny_config(tree, tmp_path / "run2", recalibrate_bn=True, in_memory="no")
    with pytest.raises(DatasetError, match="recalibrate_bn needs the images in memory"):
        _loaders(streamed)


def test_a_data_spec_by_hand_opens_what_the_config_opens(tmp_path):
    from squeezenet.data.spec import DEFAULTS, DataSpec
    from squeezenet.train import TrainConfig

    tree = write_tree(tmp_path / "data", size=24)
    spec = DataSpec(tree, image_size=16, batch_size=6, crop_padding=2, progress=False)
    by_hand = build_loaders(spec, image_size=16)
    cfg = tiny_config(tree, tmp_path / "run")
    assert cfg.data_spec() == spec
    from_config = _loaders(cfg)
    assert (by_hand.classes, by_hand.val_source) == (from_config.classes, from_config.val_source)
    assert len(by_hand.train) == len(from_config.train)
    # The configuration repeats none of the data section's defaults.
    assert {n: getattr(TrainConfig(), n) for n in DEFAULTS} == DEFAULTS


@pytest.mark.parametrize(
    "change, message",
    [
        ({"eval_crop": 0}, r"eval_crop must be in \(0, 1\]"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"eval_size": -3}, "eval_image_size must be a positive integer"),
        ({"in_memory": "maybe"}, "in_memory must be one of auto, yes, no"),
    ],
)
def test_a_data_spec_refuses_what_no_loader_can_use(change, message):
    from squeezenet.data.spec import DataSpec

    with pytest.raises(ValueError, match=message):
        DataSpec("data", **change)
