"""Flags: out-of-range and misfit values are usage errors (exit status 2) naming the flag,
found before any work starts."""

from __future__ import annotations

import pytest

from squeezenet.cli import main

USAGE_ERRORS = [
    (
        ["predict", "--model-arg", "sr=[0.5", "x.jpg"],
        "argument --model-arg: 'sr=[0.5': the value is not valid YAML",
    ),
    (
        ["predict", "--model-arg", "nosuch=1", "x.jpg"],
        "--model-arg: squeezenet1_1 has no parameter 'nosuch'",
    ),
    (
        ["predict", "-m", "alexnet", "--model-arg", "sr=0.5", "x.jpg"],
        "--model-arg: alexnet has no parameter 'sr'",
    ),
    (
        ["predict", "--model-arg", "num_fire=100000", "x.jpg"],
        "--model-arg: num_fire must be an integer in [0, 64]",
    ),
    (["predict", "--model-arg", "sr=abc", "x.jpg"], "--model-arg: sr must be a finite number"),
    (
        ["predict", "-m", "alexnet", "--conv10-padding", "1", "x.jpg"],
        "--conv10-padding: alexnet has no parameter 'conv10_padding'",
    ),
    (
        ["predict", "--conv10-padding", "100000", "x.jpg"],
        "argument --conv10-padding: must be in [0, 16], got 100000",
    ),
    (
        ["predict", "--image-size", "20000", "x.jpg"],
        "argument --image-size: must be in [1, 1024], got 20000",
    ),
    (
        ["compress", "-w", "x.pth", "--prune", "1.5"],
        "argument --prune: densities must be in (0, 1]",
    ),
    (
        ["compress", "-w", "x.pth", "--prune", "banana"],
        "argument --prune: densities must be in (0, 1]: give a density, 'paper', 'none' or "
        "'pattern=density,...', got 'banana'",
    ),
    (["train", "--prune", "2"], "argument --prune: densities must be in (0, 1]"),
    (["train", "--prune", "2"], "got '2'"),  # the value given, not one derived from it
    (
        ["train", "--label-smoothing", "2"],
        "argument --label-smoothing: must be a number in [0, 1), got 2",
    ),
    (
        ["sensitivity", "-w", "x.pth", "-c", "x.yaml", "--budget", "-1"],
        "argument --budget: must be a number in (0, inf), got -1",
    ),
    (
        ["sensitivity", "-w", "x.pth", "-c", "x.yaml", "--budget", "9", "--densities", "abc"],
        "argument --densities: 'abc' is not a number",
    ),
    (["export", "--tolerance", "-1"], "argument --tolerance: must be a number in [0, inf), got -1"),
    # Non-finite and out-of-range numbers never reach a run (a NaN lr trained NaN weights).
    (["train", "-d", "x", "--lr", "nan"], "argument --lr: must be a number in (0, inf), got nan"),
    (["train", "-d", "x", "--lr", "-1"], "argument --lr: must be a number in (0, inf), got -1"),
    (["train", "-d", "x", "--momentum", "inf"], "argument --momentum: must be a number in [0, 1)"),
    (
        ["train", "-d", "x", "--ema-decay", "nan"],
        "argument --ema-decay: must be a number in (0, 1)",
    ),
    (["train", "-d", "x", "--distill-temperature", "0"], "argument --distill-temperature"),
    (["compress", "-w", "x.pth", "-o", "y.sqz", "--lr", "-1"], "argument --lr: must be a number"),
    (["compress", "-w", "x.pth", "-o", "y.sqz", "--lr", "nan"], "argument --lr: must be a number"),
    (
        ["compress", "-w", "x.pth", "-o", "y.sqz", "--distill-temperature", "nan"],
        "argument --distill-temperature: must be a number in (0, inf), got nan",
    ),
    (
        ["compress", "-w", "x.pth", "-o", "y.sqz", "--grid-scale", "-1"],
        "argument --grid-scale: must be a number in (0, inf), got -1",
    ),
    (
        ["compress", "-w", "x.pth", "-o", "y.sqz", "--bits", "nan"],
        "argument --bits: bit widths must be integers in [1, 16], got 'nan'",
    ),
    (
        ["compress", "-w", "x.pth", "-o", "y.sqz", "--bits", "conv=99"],
        "argument --bits: bit widths must be integers in [1, 16], got 'conv=99'",
    ),
    (
        ["compress", "-w", "x.pth", "-o", "y.sqz", "--seed", str(2**70)],
        f"argument --seed: must be in [0, 4294967295], got {2**70}",
    ),
    (
        ["sensitivity", "-w", "x.pth", "-c", "x.yaml", "--budget", "9", "--val-fraction", "nan"],
        "argument --val-fraction: must be a number in (0, 1)",
    ),
    # One device parser, before any model is read.
    *(
        (
            ["predict", "--device", name, "x.jpg"],
            f"argument --device: unknown device {name!r}: expected auto, cpu, cuda, cuda:N or mps",
        )
        for name in ("tpu", "meta", "cpu:5", "cuda:x", "")
    ),
    (["train", "-d", "x", "--device", "tpu"], "argument --device: unknown device 'tpu'"),
    # Threads and workers beyond the machine's CPUs.
    (["predict", "--threads", "1000000", "x.jpg"], "argument --threads: must be in [1, "),
    (["evaluate", "-d", "x", "--workers", "1000"], "argument --workers: must be in [0, "),
    (["train", "-d", "x", "--workers", "1000"], "argument --workers: must be in [0, "),
]


@pytest.mark.parametrize("argv, message", USAGE_ERRORS)
def test_bad_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: squeezenet" in err
    assert message in err


def test_train_config_model_args_are_checked():
    from squeezenet.train import resolve_config

    with pytest.raises(ValueError, match="model_args: squeezenet_cifar has no parameter 'nosuch'"):
        resolve_config(None, {"data": "x", "model_args": {"nosuch": 1}})


def test_weights_path_that_is_a_folder_says_so(tmp_path, capsys):
    folder = tmp_path / "somedir.pth"
    folder.mkdir()
    assert main(["predict", "-w", str(folder), str(tmp_path / "x.jpg")]) == 2
    assert f"{folder}: is a directory, not a weights file" in capsys.readouterr().err


def test_report_without_results_folder_is_an_error(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["report", "--results", str(missing), "-o", str(tmp_path / "r")]) == 2
    assert f"{missing}: --results is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_device_that_is_absent_is_a_named_error(tmp_path, capsys):
    import torch
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    name = "mps" if torch.cuda.is_available() else "cuda:99"
    argv = ["predict", "--device", name, "--json", "--no-progress", str(tmp_path / "a.png")]
    assert main(argv) == 2
    assert f"squeezenet predict: error: --device {name}: " in capsys.readouterr().err


def test_train_config_numbers_must_be_finite(tmp_path):
    from squeezenet.settings import SettingError
    from squeezenet.train import resolve_config

    config = tmp_path / "c.yaml"
    for setting in ("lr: .nan", "momentum: .inf", "weight_decay: -1", "device: tpu"):
        config.write_text(f"data: {tmp_path}\nmodel: squeezenet_cifar\n{setting}\n")
        with pytest.raises(SettingError, match=setting.split(":")[0]):
            resolve_config(config)
