"""Defaults for a few hundred of one's own photos (issue 26): the batch fits the data and the
header says what an epoch uses, a warning for epochs of a handful of steps, the model read
from the weights file or the data, photo augmentation and evaluate's validation crop for
photo folders, the fine-tuning settings, unusable weights refused before any data is read
and without leaving a run folder."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import write_tree
from squeezenet import create_model
from squeezenet.data.loaders import TensorBatches, keeps_last_batch
from squeezenet.data.sources import load_decoded
from squeezenet.data.transforms import resize_crop
from squeezenet.train import fit, resolve_config
from squeezenet.train.defaults import FINETUNE_PHOTOS, models_fitting
from squeezenet.train.trainer import FewStepsWarning
from squeezenet.weights import WeightsError

QUIET = {"progress": False, "tensorboard": False, "plot": False, "threads": 1, "amp": "off"}


@pytest.fixture
def photos(tmp_path):
    """A tree of 80 px images: photographs, as far as the defaults are concerned."""
    return write_tree(tmp_path / "photos", size=80, per_class=(4, 2))


@pytest.fixture
def small(tmp_path):
    return write_tree(tmp_path / "small", size=32, per_class=(4, 2))


@pytest.fixture(scope="module")
def v11_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "v11.pth"
    torch.save(create_model("squeezenet1_1", num_classes=5).state_dict(), path)
    return path


def test_a_state_dict_names_its_architecture(v11_weights):
    assert models_fitting(torch.load(v11_weights))[0] == "squeezenet1_1"
    cifar = create_model("squeezenet_cifar", num_classes=10).state_dict()
    assert models_fitting(cifar)[0] == "squeezenet_cifar"
    v10 = create_model("squeezenet1_0", num_classes=3).state_dict()
    assert models_fitting(v10)[0] == "squeezenet1_0"


def test_the_model_comes_from_the_weights_else_from_the_data(photos, small, v11_weights):
    assert resolve_config(None, {"data": str(small)}).model == "squeezenet_cifar"
    assert resolve_config(None, {"data": str(photos)}).model == "squeezenet1_1"
    cfg = resolve_config(None, {"data": str(small), "weights": str(v11_weights)})
    assert cfg.model == "squeezenet1_1"
    given = {"data": str(photos), "model": "squeezenet1_0"}
    assert resolve_config(None, given).model == "squeezenet1_0"  # a flag wins


def test_photo_folders_get_photo_augmentation_and_evaluates_crop(photos, small):
    cfg = resolve_config(None, {"data": str(photos)})
    assert (cfg.crop_scale, cfg.decode_size, cfg.eval_crop) == (0.35, 256, 0.875)
    assert cfg.batch_size == 128 and not cfg.freeze_features  # not fine-tuning
    cfg = resolve_config(None, {"data": str(small)})
    assert (cfg.crop_scale, cfg.decode_size, cfg.eval_crop) == (None, None, 1.0)
    cfg = resolve_config(None, {"data": str(photos), "image_size": 128})
    assert cfg.decode_size == round(128 * 256 / 224)
    # A recipe's settings stand as they are.
    cfg = resolve_config(None, {"data": str(photos), "recipe": "imagenette"})
    assert (cfg.crop_scale, cfg.decode_size, cfg.eval_crop) == (0.25, 176, 1.0)


def test_fine_tuning_a_photo_folder_gets_the_fine_tuning_settings(photos, small, v11_weights):
    base = {"data": str(photos), "weights": str(v11_weights)}
    cfg = resolve_config(None, base)
    assert {k: getattr(cfg, k) for k in FINETUNE_PHOTOS} == FINETUNE_PHOTOS
    assert resolve_config(None, {**base, "batch_size": 32, "epochs": 3}).batch_size == 32
    assert resolve_config(None, {**base, "freeze_features": False}).freeze_features is False
    cfg = resolve_config(None, {**base, "recipe": "paper"})
    assert (cfg.batch_size, cfg.schedule, cfg.freeze_features) == (32, "linear", False)
    cfg = resolve_config(None, {"data": str(small), "weights": str(v11_weights)})
    assert (cfg.batch_size, cfg.freeze_features) == (128, False)  # not photos


def test_a_clashing_model_fails_with_a_hint_before_data_or_folder(
    photos, tmp_path, v11_weights, monkeypatch
):
    def no_data(*args, **kwargs):
        raise AssertionError("the data was opened")

    monkeypatch.setattr("squeezenet.train.trainer.build_loaders", no_data)
    out = tmp_path / "run"
    cfg = resolve_config(
        None,
        {
            "data": str(photos),
            "weights": str(v11_weights),
            "model": "squeezenet_cifar",
            "output": str(out),
            **QUIET,
        },
    )
    with pytest.raises(WeightsError) as e:
        fit(cfg)
    hint = str(e.value).splitlines()[-1]
    assert hint.startswith("hint:") and "--model squeezenet1_1" in hint
    assert not out.exists()
    missing = resolve_config(
        None, {"data": str(photos), "weights": str(tmp_path / "nope.pth"), "output": str(out)}
    )
    with pytest.raises(WeightsError, match="nope.pth"):
        fit(missing)
    assert not out.exists()


def test_a_run_that_fails_before_writing_leaves_no_folder(photos, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("broken data")

    monkeypatch.setattr("squeezenet.train.trainer.build_loaders", broken)
    out = tmp_path / "a" / "run"
    with pytest.raises(ValueError, match="broken data"):
        fit(resolve_config(None, {"data": str(photos), "output": str(out), **QUIET}))
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ValueError, match="broken data"):
        fit(resolve_config(None, {"data": str(photos), "output": str(kept), **QUIET}))
    assert kept.is_dir()  # a folder that was there before stays


def test_last_partial_batch_is_kept_when_dropping_it_loses_much():
    assert keeps_last_batch(500, 128)  # 116 of 500 images
    assert not keeps_last_batch(45000, 256)  # CIFAR-10's recipe: 200 of 45,000, as before
    assert not keeps_last_batch(9469, 64)  # Imagenette's recipe: as before
    images, labels = torch.zeros(500, 3, 4, 4, dtype=torch.uint8), torch.zeros(500).long()
    batches = TensorBatches(images, labels, 128, train=True)
    assert len(batches) == 4 and batches.images_used == 500
    assert sum(len(y) for _, y in batches) == 500
    dropping = TensorBatches(images[:260], labels[:260], 128, train=True)
    assert len(dropping) == 2 and dropping.images_used == 256


@pytest.mark.parametrize("in_memory", ["yes", "no"])
def test_the_batch_fits_the_data_and_the_header_says_so(in_memory, tmp_path, capsys):
    data = write_tree(tmp_path / "d", size=32, per_class=(12, 2))
    cfg = resolve_config(
        None,
        {
            "data": str(data),
            "output": str(tmp_path / "run"),
            "epochs": 1,
            "image_size": 32,
            "model_args": {"dropout": 0.0},
            "in_memory": in_memory,
            "workers": 0,
            **QUIET,
        },
    )
    assert cfg.batch_size == 128
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(cfg)
    header = capsys.readouterr().out.splitlines()[0]
    assert "36 train images/epoch" in header and "batch 36 x 1 x 1" in header
    assert "1 step(s)/epoch" in header
    augment = (
        "padded crops (4 px)" if in_memory == "yes" else "random-resized crops (scale >= 0.08)"
    )
    assert augment in header
    few = [w for w in caught if issubclass(w.category, FewStepsWarning)]
    assert len(few) == 1 and "only 1 optimizer step(s) per epoch" in str(few[0].message)


def test_photo_validation_is_cropped_as_evaluate_crops(tmp_path):
    root = tmp_path / "d"
    for split in ("train", "val"):
        (root / split / "a").mkdir(parents=True)
        Image.radial_gradient("L").convert("RGB").resize((96, 64)).save(
            root / split / "a" / "x.png"
        )
    ds = load_decoded(
        root, image_size=28, eval_size=28, eval_crop=0.875, use_cache=False, progress=False
    )
    expected = resize_crop(Image.open(root / "val" / "a" / "x.png").convert("RGB"), 32, 28)
    got = ds.splits["val"].images[0].permute(1, 2, 0).numpy()
    assert (got == np.asarray(expected)).all()


def test_fine_tuning_bgr_weights_feeds_them_the_input_they_learned_from(photos, tmp_path):
    """Weights trained on Caffe's BGR 0..255 input (the Deep Compression release) are
    fine-tuned on RGB pixels normalised as Caffe did but at ImageNet normalisation's spread,
    their first conv turned to RGB and biases scaled with the input: the network computes
    exactly what it did on its own input, divided by the scale."""
    from squeezenet.data.transforms import PRESETS, normalize
    from squeezenet.train.trainer import model_to_train
    from squeezenet.weights import ModelInfo, save_state_dict
    from squeezenet.weights.sqz.modeldesc import describe_model

    torch.manual_seed(0)
    caffe_model = create_model("squeezenet1_0", num_classes=3).eval()
    info = ModelInfo(describe_model(caffe_model, "squeezenet1_0"), None, PRESETS["caffe"])
    weights = save_state_dict(caffe_model.state_dict(), tmp_path / "bgr.pth", info)
    cfg = resolve_config(None, {"data": str(photos), "weights": str(weights), **QUIET})
    scale = sum(PRESETS["torchvision"].std) / 3 * 255  # Caffe's input spread / ImageNet's
    assert cfg.mean == pytest.approx((123 / 255, 117 / 255, 104 / 255))
    assert cfg.std == pytest.approx((scale / 255,) * 3)
    cfg.batchnorm, cfg.freeze_features = False, False
    tuned = model_to_train(cfg, 3).eval()
    pixels = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        expected = caffe_model(PRESETS["caffe"].normalize(pixels)) / scale
        got = tuned(normalize(pixels, cfg.mean, cfg.std))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
