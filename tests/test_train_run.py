"""End-to-end training runs on a tiny model and a tiny image tree: resume, divergence,
fine-tuning, checkpoints, logs, the CLI."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest
import torch
import yaml

from helpers import CLASSES, TINY, Interrupt, stop_after, tiny_config, write_tree
from squeezenet import create_model
from squeezenet.train import TrainingDiverged, fit
from squeezenet.train.checkpoint import load_checkpoint


def test_fit_writes_checkpoints_logs_and_a_plain_model(tree, tmp_path):
    out = tmp_path / "run"
    result = fit(tiny_config(tree, out, tensorboard=True, plot=True))
    assert result["epochs"] == 3 and result["num_classes"] == 3
    assert result["classes"] == CLASSES
    assert {p.name for p in out.iterdir()} >= {
        "best.pt",
        "config.yaml",
        "last.pt",
        "metrics.csv",
        "model.pth",
        "results.json",
        "tensorboard",
    }
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss") and len(rows) == 4
    assert load_checkpoint(out / "last.pt")["epoch"] == 3
    best = load_checkpoint(out / "best.pt")
    assert best["best"]["epoch"] == result["best_epoch"]
    # model.pth is a plain SqueezeNet (batch norm folded) that create_model loads strictly.
    model = create_model("squeezenet_cifar", weights=str(out / "model.pth"), **TINY)
    assert model.spec.num_classes == 3
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not (tmp_path / "noplot").exists()
    fit(tiny_config(tree, tmp_path / "noplot", epochs=1, plot=False))
    assert not (tmp_path / "noplot" / "curves.png").exists()
    summary = json.loads((out / "results.json").read_text())
    assert summary["best_val_top1"] == result["best_val_top1"]
    if importlib.util.find_spec("matplotlib") is None:
        assert not (out / "curves.png").exists()  # curves need matplotlib
    else:
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_tiny_task_is_learned(tree, tmp_path):
    """Colour-coded classes: a few epochs must beat chance (1/3) clearly on held-out images."""
    result = fit(tiny_config(tree, tmp_path / "run", epochs=5))
    assert result["best_val_top1"] >= 0.75


def test_resume_is_bit_exact(tree, tmp_path):
    """Interrupt after epoch 2 of 3, resume, and end with the uninterrupted run's weights."""
    straight = fit(tiny_config(tree, tmp_path / "a"))["model"].state_dict()

    with pytest.raises(Interrupt):
        fit(tiny_config(tree, tmp_path / "b"), on_epoch_end=stop_after(2))
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 2
    resumed = fit(tiny_config(tree, tmp_path / "b", resume=True))
    assert resumed["epochs"] == 3
    state = resumed["model"].state_dict()
    assert state.keys() == straight.keys()
    for k in straight:
        assert torch.equal(state[k], straight[k]), k
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4  # one row per epoch, across the interruption
    # The resumed run's minutes include the two epochs done before the interruption.
    with open(tmp_path / "b" / "metrics.csv", newline="") as f:
        seconds = [float(r["epoch_seconds"]) for r in csv.DictReader(f)]
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert resumed["train_minutes"] * 60 >= sum(seconds) * 0.999


def test_streamed_resume_is_bit_exact_with_worker_processes(tree, tmp_path):
    """Streamed images are augmented from a seed per (seed, epoch, image), not by the RNG of
    the DataLoader worker that decodes them: resuming (which starts new workers) and the
    number of workers change nothing."""

    streamed = dict(in_memory="no", workers=1)
    straight = fit(tiny_config(tree, tmp_path / "a", **streamed))["model"].state_dict()
    with pytest.raises(Interrupt):
        fit(tiny_config(tree, tmp_path / "b", **streamed), on_epoch_end=stop_after(2))
    resumed = fit(tiny_config(tree, tmp_path / "b", resume=True, **streamed))
    in_process = fit(tiny_config(tree, tmp_path / "c", in_memory="no", workers=0))
    for other in (resumed["model"].state_dict(), in_process["model"].state_dict()):
        assert other.keys() == straight.keys()
        for k in straight:
            assert torch.equal(other[k], straight[k]), k


