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
