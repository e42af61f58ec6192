"""The command line: help texts, outputs and one-line errors."""

import json

import pytest

from squeezenet.cli import COMMANDS, build_parser, main


def _subparser(name):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices[name]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_explained(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for action in _subparser(command)._actions:
        if action.option_strings or action.dest != "help":
            assert action.help, f"{command}: {action.dest} has no help text"
        for flag in action.option_strings:
            assert flag in out


def test_summary_json(capsys):
    assert main(["summary", "--json", "squeezenet1_0", "squeezenet1_1", "alexnet"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["squeezenet1_0"]["params"] == 1_248_424
    assert rows["squeezenet1_1"]["params"] == 1_235_496
    assert round(rows["squeezenet1_0"]["alexnet_size_ratio"]) == 49  # paper: "50x"
    assert abs(rows["squeezenet1_0"]["size_mib_fp32"] - 4.76) < 0.01  # paper: 4.8MB


def test_summary_table_golden(capsys):
    assert main(["summary", "squeezenet1_1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "params", "fp32", "MiB", "input", "MMACs", "vs", "AlexNet"]
    assert lines[2].split() == ["squeezenet1_1", "1,235,496", "4.71", "224", "349.2", "49.5x"]


def test_summary_lists_weights(capsys):
    assert main(["summary", "--weights", "--json"]) == 0
    names = {r["weights"] for r in json.loads(capsys.readouterr().out)}
    assert {"squeezenet1_1.tv_in1k", "squeezenet1_0.dc_in1k"} <= names


def test_predict_names_the_tench(capsys, imagenet_sample, tv11_fp16_weights):
    image = imagenet_sample / "n01440764_tench.JPEG"
    assert main(["predict", "-w", str(tv11_fp16_weights), "--json", str(image)]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert len(result["top"]) == 5
    assert result["top"][0]["name"] == "tench" and result["top"][0]["prob"] > 0.9


def test_evaluate_json_on_han_weights(capsys, imagenet_sample, imagenet_classes, han_net):
    code = main(
        [
            "evaluate",
            "-m",
            "squeezenet1_0",
            "-w",
            str(han_net),
            "--data",
            str(imagenet_sample),
            "--classes",
            str(imagenet_classes),
            "--json",
            "--workers",
            "0",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 100 and result["preprocess"] == "caffe"  # chosen from the .net file
    assert abs(result["top1"] - 0.60) <= 0.011 and abs(result["top5"] - 0.82) <= 0.011


def test_corrupt_image_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main(["predict", "--strict", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == f"squeezenet predict: error: {bad}: not a readable image "
        f"(cannot identify image file '{bad}')"
    )


def test_bad_weights_are_a_one_line_error(tmp_path, capsys):
    assert main(["predict", "-w", str(tmp_path / "none.pth"), str(tmp_path / "x.jpg")]) == 2
    assert "none.pth: no such file, URL or registered weights name" in capsys.readouterr().err


def test_predict_streams_a_folder_in_batches(tmp_path, capsys, imagenet_sample, tv11_fp16_weights):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    names = ["n01440764_tench.JPEG", "n01530575_brambling.JPEG", "n02007558_flamingo.JPEG"]
    for i, name in enumerate(names):
        target = folder / ("sub" if i == 2 else "") / name
        target.write_bytes((imagenet_sample / name).read_bytes())
    (folder / "notes.txt").write_text("not an image, skipped by extension")
    assert main(["predict", "-w", str(tv11_fp16_weights), "--json", "-b", "2", str(folder)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["image"].rsplit("/", 1)[-1] for r in results] == sorted(names[:2]) + [names[2]]
    assert [r["top"][0]["name"] for r in results] == ["tench", "brambling", "flamingo"]


def test_predict_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "empty")]) == 2
    assert "empty: folder holds no images" in capsys.readouterr().err
