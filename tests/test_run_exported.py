"""The tool runs what it exports (issue 28, items 2 and 3): an exported ``.onnx`` or OpenVINO
``.xml`` as ``-w`` runs in its runtime with the classes and preprocessing its metadata
carries; a broken or hostile file is refused with its name; ``export --check-images``
reports top-1 agreement with PyTorch and, on a labelled folder, the accuracy of both."""

from __future__ import annotations

import pytest
import torch

from helpers import run_json, save_described, tiny_model, write_tree
from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.weights import WeightsError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CLASSES = ("cat", "dog", "frog")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A described tiny model (.pth), its ONNX export and a labelled image tree."""
    root = tmp_path_factory.mktemp("exported")
    torch.manual_seed(0)
    model = tiny_model(len(CLASSES)).eval()
    pth = save_described(model, root / "m.pth", CLASSES)
    tree = write_tree(root / "tree", CLASSES, per_class=(3,), size=40, splits=("val",)) / "val"
    onnx = root / "m.onnx"
    assert main(["export", "-w", str(pth), "-o", str(onnx), "--json"]) == 0
    return {"pth": pth, "onnx": onnx, "tree": tree}


def _predict(capsys, weights, tree, *flags):
    out = run_json(capsys, ["predict", "-w", str(weights), str(tree), "--json", "--no-progress"])
    return {r["image"]: [(t["index"], t["name"]) for t in r["top"]] for r in out}


def test_predict_and_evaluate_an_onnx_export_with_no_flags(capsys, files):
    torch_top = _predict(capsys, files["pth"], files["tree"])
    onnx_top = _predict(capsys, files["onnx"], files["tree"])
    # The class names and the custom preprocessing came from the file's metadata.
    assert onnx_top == torch_top
    assert {name for top in onnx_top.values() for _, name in top} <= set(CLASSES)
    argv = ["evaluate", "-d", str(files["tree"]), "--json", "--no-progress", "--workers", "0"]
    by_torch = run_json(capsys, [*argv, "-w", str(files["pth"])])
    by_onnx = run_json(capsys, [*argv, "-w", str(files["onnx"])])
    assert by_onnx["backend"] == "onnxruntime" and by_onnx["preprocess"] == "custom"
    assert by_torch["n"] == 9
    assert (by_onnx["correct1"], by_onnx["n"]) == (by_torch["correct1"], by_torch["n"])


def test_openvino_runs_the_onnx_file_and_its_own_ir(tmp_path, capsys, files):
    pytest.importorskip("openvino")
    torch_top = _predict(capsys, files["pth"], files["tree"])
    argv = ["predict", "-w", str(files["onnx"]), "--backend", "openvino", str(files["tree"])]
    out = run_json(capsys, [*argv, "--json", "--no-progress"])
    assert {r["image"]: [(t["index"], t["name"]) for t in r["top"]] for r in out} == torch_top
    xml = tmp_path / "m.xml"
    assert main(["export", "-w", str(files["pth"]), "-f", "openvino", "-o", str(xml)]) == 0
    capsys.readouterr()
    assert _predict(capsys, xml, files["tree"]) == torch_top


def test_bench_times_an_exported_file_as_it_is(capsys, files):
    argv = ["bench", "-w", str(files["onnx"]), "--backends", "onnxruntime", "--json"]
    rows = run_json(capsys, [*argv, "--rounds", "1", "--iters", "1", "-b", "2"])
    assert {(r["backend"], r["batch"], r["input_size"]) for r in rows} == {
        ("onnxruntime", 1, 64),
        ("onnxruntime", 2, 64),
    }


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_a_file_that_is_no_model_is_refused_naming_it(tmp_path, capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all\x00\xff" * 50)
    err = _one_line_error(capsys, ["predict", "-w", str(garbage), image])
    assert str(garbage) in err and "not a readable ONNX model" in err
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert str(empty) in _one_line_error(capsys, ["predict", "-w", str(empty), image])


def test_a_hostile_description_is_refused_naming_the_file(tmp_path, capsys, files):
    import onnx

    from squeezenet.deploy.export import set_description

    proto = onnx.load(str(files["onnx"]))
    set_description(proto, {"model": {"name": "squeezenet1_1", "kwargs": {}}, "evil": 1})
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, str(bad))
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(capsys, ["predict", "-w", str(bad), image])
    assert str(bad) in err and "unknown key 'evil'" in err
    set_description(proto, {"model": {"name": "squeezenet1_1", "kwargs": {}}, "classes": ["a"]})
    onnx.save(proto, str(bad))
    err = _one_line_error(capsys, ["predict", "-w", str(bad), image])
    assert "names 1 classes but the classifier has 3 outputs" in err


def test_exported_files_refuse_what_they_cannot_do(capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    onnx = str(files["onnx"])
    err = _one_line_error(capsys, ["predict", "-w", onnx, "--backend", "torch", image])
    assert "cannot run" in err and onnx in err
    err = _one_line_error(capsys, ["predict", "-w", onnx, "--model-arg", "sr=0.25", image])
    assert "architecture is fixed" in err
    assert "graph takes 64x64 images, not the --image-size 96" in _one_line_error(
        capsys, ["predict", "-w", onnx, "--image-size", "96", image]
    )
    assert "needs the PyTorch weights" in _one_line_error(capsys, ["export", "-w", onnx])
    with pytest.raises(WeightsError, match="an exported model, not PyTorch weights"):
        create_model(weights=onnx)  # the library's weights loader


def test_export_check_images_reports_agreement_and_accuracy(tmp_path, capsys, files):
    out = tmp_path / "m.onnx"
    argv = ["export", "-w", str(files["pth"]), "-o", str(out), "--check-images"]
    labelled = run_json(capsys, [*argv, str(files["tree"]), "--json"])["images"]
    evaluated = run_json(
        capsys,
        ["evaluate", "-w", str(files["pth"]), "-d", str(files["tree"]), "--json"]
        + ["--no-progress", "--workers", "0", "--decode", "exact"],
    )
    assert labelled["labelled"] and labelled["n"] == labelled["top1_agree"] == 9
    assert labelled["torch_correct"] == labelled["export_correct"] == evaluated["correct1"]
    unlabelled = run_json(capsys, [*argv, str(files["tree"] / "cat"), "--json"])["images"]
    assert unlabelled == {"n": 3, "top1_agree": 3, "skipped": 0, "labelled": False}
    assert main([*argv, str(files["tree"])]) == 0
    assert "top-1 agrees with PyTorch on 9/9; top-1 accuracy PyTorch" in capsys.readouterr().out


def test_a_file_without_description_runs_with_the_defaults(tmp_path, capsys, files):
    import onnx

    proto = onnx.load(str(files["onnx"]))
    del proto.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(proto, str(plain))
    # No description: the default preprocessing, cropped to the graph's fixed input.
    tree = str(files["tree"])
    argv = ["predict", str(tree), "--json", "--no-progress"]
    pth = ["-w", str(files["pth"]), "--preprocess", "torchvision", "--image-size", "64"]
    by_torch = run_json(capsys, [*argv, *pth])
    by_onnx = run_json(capsys, [*argv, "-w", str(plain)])
    assert [t["index"] for r in by_onnx for t in r["top"]] == [
        t["index"] for r in by_torch for t in r["top"]
    ]
    assert by_onnx[0]["top"][0]["name"] != by_torch[0]["top"][0]["name"]  # no class names


def test_a_weightless_graph_is_sent_to_squeezenet_lite(tmp_path, capsys, files):
    import onnx

    from squeezenet.lite.graph import WEIGHTS_LOCATION

    # What export --weightless writes: initializers that point at the .sqz's weights.
    proto = onnx.load(str(files["onnx"]))
    t = proto.graph.initializer[0]
    stripped = onnx.TensorProto(name=t.name, data_type=t.data_type, dims=t.dims)
    stripped.data_location = onnx.TensorProto.EXTERNAL
    stripped.external_data.add(key="location", value=WEIGHTS_LOCATION)
    t.CopyFrom(stripped)
    graph = tmp_path / "w.onnx"
    onnx.save(proto, str(graph))
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(capsys, ["predict", "-w", str(graph), image])
    assert str(graph) in err and "squeezenet.lite" in err


def test_bench_times_exported_files_beside_the_model(capsys, files):
    argv = ["bench", "-w", str(files["pth"]), "--backends", "torch", "--json"]
    argv += ["--exported", str(files["onnx"]), "--rounds", "1", "--iters", "1", "-b", "2"]
    rows = run_json(capsys, argv)
    assert {(r["backend"], r["precision"], r["batch"]) for r in rows} == {
        ("torch", "fp32", 1),
        ("torch", "fp32", 2),
        ("onnxruntime:m.onnx", "fp32", 1),
        ("onnxruntime:m.onnx", "fp32", 2),
    }
    # A file exported at another input size cannot share the rounds' inputs.
    assert main([*argv, "--image-size", "96"]) != 0
    assert f"{files['onnx']}: its graph takes 64 px, not 96" in capsys.readouterr().err
