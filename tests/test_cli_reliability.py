"""The CLI keeps its promises on hostile input: an output is never the input, control
characters never reach the terminal, every tensor is checked, and files that are not what
a flag expects are named."""

from __future__ import annotations

import pytest

from helpers import save_described, tiny_model
from squeezenet.cli import main
from squeezenet.compress.pipeline import lossless
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.modeldesc import describe_model


def _sqz(path, classes=None, edit=None):
    """A tiny lossless .sqz (with ``classes`` as its class names; ``edit(state)`` first)."""
    model = tiny_model(3 if classes is None else len(classes))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if edit is not None:
        edit(state)
    meta = {} if classes is None else {"classes": list(classes)}
    compressed = lossless(state, describe_model(model, "squeezenet1_1"), "huffman", meta)
    fileformat.save(compressed, path)
    return path


@pytest.mark.parametrize("spelling", ["same", "dot", "link", "hardlink"])
def test_decompress_refuses_to_write_over_its_input(tmp_path, capsys, spelling):
    sqz = _sqz(tmp_path / "f.sqz")
    before = sqz.read_bytes()
    out = {"same": sqz, "dot": tmp_path / "." / "f.sqz"}.get(spelling)
    if spelling == "link":
        out = tmp_path / "link.sqz"
        out.symlink_to(sqz)
    elif spelling == "hardlink":
        out = tmp_path / "hard.sqz"
        out.hardlink_to(sqz)
    assert main(["decompress", str(sqz), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"squeezenet decompress: error: {out}: -o is the input file {sqz}; writing it " in err
    assert "choose another -o" in err and "Traceback" not in err
    assert sqz.read_bytes() == before


def test_compress_refuses_to_write_over_its_weights(tmp_path, capsys):
    sqz = _sqz(tmp_path / "f.sqz")
    before = sqz.read_bytes()
    argv = ["compress", "-w", str(sqz), "--lossless", "-o", str(sqz)]
    assert main(argv) == 2
    assert f"{sqz}: -o is the -w file {sqz}" in capsys.readouterr().err
    assert sqz.read_bytes() == before
    pth = save_described(tiny_model(3), tmp_path / "m.pth")
    argv = ["compress", "-w", str(pth), "-o", str(sqz), "--report", str(pth)]
    assert main(argv) == 2
    assert f"{pth}: --report is the -w file {pth}" in capsys.readouterr().err


def test_train_refuses_an_output_folder_holding_its_weights(tmp_path, capsys):
    pth = save_described(tiny_model(3), tmp_path / "model.pth")
    argv = ["train", "-d", str(tmp_path), "-w", str(pth), "-o", str(tmp_path)]
    assert main(argv) == 2
    assert f"{pth}: --output is the weights {pth}" in capsys.readouterr().err


def test_class_names_with_control_characters_are_refused_at_load(tmp_path, capsys):
    for name in ("evil\x1b]0;owned\x07", "two\nlines", "nul\x00"):
        sqz = _sqz(tmp_path / "c.sqz", classes=["cat", name, "frog"])
        assert main(["predict", "-w", str(sqz), str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert f"class name {name[:40]!r} holds control characters" in err
        assert "\x1b" not in err and "\x07" not in err


def test_predict_escapes_class_names_from_a_class_list(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 40), "red").save(tmp_path / "x.png")
    classes = tmp_path / "classes.txt"
    classes.write_text("a \x1b[31mred\n", encoding="utf-8")
    argv = ["predict", "-m", "squeezenet_cifar", "--classes", str(classes), str(tmp_path / "x.png")]
    assert main([*argv, "--no-progress"]) == 2
    assert f"{classes}: line 1 of the class list holds control characters" in (
        capsys.readouterr().err
    )


def test_printed_names_are_escaped(capsys):
    from squeezenet.cli.predict import _Output

    out = _Output(as_json=False)
    out.write({"image": "a.png", "top": [{"prob": 0.5, "index": 1, "name": "x\n  99.00%  y"}]})
    printed = capsys.readouterr().out
    assert printed.count("\n") == 2 and "x\\n  99.00%  y" in printed


def test_decompress_without_output_checks_every_tensor(tmp_path, capsys):
    def nan_bias(state):
        state["classifier.1.bias"][0] = float("nan")

    sqz = _sqz(tmp_path / "nan.sqz", edit=nan_bias)
    assert main(["decompress", str(sqz)]) == 2
    err = capsys.readouterr().err
    assert "'classifier.1.bias' has NaN or infinite values" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", "{sqz}"], "{sqz}: not a YAML config file (not UTF-8 text)"),
        (
            ["predict", "--classes", "{sqz}", "{sqz}"],
            "{sqz}: not a class list (UTF-8 text of '<wnid> <names>' lines); is it a model file?",
        ),
    ],
)
def test_a_model_file_given_for_a_text_file_is_named(tmp_path, capsys, argv, message):
    sqz = str(_sqz(tmp_path / "x.sqz"))
    assert main([a.format(sqz=sqz) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message.format(sqz=sqz) in err and "codec" not in err


def _onnx(path, channels=3, side=224, description=None):
    """A tiny ONNX classifier (global average pool, flatten: ``channels`` classes)."""
    import json

    import onnx
    from onnx import TensorProto, helper

    from squeezenet.lite.graph import METADATA_KEY

    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", channels, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", channels])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    if description is not None:
        helper.set_model_props(model, {METADATA_KEY: json.dumps(description)})
    onnx.save(model, path)
    return path


def _photo(tmp_path):
    from PIL import Image

    Image.new("RGB", (300, 240), (200, 120, 40)).save(tmp_path / "good.png")
    return str(tmp_path / "good.png")


def test_an_onnx_graph_for_other_than_rgb_images_is_named(tmp_path, capsys):
    graph = _onnx(tmp_path / "wide.onnx", channels=1000)
    assert main(["predict", "-w", str(graph), _photo(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{graph}: the graph takes 1000-channel images; the preprocessing gives RGB" in err


def _description(crop, resize):
    from squeezenet.weights.info import ModelInfo

    model = tiny_model(3)
    d = ModelInfo(describe_model(model, "squeezenet1_1"), ("a", "b", "c")).to_dict()
    d["preprocess"] = {
        "name": "custom",
        "resize": resize,
        "crop": crop,
        "mean": [0.5] * 3,
        "std": [0.2] * 3,
        "bgr": False,
        "scale": 1 / 255,
    }
    return d


def test_preprocessing_that_does_not_fit_the_graph_blames_the_model_file(tmp_path, capsys):
    graph = _onnx(tmp_path / "m.onnx", description=_description(64, 73))
    assert main(["predict", "-w", str(graph), _photo(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{graph}: the description's preprocessing crops 64 px, the graph takes 224 px" in err


def test_a_huge_resize_in_a_model_file_blames_the_file_not_the_photo(tmp_path, capsys):
    graph = _onnx(tmp_path / "big.onnx", description=_description(224, 8192))
    assert main(["predict", "-w", str(graph), _photo(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{graph}: " in err and "preprocess 'resize' must be an integer in [1, 2048]" in err
    assert "good.png" not in err


@pytest.mark.parametrize("opset", ["6", "17", "99"])
def test_export_refuses_an_opset_it_cannot_write(opset, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--opset", opset])
    assert e.value.code == 2
    assert "argument --opset: must be in [18, " in capsys.readouterr().err


def test_export_refuses_an_image_size_below_the_model_minimum(tmp_path, capsys):
    argv = ["export", "--image-size", "16", "-o", str(tmp_path / "m.onnx")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "image size 16 is below this model's smallest input, 17 px (--image-size)" in err
    assert "Traceback" not in err and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--bits", "nosuch*=4"], "--bits: pattern 'nosuch*' matches no layer of the model"),
        (["--prune", "fire99*=0.5"], "--prune: pattern 'fire99*' matches no layer of the model"),
    ],
)
def test_a_per_layer_pattern_that_matches_no_layer_is_an_error(tmp_path, capsys, flags, message):
    pth = save_described(tiny_model(3), tmp_path / "m.pth")
    out = tmp_path / "out.sqz"
    argv = ["compress", "-w", str(pth), "-o", str(out), "--preset", "paper", *flags]
    assert main([*argv, "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_export_writes_the_name_it_is_given_and_refuses_a_folder(tmp_path, capsys):
    pth = str(save_described(tiny_model(3), tmp_path / "m.pth"))
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["export", "-w", pth, "-o", str(folder)]) == 2
    assert f"{folder}: cannot write the file: Is a directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "m.pth", folder]
    assert main(["export", "-w", pth, "-o", str(tmp_path / "mymodel"), "--json"]) == 0
    assert (tmp_path / "mymodel").is_file() and not (tmp_path / "mymodel.onnx").exists()
    assert main(["export", "-w", pth, "-o", str(tmp_path / "m.txt"), "-f", "openvino"]) == 2
    assert "--format openvino writes a .xml file and a .bin beside it" in capsys.readouterr().err