def test_resume_without_checkpoint_is_a_clear_error(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        fit(tiny_config(tree, tmp_path / "none", resume=True))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tree, tmp_path, monkeypatch):
    import torch.nn.functional as F

    real = F.cross_entropy
    calls = {"n": 0}
    steps_per_epoch = 36 // 6

    def poisoned(logits, y, **kw):
        calls["n"] += 1
        loss = real(logits, y, **kw)
        # Training calls come first in each epoch; poison the 2nd step of epoch 2.
        return loss * float("nan") if calls["n"] == steps_per_epoch + 2 + 2 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    out = tmp_path / "run"
    with pytest.raises(
        TrainingDiverged,
        match=r"NaN or infinite in epoch 2 .*last good "
        r"checkpoint is .*last\.pt \(epoch 1\)",
    ):
        fit(tiny_config(tree, out, epochs=3))
    kept = load_checkpoint(out / "last.pt")
    assert kept["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())


def test_finetune_replaces_classifier_and_freezes_features(tree, tmp_path):
    source = create_model("squeezenet_cifar", num_classes=7, **TINY)
    path = tmp_path / "pretrained.pth"
    torch.save(source.state_dict(), path)
    result = fit(
        tiny_config(
            tree,
            tmp_path / "ft",
            weights=str(path),
            freeze_features=True,
            batchnorm=False,
            epochs=2,
        )
    )
    model = result["model"]
    assert model.spec.num_classes == 3
    before, after = source.state_dict(), model.state_dict()
    features = [k for k in before if k.startswith("features.")]
    assert features and all(torch.equal(before[k], after[k]) for k in features)
    assert after["classifier.1.weight"].shape == (3, 16, 1, 1)
    assert model.classifier[1].weight.requires_grad
    assert not any(p.requires_grad for p in model.features.parameters())
    losses = [
        float(r.split(",")[2])
        for r in (tmp_path / "ft" / "metrics.csv").read_text().splitlines()[1:]
    ]
    assert losses[1] < losses[0]  # the classifier did learn


def test_gradient_accumulation_counts_steps(tree, tmp_path):
    cfg = tiny_config(tree, tmp_path / "acc", batch_size=3, effective_batch=6, epochs=1)
    assert cfg.accum_steps(1) == 2
    fit(cfg)
    ckpt = load_checkpoint(tmp_path / "acc" / "last.pt")
    assert ckpt["scheduler"]["last_epoch"] == 36 // 6  # 12 micro-batches -> 6 steps
    with pytest.raises(ValueError, match="not a multiple"):
        tiny_config(tree, tmp_path / "x", batch_size=4, effective_batch=6).accum_steps(1)


def test_cli_flags_override_the_yaml_file(tree, tmp_path, capsys):
    from squeezenet.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            dict(
                model="squeezenet_cifar",
                model_args=TINY,
                image_size=16,
                batch_size=6,
                epochs=5,
                lr=0.05,
                amp="off",
                progress=False,
                tensorboard=False,
                plot=False,
                threads=1,
            )
        )
    )
    out = tmp_path / "cli"
    code = main(
        [
            "train",
            "--config",
            str(config),
            "--data",
            str(tree),
            "--output",
            str(out),
            "--epochs",
            "1",
            "--model-arg",
            "dropout=0.3",
            "--json",
        ]
    )
    assert code == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["lr"] == 0.05 and saved["batch_size"] == 6
    assert saved["model_args"]["dropout"] == 0.3 and saved["model_args"]["num_fire"] == 2
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["epochs"] == 1 and summary["num_classes"] == 3


