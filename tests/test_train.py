"""Training building blocks: configuration, data sources, augmentation, the 32x32 model,
batch-norm folding, schedules."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from helpers import write_tree
from squeezenet import create_model
from squeezenet.data import DatasetError, ImageError
from squeezenet.data.augment import cutout, random_crop_flip
from squeezenet.data.loaders import holdout
from squeezenet.data.sources import CorruptImageWarning, load_decoded, read_cifar_batch
from squeezenet.engine.optim import lr_factor
from squeezenet.models import default_input_size
from squeezenet.models.batchnorm import add_batchnorm, fuse_batchnorm
from squeezenet.models.cifar import SQUEEZENET_CIFAR
from squeezenet.train import RECIPES, TrainConfig, resolve_config, save_config


def _jpeg(rgb, size=8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, "JPEG", quality=95)
    return buf.getvalue()


# -- configuration ----------------------------------------------------------------------------
def test_precedence_defaults_recipe_file_flags(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(
        yaml.safe_dump({"recipe": "cifar10-fast", "epochs": 7, "lr": 0.3, "data": "x.zip"})
    )
    cfg = resolve_config(f, {"lr": 0.5, "batch_size": None})
    assert cfg.lr == 0.5  # flag beats file
    assert cfg.epochs == 7  # file beats recipe
    assert cfg.batch_size == RECIPES["cifar10-fast"]["batch_size"]  # recipe beats default
    assert cfg.momentum == TrainConfig.momentum  # default where nobody says otherwise
    assert resolve_config(f, {"recipe": "paper"}).lr == 0.3  # --recipe swaps the recipe


def test_saved_config_resolves_to_the_same_config(tmp_path):
    cfg = resolve_config(None, {"recipe": "paper", "data": "d", "model_args": {"sr": 0.25}})
    save_config(cfg, tmp_path / "config.yaml")
    assert resolve_config(tmp_path / "config.yaml") == cfg


def test_paper_recipe_is_the_papers_solver():
    cfg = resolve_config(None, {"recipe": "paper", "data": "d"})
    assert (cfg.optimizer, cfg.momentum, cfg.lr, cfg.weight_decay) == ("sgd", 0.9, 0.04, 2e-4)
    assert cfg.schedule == "linear" and cfg.effective_batch == 512
    assert cfg.accum_steps(1) == 16 and cfg.accum_steps(4) == 4


def test_every_key_of_the_example_configs_changes_the_configuration(tmp_path):
    # configs/*.yaml state what differs from the defaults and their recipe, never a default:
    # each key, left out, changes the resolved configuration (or leaves it unresolvable). A
    # file that names no data is resolved on a folder of small images and one of photos
    # (fine-tuning from weights gets other defaults on photos), as `-d` gives them.
    root = Path(__file__).resolve().parents[1]
    small = write_tree(tmp_path / "small", per_class=(1, 1), size=16)
    photos = write_tree(tmp_path / "photos", per_class=(1, 1), size=80)

    def resolved(settings: dict, data: dict):
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(settings))
        try:
            return resolve_config(path, data)
        except ValueError as e:
            return str(e)

    files = sorted((root / "configs").glob("*.yaml"))
    assert files
    for file in files:
        settings = yaml.safe_load(file.read_text())
        given = [{}] if "data" in settings else [{"data": str(small)}, {"data": str(photos)}]
        for key in settings:
            rest = {k: v for k, v in settings.items() if k != key}
            changes = [resolved(rest, data) != resolved(settings, data) for data in given]
            assert any(changes), f"{file.name}: {key} restates what it resolves to without it"


def test_imagenette_config_is_the_recorded_setting():
    # docs/results/imagenette.json is written from the recorded run's own config.yaml:
    # the config a user runs must be that setting, field for field.
    root = Path(__file__).resolve().parents[1]
    cfg = resolve_config(root / "configs" / "imagenette.yaml")
    record = json.loads((root / "docs" / "results" / "imagenette.json").read_text())
    for name in (
        "model", "model_args", "epochs", "image_size", "image_size_start", "decode_size",
        "eval_image_size", "crop_scale", "recalibrate_bn", "cutmix", "lr", "weight_decay",
        "effective_batch", "select",
    ):  # fmt: skip
        assert getattr(cfg, name) == record[name], name
    assert cfg.batchnorm == record["batchnorm_folded"] is True
    assert cfg.accum_steps(2) == 1 and cfg.accum_steps(1) == 2  # effective batch 128
    assert cfg.threads == 1 and cfg.epochs // 2 <= cfg.val_every < cfg.epochs


@pytest.mark.parametrize(
    "text, message",
    [
        ("lr: [1\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
        ("epochs: 3\nbogus: 1\n", "unknown setting(s) ['bogus']"),
    ],
)
def test_bad_config_files_are_named(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match=str(f)) as e:
        resolve_config(f, {"data": "d"})
    assert message in str(e.value)


def test_invalid_values_are_reported():
    with pytest.raises(ValueError, match="`schedule` must be one of"):
        resolve_config(None, {"data": "d", "schedule": "step"})
    with pytest.raises(ValueError, match="unknown recipe 'fast'"):
        resolve_config(None, {"data": "d", "recipe": "fast"})
    with pytest.raises(ValueError, match="no training data"):
        resolve_config(None, {})


def test_lr_schedules():
    assert lr_factor("linear", 0, 100, 0) == 1.0
    assert lr_factor("linear", 50, 100, 0) == 0.5
    assert lr_factor("linear", 99, 100, 0) == pytest.approx(0.01)
    assert lr_factor("onecycle", 0, 100, 0.2) == pytest.approx(0.1)
    assert lr_factor("onecycle", 20, 100, 0.2) == 1.0
    assert lr_factor("onecycle", 60, 100, 0.2) == 0.5
    assert lr_factor("cosine", 60, 100, 0.2) == pytest.approx(0.5)


# -- data sources -----------------------------------------------------------------------------
def _make_zip(path, corrupt=False):
    colours = {"blue": (0, 0, 255), "red": (255, 0, 0)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for split, n in (("train", 3), ("test", 2)):
            for cls, rgb in colours.items():
                for i in range(n):
                    z.writestr(f"cifar10/{split}/{cls}/{i:04d}.jpg", _jpeg(rgb))
        if corrupt:
            z.writestr("cifar10/train/red/0099.jpg", b"\xff\xd8 this is not a jpeg")
    return path


def test_zip_decodes_to_uint8_tensors_and_is_cached(tmp_path):
    path = _make_zip(tmp_path / "c.zip")
    ds = load_decoded(path, progress=False)
    assert ds.classes == ["blue", "red"]
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.images.shape == (6, 3, 8, 8) and train.images.dtype == torch.uint8
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and len(test) == 4
    # JPEG is lossy, but a flat blue square stays (near) pure blue.
    assert abs(int(train.images[0, 2].float().mean()) - 255) <= 3
    assert int(train.images[0, 0].float().mean()) <= 3
    cached = list((tmp_path / "cache").glob("cifar10-zip-*.pt"))
    assert len(cached) == 1
    again = load_decoded(path, progress=False)
    assert torch.equal(again.splits["train"].images, train.images)


def test_corrupt_image_is_named_and_skipped_or_fatal_when_strict(tmp_path):
    path = _make_zip(tmp_path / "c.zip", corrupt=True)
    with pytest.warns(
        CorruptImageWarning, match=r"c\.zip!cifar10/train/red/0099\.jpg: not a readable image"
    ):
        ds = load_decoded(path, progress=False)
    assert len(ds.splits["train"]) == 6
    with pytest.raises(ImageError, match=r"0099\.jpg.*--strict-data"):
        load_decoded(path, strict=True, progress=False)


def test_imagefolder_errors_come_before_training(tmp_path):
    root = tmp_path / "tree"
    (root / "train" / "cat").mkdir(parents=True)
    (root / "train" / "dog").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "train" / "cat" / "a.png")
    with pytest.raises(DatasetError, match=r"dog: class folder holds no images"):
        load_decoded(root, progress=False)
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"no class folders"):
        load_decoded(empty, progress=False)
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_decoded(tmp_path / "nowhere", progress=False)


def test_imagefolder_corrupt_file_warns_with_its_path(tmp_path):
    root = tmp_path / "tree"
    for cls in ("a", "b"):
        (root / "train" / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8), (9, 9, 9)).save(root / "train" / cls / "ok.png")
    (root / "train" / "b" / "bad.png").write_bytes(b"garbage")
    with pytest.warns(CorruptImageWarning, match=r"bad\.png"):
        ds = load_decoded(root, image_size=8, progress=False)
    assert ds.splits["train"].labels.tolist() == [0, 1]


def test_imagefolder_parallel_reduced_size_decode(tmp_path):
    # Worker processes return the same tensors, in the same order, as decoding here; a
    # large JPEG is decoded at reduced size unless decode="exact", which has its own cache.
    root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / "train" / cls).mkdir(parents=True)
        for i in range(3):
            gradient = np.linspace(0, 255, 800)[None, :, None] * rng.uniform(0.2, 1, 3)
            pixels = np.broadcast_to(gradient, (600, 800, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / "train" / cls / f"{i}.jpg", quality=95)
    (root / "train" / "b" / "bad.jpg").write_bytes(b"garbage")
    decoded = {}
    for decode, workers in (("exact", 0), ("fast", 0), ("fast", 2)):
        rng_before = torch.get_rng_state()
        with pytest.warns(CorruptImageWarning, match=r"bad\.jpg"):
            ds = load_decoded(
                root,
                image_size=64,
                decode=decode,
                workers=workers,
                use_cache=workers == 0,  # the workers' run must decode, not read the cache
                progress=False,
            )
        train = ds.splits["train"]
        assert train.labels.tolist() == [0, 0, 0, 1, 1, 1] and train.images.shape[1:] == (3, 64, 64)
        decoded[decode, workers] = train.images
        # Training seeds, decodes, then draws the model's initial weights: decoding must leave
        # the global RNG as it found it, or a cold cache gives another network than a warm one.
        assert torch.equal(torch.get_rng_state(), rng_before), (decode, workers)
    assert torch.equal(decoded["fast", 0], decoded["fast", 2])
    difference = (decoded["fast", 0].float() - decoded["exact", 0].float()).abs()
    assert 0 < difference.mean() < 3  # 1/8-scale decoding: other pixels, nearly the same
    assert len(list((tmp_path / "cache").glob("imagefolder-*.pt"))) == 2
    with pytest.raises(ValueError, match="decode must be"):
        load_decoded(root, decode="draft")


def _cifar_batches(root, n=4):
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    expected = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
        expected[name] = (data, labels)
    return expected


def test_torchvision_cifar_format(tmp_path):
    expected = _cifar_batches(tmp_path / "tv")
    ds = load_decoded(tmp_path / "tv", progress=False)
    train = ds.splits["train"]
    assert train.images.shape == (20, 3, 32, 32)
    first, labels = expected["data_batch_1"]
    assert np.array_equal(train.images[:4].numpy().reshape(4, -1), first)
    assert train.labels[:4].tolist() == labels
    assert ds.splits["test"].labels.tolist() == expected["test_batch"][1]


def test_torchvision_batch_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(
        DatasetError,
        match=r"data_batch_1: not a CIFAR-10 python batch "
        r"\(refusing to load builtins\.print\)",
    ):
        read_cifar_batch(path)


def test_holdout_is_disjoint_and_reproducible():
    keep, held = holdout(100, 0.1, seed=3)
    assert len(held) == 10 and len(keep) == 90
    assert set(keep.tolist()).isdisjoint(held.tolist())
    assert torch.equal(holdout(100, 0.1, seed=3)[1], held)
    with pytest.raises(DatasetError, match="val_fraction is 0"):
        holdout(100, 0.0, seed=0)


# -- augmentation on tensors ------------------------------------------------------------------
def test_random_crop_flip_takes_windows_of_the_padded_image():
    x = torch.randint(0, 256, (16, 3, 6, 6), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, 2, True, gen)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    assert torch.equal(random_crop_flip(x, 0, False, gen), x)


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.full((64, 3, 10, 10), 7, dtype=torch.uint8)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8 and out.shape == x.shape
    zero = out[:, 0] == 0
    assert torch.equal(zero, (out == 0).all(1))  # the same pixels in every channel
    for i in range(64):
        rows, cols = zero[i].nonzero(as_tuple=True)
        assert len(rows) > 0  # a centre inside the image always leaves some of the square
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert h <= 4 and w <= 4 and len(rows) == h * w  # one solid rectangle
    assert (zero.sum((1, 2)) == 16).any()  # unclipped squares are exactly 4 x 4
    assert (out[~zero.unsqueeze(1).expand_as(out)] == 7).all()


# -- the 32x32 model and batch-norm folding ---------------------------------------------------
def test_squeezenet_cifar_is_registered_with_exact_parameter_count():
    model = create_model("squeezenet_cifar")
    assert default_input_size("squeezenet_cifar") == 32
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    spec = SQUEEZENET_CIFAR
    expected = 3 * 64 * 9 + 64  # 3x3 stem
    for w in spec.fire_widths():
        expected += (
            (w.inplanes + 1) * w.squeeze
            + (w.squeeze + 1) * w.expand1x1
            + (9 * w.squeeze + 1) * w.expand3x3
        )
    expected += 512 * 10 + 10  # conv10
    assert sum(p.numel() for p in model.parameters()) == expected == 727_626
    # Fire modules see 16x16, 8x8 and 4x4 maps.
    assert spec.output_size(32) == 4 and spec.min_input_size == 7


def test_batchnorm_folds_into_a_plain_squeezenet():
    model = add_batchnorm(create_model("squeezenet_cifar"))
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 1 + 8 * 3 + 1
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):  # move the running statistics and the BN affine parameters
        loss = model(torch.randn(8, 3, 32, 32)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        fuse_batchnorm(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
        plain = create_model("squeezenet_cifar").eval()
        plain.load_state_dict(model.state_dict(), strict=True)
        torch.testing.assert_close(plain(x), expected, rtol=1e-4, atol=1e-5)


def test_unknown_setting_names_the_known_ones(tmp_path):
    from squeezenet.train import resolve_config

    config = tmp_path / "old.yaml"
    config.write_text("data: d.zip\nout: runs/old\n")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['out'\]; known: .*'output'"):
        resolve_config(config)


def test_streamed_images_decode_large_jpegs_at_reduced_size(tmp_path, monkeypatch):
    import squeezenet.data.loaders as train_data
    from squeezenet.data import LabelledImages

    path = tmp_path / "big.jpg"
    Image.fromarray(np.full((1200, 1600, 3), 90, np.uint8)).save(path)
    images = LabelledImages([(path, 0)], ["a"])
    decoded = []
    real = train_data.load_image

    def spy(p, min_size=None):
        image = real(p, min_size)
        decoded.append(image.size)
        return image

    monkeypatch.setattr(train_data, "load_image", spy)
    # Size 140: training crops need 140 (1/8 scale: 200 x 150), evaluation resizes to 160
    # before its center crop (1/8 would give 150 < 160, so 1/4: 400 x 300).
    for train, size in ((True, (200, 150)), (False, (400, 300))):
        decoded.clear()
        dataset = train_data._StreamedImages(images, 140, train, strict=True, seed=0)
        # Training items are (index, epoch): the epoch seeds the crop.
        x, label = dataset[(0, 0) if train else 0]
        assert x.shape == (3, 140, 140) and x.dtype == torch.uint8 and label == 0
        assert decoded == [size]
