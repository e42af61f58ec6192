"""Model files that describe themselves (issue 26): what ``train`` writes carries the
architecture, the class names and the preprocessing; ``.pth``, ``.safetensors`` and ``.sqz``
keep them; every later command reads them, so none is repeated; plain torchvision
state_dicts load as before; a hostile description is refused with the file named."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from helpers import CUSTOM_PRE as PRE
from helpers import model_info, save_described, write_tree
from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.data.transforms import PRESETS, rgb_preprocess
from squeezenet.weights import WeightsError, read_weights
from squeezenet.weights.loading import model_classes, preprocess_for


@pytest.fixture(scope="module")
def wide():
    """squeezenet1_1 with metaparameters of its own: the file alone must rebuild it."""
    torch.manual_seed(0)
    return create_model("squeezenet1_1", num_classes=3, sr=0.25, bypass="simple").eval()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_described_file_rebuilds_its_model_classes_and_preprocessing(tmp_path, wide, suffix):
    path = save_described(wide, tmp_path / f"m{suffix}")
    model = create_model(weights=str(path)).eval()  # no name, no --model-arg
    assert model.card.architecture == "squeezenet1_1" and model.spec == wide.spec
    assert model_classes(model) == ("cat", "dog", "frog")
    assert preprocess_for(None, model) == PRE
    assert preprocess_for(None, model, image_size=32).crop == 32
    assert preprocess_for(None, model, "torchvision") == PRESETS["torchvision"]  # a flag wins
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), wide(x))
    with pytest.raises(WeightsError, match=r"holds a squeezenet1_1 \(the file describes its"):
        create_model("squeezenet1_0", weights=str(path))
    # Replacing the classifier (fine-tuning) drops the class names, keeps the rest.
    tuned = create_model(weights=str(path), num_classes=5)
    assert model_classes(tuned) is None and preprocess_for(None, tuned) == PRE


def test_every_model_carries_one_typed_card(tmp_path, wide):
    from squeezenet import ModelCard, model_card

    assert model_card(create_model("squeezenet1_0")) == ModelCard("squeezenet1_0")
    assert model_card(torch.nn.Linear(2, 2)) is None  # built another way
    path = save_described(wide, tmp_path / "m.pth")
    card = model_card(create_model(weights=str(path)))
    assert card is not None and card.source == path and card.weights is None
    assert (card.architecture, card.classes, card.preprocess) == (
        "squeezenet1_1",
        ("cat", "dog", "frog"),
        PRE,
    )
    assert card.description is not None and card.description.classes == card.classes
    with pytest.raises(AttributeError):  # frozen: one record, set once
        card.classes = None  # type: ignore[misc]


def test_one_input_size_from_the_flag_the_weights_or_the_architecture(tmp_path, wide):
    from squeezenet.weights import input_size

    described = create_model(weights=str(save_described(wide, tmp_path / "m.pth")))
    assert input_size(described) == PRE.crop  # the side it was trained at
    assert input_size(described, 99) == 99  # --image-size wins
    assert input_size(create_model("squeezenet_cifar")) == 32
    assert input_size(create_model("squeezenet1_0")) == 224


def test_plain_state_dicts_load_as_before(tmp_path):
    path = tmp_path / "tv.pth"
    torch.save(torchvision.models.squeezenet1_0(num_classes=4).state_dict(), path)
    state, info = read_weights(path)
    assert info is None and len(state) == 52
    model = create_model("squeezenet1_0", weights=str(path))
    assert model_classes(model) is None
    assert preprocess_for("squeezenet1_0", model) == PRESETS["torchvision"]
    # Without a name the default model is tried, and the misfit names the file.
    with pytest.raises(WeightsError, match="tv.pth: does not fit the model"):
        create_model(weights=str(path))


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"extra": 1}, "unknown key 'extra'"),
        ({"classes": ["a", "b"]}, "names 2 classes but the classifier has 3 outputs"),
        ({"classes": ["a", "", "c"]}, "class name '' is not a name"),
        ({"classes": "abc"}, "'classes' must be a list"),
        ({"model": {"name": "resnet50", "kwargs": {}}}, "'resnet50' is not a registered model"),
        ({"model": {"name": "squeezenet1_1", "kwargs": {"weights": "x"}}}, "not allowed"),
        ({"preprocess": {"name": "x"}}, "'preprocess' must hold exactly"),
        ({"preprocess": {**PRE.__dict__, "crop": 10**9}}, "'crop' must be an integer"),
        ({"preprocess": {**PRE.__dict__, "std": [1, 0, 1]}}, "'std' must be 3 finite numbers"),
        ({"preprocess": {**PRE.__dict__, "mean": [1, 2]}}, "'mean' must be 3 finite numbers"),
        ({"preprocess": {**PRE.__dict__, "scale": float("nan")}}, "'scale' must be a finite"),
    ],
)
def test_a_hostile_description_is_refused_naming_the_file(tmp_path, wide, change, problem):
    described = model_info(wide).to_dict() | change
    if "preprocess" in change and isinstance(change["preprocess"], dict):
        described["preprocess"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in change["preprocess"].items()
        }
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": wide.state_dict(), "squeezenet": described}, path)
    with pytest.raises(WeightsError, match="bad.pth: ") as e:
        read_weights(path)
    assert problem in str(e.value)


def test_trained_preprocessing_is_named_after_the_preset_it_equals():
    assert (
        rgb_preprocess(256, 224, PRESETS["torchvision"].mean, PRESETS["torchvision"].std)
        == (PRESETS["torchvision"])
    )
    cifar = rgb_preprocess(32, 32, [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
    assert cifar.name == "cifar"
    assert rgb_preprocess(183, 160, (0.5,) * 3, (0.5,) * 3).name == "custom"


def test_train_compress_predict_evaluate_export_without_repeating_anything(tmp_path, capsys):
    """The own-photos path end to end on a tiny tree of three classes: every file written
    along the way names the classes and the architecture, and no command is told them."""
    tree = write_tree(tmp_path / "photos", size=80, per_class=(6, 2))
    run = tmp_path / "run"
    quiet = ["--no-progress", "--no-tensorboard", "--no-plot"]
    argv = ["train", "-d", str(tree), "-o", str(run), "--epochs", "1", "--image-size", "96"]
    assert main([*argv, "--model-arg", "sr=0.25", "--threads", "1", *quiet]) == 0
    saved = torch.load(run / "model.pth", weights_only=True)
    assert saved["squeezenet"]["classes"] == ["cat", "dog", "frog"]
    assert saved["squeezenet"]["model"]["spec"]["sr"] == 0.25
    assert saved["squeezenet"]["preprocess"] | {"mean": None, "std": None} == {
        "name": "custom",
        "resize": 110,
        "crop": 96,
        "mean": None,
        "std": None,
        "bgr": False,
        "scale": 1 / 255,
    }
    capsys.readouterr()

    sqz = tmp_path / "model.sqz"
    compress = ["compress", "-w", str(run / "model.pth"), "--calibration", str(tree / "train")]
    assert main([*compress, "-o", str(sqz), "--no-progress", "--json"]) == 0
    captured = capsys.readouterr()
    assert "compress: preset gptq" in captured.err
    assert json.loads(captured.out)["calibration_agreement"] > 0.5
    _, info = read_weights(sqz)
    assert info is not None and info.classes == ("cat", "dog", "frog")
    assert info.model["spec"]["sr"] == 0.25 and info.preprocess.crop == 96

    for weights in (run / "model.pth", sqz):
        image = next((tree / "val" / "dog").iterdir())
        assert main(["predict", "-w", str(weights), "--json", str(image)]) == 0
        top = json.loads(capsys.readouterr().out)[0]["top"]
        assert len(top) == 3 and {t["name"] for t in top} == {"cat", "dog", "frog"}
        assert main(["evaluate", "-w", str(weights), "-d", str(tree / "val"), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert (result["model"], result["num_classes"], result["n"]) == ("squeezenet1_1", 3, 6)
        assert result["crop"] == 96

    back = tmp_path / "back.safetensors"
    assert main(["decompress", str(sqz), "-o", str(back)]) == 0
    assert "classes: cat, dog, frog" in capsys.readouterr().out
    assert model_classes(create_model(weights=str(back))) == ("cat", "dog", "frog")
    ts = tmp_path / "model.pt"
    assert main(["export", "-w", str(sqz), "--format", "torchscript", "-o", str(ts), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert (exported["model"], exported["input_size"]) == ("squeezenet1_1", 96)


def test_a_compression_that_breaks_the_model_writes_nothing(tmp_path, capsys, wide):
    """A stage that loses most of the model's accuracy is an error, not a file."""
    tree = write_tree(tmp_path / "photos", classes=["a", "b"], size=80, per_class=(4, 2))
    weights = save_described(wide, tmp_path / "m.pth", ("a", "b", "c"))
    out = tmp_path / "broken.sqz"
    argv = ["compress", "-w", str(weights), "--calibration", str(tree / "train"), "-o", str(out)]
    # Pruning 99% of every layer without fine-tuning leaves a model that computes nothing.
    argv += ["--preset", "paper", "--prune", "0.01", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "not written: the compressed model's top-1 agrees with the uncompressed" in err
    assert not out.exists()
    assert main([*argv, "--allow-collapse"]) == 0 and out.is_file()


def test_compressing_without_any_images_says_nothing_checks_it(tmp_path, capsys, wide):
    weights = save_described(wide, tmp_path / "m.pth")
    argv = ["compress", "-w", str(weights), "-o", str(tmp_path / "m.sqz"), "--no-progress"]
    assert main([*argv, "--prune", "none", "--bits", "8"]) == 0
    err = capsys.readouterr().err
    assert "compress: preset paper" in err
    assert "warning: no --calibration, --data or --eval: nothing fine-tunes" in err


def test_a_recipe_for_other_input_is_refused_for_labelled_retraining(tmp_path, capsys, wide):
    """The failure that made photo models collapse: the CIFAR recipe retrains at 32 px."""
    tree = write_tree(tmp_path / "photos", size=80, per_class=(4, 2))
    weights = save_described(wide, tmp_path / "m.pth")
    argv = ["compress", "-w", str(weights), "-d", str(tree), "-o", str(tmp_path / "m.sqz")]
    assert main([*argv, "--recipe", "cifar10-fast", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--recipe cifar10-fast retrains at 32 px with mean (0.491, 0.482, 0.447)" in err
    assert "but the model takes 64 px" in err and "leave out --recipe" in err
    assert not (tmp_path / "m.sqz").exists()


def test_compress_eval_scores_every_stage_as_evaluate_scores_the_files(
    tmp_path, capsys, imagenet_sample, imagenet_classes, tv11_fp16_weights
):
    """``compress --eval DIR``: the first stage's score is ``evaluate``'s on the uncompressed
    weights, the last one's ``evaluate``'s on the written .sqz (both with exact decoding)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in sorted(imagenet_sample.glob("*.JPEG"))[::4]:  # 25 photos of 25 classes
        (photos / photo.name).symlink_to(photo)
    common = ["-w", str(tv11_fp16_weights), "--classes", str(imagenet_classes)]
    out, report = tmp_path / "m.sqz", tmp_path / "r.json"
    argv = ["compress", "-m", "squeezenet1_1", *common, "--eval", str(photos), "-o", str(out)]
    argv += ["--preset", "paper", "--prune", "0.3", "--bits", "3", "--no-progress"]
    assert main([*argv, "--report", str(report), "--allow-collapse"]) == 0
    scores = [s["score"] for s in json.loads(report.read_text())["stages"]]

    def evaluate(*weights) -> float:
        capsys.readouterr()
        flags = ["-d", str(photos), "--decode", "exact", "--json", "--no-progress"]
        assert main(["evaluate", *weights, *flags]) == 0
        return json.loads(capsys.readouterr().out)["top1"]

    assert scores[0] == evaluate("-m", "squeezenet1_1", *common) > scores[-1]
    assert scores[-1] == evaluate("-w", str(out))