def test_cli_reports_bad_settings_in_one_line(tmp_path, capsys):
    from squeezenet.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: 0.1\n")
    assert main(["train", "--config", str(bad), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: unknown setting(s) ['learning_rate']" in err
    assert (
        main(
            [
                "train",
                "--data",
                str(tmp_path / "missing"),
                "--output",
                str(tmp_path / "o"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "missing: no such file or directory" in capsys.readouterr().err


def test_streamed_imagefolder_skips_corrupt_files(tree, tmp_path):
    """in_memory: no -> DataLoader workers decode files each epoch; a corrupt file is named
    in a warning and skipped rather than stopping the run."""
    from squeezenet.data import ImageError
    from squeezenet.data.sources import CorruptImageWarning

    (tree / "train" / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.warns(CorruptImageWarning, match=r"broken\.png"):
        result = fit(
            tiny_config(
                tree, tmp_path / "stream", in_memory="no", workers=0, epochs=2, batchnorm=False
            )
        )
    assert result["epochs"] == 2 and result["num_classes"] == 3
    with pytest.raises(ImageError, match=r"broken\.png.*--strict-data"):
        fit(
            tiny_config(
                tree, tmp_path / "strict", in_memory="no", workers=0, epochs=1, strict_data=True
            )
        )


def test_finetune_from_the_imagenet_weights(tmp_path, tv11_fp16_weights):
    """Start from the real torchvision 1.1 weights: every feature layer is loaded (and kept,
    frozen), conv10 is replaced by a 3-class one."""
    tree = write_tree(tmp_path / "data", size=32)
    result = fit(
        tiny_config(
            tree,
            tmp_path / "ft",
            model="squeezenet1_1",
            model_args={},
            weights=str(tv11_fp16_weights),
            freeze_features=True,
            batchnorm=False,
            image_size=32,
            epochs=1,
        )
    )
    state = torch.load(tv11_fp16_weights, weights_only=True)
    after = result["model"].state_dict()
    assert after["classifier.1.weight"].shape == (3, 512, 1, 1)
    feature_keys = [k for k in state if k.startswith("features.")]
    assert len(feature_keys) == 50
    assert all(torch.equal(after[k], state[k]) for k in feature_keys)


def test_tta_scores_the_mean_logits_of_each_image_and_its_mirror(tree, tmp_path):
    from squeezenet.engine import NormalizeBatch, evaluate_batches

    cfg = tiny_config(tree, tmp_path / "run", epochs=1, tta=True)
    result = fit(cfg)
    assert (
        result["best_val_top1"]
        == json.loads((tmp_path / "run" / "results.json").read_text())["best_val_top1"]
    )
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert rows[0].endswith(",val_tta_top1,epoch_seconds")
    assert "test_tta_top1" not in result  # the tiny tree has no test/ split
    # A model without ties (SqueezeNet's final ReLU ties many scores at 0).
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3)).eval()
    x = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    y = torch.arange(10) % 3
    prepare = NormalizeBatch(torch.device("cpu"), cfg.mean, cfg.std, channels_last=False)
    out = evaluate_batches(model, [(x, y)], prepare, device=torch.device("cpu"), tta=True)
    with torch.no_grad():
        xn, _ = prepare(x, y)
        mean_logits = (model(xn) + model(xn.flip(3))) / 2
        plain = model(xn)
    assert out["tta_top1"] == (mean_logits.argmax(1) == y).sum().item() / 10
    assert out["top1"] == (plain.argmax(1) == y).sum().item() / 10
    assert not torch.equal(mean_logits.argmax(1), plain.argmax(1))  # mirroring mattered


def test_pruning_while_training_reaches_the_density_and_resumes_exactly(tree, tmp_path):
    """4 epochs, 2 rounds at epochs 0 and 1 (prune_until 0.5): every conv of model.pth ends
    at the target density, the masks survive an interruption, and the best checkpoint is
    chosen only among epochs at the final density."""
    kw = dict(epochs=4, prune=0.4, prune_rounds=2, prune_until=0.5)
    straight = fit(tiny_config(tree, tmp_path / "a", **kw))
    assert straight["best_epoch"] >= 2
    assert straight["density"] == pytest.approx(0.4, abs=0.02)
    plain = create_model("squeezenet_cifar", weights=str(tmp_path / "a" / "model.pth"), **TINY)
    for name, m in plain.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            density = (m.weight != 0).float().mean().item()
            assert density == pytest.approx(0.4, abs=0.05), name
    masks = load_checkpoint(tmp_path / "a" / "last.pt")["masks"]
    assert masks and all(m.dtype == torch.bool for m in masks.values())

    with pytest.raises(Interrupt):
        fit(tiny_config(tree, tmp_path / "b", **kw), on_epoch_end=stop_after(1))
    resumed = fit(tiny_config(tree, tmp_path / "b", resume=True, **kw))
    a, b = straight["model"].state_dict(), resumed["model"].state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_bad_prune_setting_is_refused_before_training(tree, tmp_path):
    with pytest.raises(ValueError, match="prune must be"):
        tiny_config(tree, tmp_path / "x", prune="lots")
    with pytest.raises(ValueError, match="prune_rounds"):
        tiny_config(tree, tmp_path / "x", prune=0.5, prune_rounds=0)
    with pytest.raises(ValueError, match="`prune_granularity` must be one of"):
        tiny_config(tree, tmp_path / "x", prune=0.5, prune_granularity="filter")


def test_kernel_granularity_prunes_whole_3x3_kernels(tree, tmp_path):
    fit(
        tiny_config(
            tree,
            tmp_path / "k",
            epochs=2,
            prune=0.4,
            prune_rounds=2,
            prune_until=0.5,
            prune_granularity="kernel",
        )
    )
    plain = create_model("squeezenet_cifar", weights=str(tmp_path / "k" / "model.pth"), **TINY)
    checked = 0
    for name, m in plain.named_modules():
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and name != "features.0":
            nonzero = m.weight != 0
            assert torch.equal(nonzero.all(dim=(2, 3)), nonzero.any(dim=(2, 3))), name
            assert nonzero.float().mean().item() == pytest.approx(0.4, abs=0.05), name
            checked += 1
    assert checked


def test_finetuning_with_inserted_batchnorm_starts_from_the_loaded_function(tree, tmp_path):
    """Batch norm inserted for fine-tuning starts as the identity on the data."""
    from squeezenet.models.batchnorm import add_batchnorm, init_batchnorm_identity

    torch.manual_seed(0)
    model = create_model("squeezenet_cifar", num_classes=3, **TINY).eval()
    x = torch.randn(16, 3, 16, 16)
    before = model(x)
    add_batchnorm(model)
    init_batchnorm_identity(model.eval(), [x[:8], x[8:]])
    torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="no batches"):
        init_batchnorm_identity(model, [])


def test_distillation_loss_mixes_cross_entropy_and_the_teachers_soft_targets():
    import torch.nn.functional as F

    from squeezenet.engine import Teacher

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x, y = torch.randn(8, 3, 2, 2), torch.arange(8) % 5
    logits = torch.randn(8, 5)
    ce = F.cross_entropy(logits, y)
    cpu = torch.device("cpu")
    assert torch.equal(Teacher(net, 0.0, 4.0).loss(x, logits, ce, cpu, "off"), ce)
    assert not any(p.requires_grad for p in net.parameters())  # the teacher stays fixed
    same = net(x)
    assert Teacher(net, 1.0, 4.0).loss(x, same, ce, cpu, "off").abs() < 1e-6  # KL(p||p) = 0
    t = 2.0
    p = F.softmax(net(x) / t, 1)
    kl = (p * (p.log() - F.log_softmax(logits / t, 1))).sum(1).mean() * t * t
    torch.testing.assert_close(
        Teacher(net, 0.3, t).loss(x, logits, ce, cpu, "off"), 0.7 * ce + 0.3 * kl
    )


def test_training_with_a_teacher_uses_it_and_refuses_a_mismatched_one(tree, tmp_path):
    torch.manual_seed(1)
    teacher = tmp_path / "teacher.pth"
    torch.save(create_model("squeezenet_cifar", num_classes=3, **TINY).state_dict(), teacher)
    plain = fit(tiny_config(tree, tmp_path / "a", epochs=1))["model"].state_dict()
    taught = fit(
        tiny_config(tree, tmp_path / "b", epochs=1, teacher=str(teacher), distill_weight=0.9)
    )["model"].state_dict()
    assert any(not torch.equal(plain[k], taught[k]) for k in plain)
    two = tmp_path / "two.pth"
    torch.save(create_model("squeezenet_cifar", num_classes=2, **TINY).state_dict(), two)
    with pytest.raises(ValueError, match=r"two.pth: it predicts 2 classes but the data has 3"):
        fit(tiny_config(tree, tmp_path / "c", epochs=1, teacher=str(two)))
    with pytest.raises(ValueError, match="distill_weight must be in"):
        tiny_config(tree, tmp_path / "d", distill_weight=1.5)


def test_select_last_keeps_the_final_epoch(tree, tmp_path, monkeypatch):
    import squeezenet.train.trainer as trainer

    scores = iter([0.9, 0.8, 0.7] * 2)  # validation gets worse every epoch

    def falling(*args, **kwargs):
        return {"loss": 1.0, "top1": next(scores), "top5": 1.0, "n": 12}

    monkeypatch.setattr(trainer, "evaluate_batches", falling)
    kw = dict(epochs=3, eval_test=False)
    assert fit(tiny_config(tree, tmp_path / "best", **kw))["best_epoch"] == 1
    result = fit(tiny_config(tree, tmp_path / "run", select="last", **kw))
    assert result["best_epoch"] == 3
    best, last = (load_checkpoint(tmp_path / "run" / f"{n}.pt") for n in ("best", "last"))
    for k, v in last["model"].items():
        assert torch.equal(best["model"][k], v), k
    with pytest.raises(ValueError, match="`select` must be one of"):
        tiny_config(tree, tmp_path / "x", select="median")
