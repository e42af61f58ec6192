"""LiteRT as an optional extra (issue 28, items 1 and 2): ``export --format litert`` writes a
``.tflite``, fp32 or PT2E INT8 calibrated on the user's images (int8 input and output
tensors), checked in LiteRT's interpreter against eager PyTorch; ``predict``, ``evaluate``
and ``bench`` run the ``.tflite`` as ``-w`` with the classes and preprocessing of its
sidecar description."""

from __future__ import annotations

import json

import pytest

from helpers import described_tree, eager_on_tree, export_checked, run_json
from squeezenet.cli import main
from squeezenet.weights import ModelInfo

pytest.importorskip("litert_torch", reason="LiteRT is an optional extra (squeezenet-dc[litert])")
pytest.importorskip("ai_edge_litert", reason="LiteRT is an optional extra (squeezenet-dc[litert])")

CLASSES = ("cat", "dog", "frog")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A described tiny model (.pth), a labelled image tree, its fp32 and INT8 ``.tflite``
    and what ``export --json`` reported for each (under ``report-fp32`` / ``report-int8``)."""
    root = tmp_path_factory.mktemp("litert")
    out = described_tree(root, CLASSES)
    int8 = ["--int8", "--calibration", str(out["calibration"])]
    for name, flags in (("fp32", []), ("int8", int8)):
        out[name] = root / f"m-{name}.tflite"
        report = export_checked(out["pth"], "litert", out[name], out["tree"], *flags)
        out[f"report-{name}"] = report
    return out


def test_the_tflite_matches_eager_pytorch(files):
    from squeezenet.deploy.backends import load_exported, open_exported

    batch, eager = eager_on_tree(files["pth"], files["tree"])
    fp32 = load_exported(files["fp32"], "litert")(batch)
    assert float((fp32 - eager).abs().max()) < 1e-4
    int8 = load_exported(files["int8"], "litert")
    assert (int8(batch).argmax(1) == eager.argmax(1)).float().mean() >= 0.75
    # Batch 1 after a batch of 9: the input is resized back.
    assert float((int8(batch[:1]) - int8(batch)[:1]).abs().max()) == 0
    # The precision and the input the file was exported at come back with the file.
    assert open_exported(files["int8"]).precision == "int8"
    assert open_exported(files["fp32"]).input_shape == (1, 3, 64, 64)


def test_export_reports_the_check_and_writes_the_sidecar(files):
    fp32, int8 = files["report-fp32"], files["report-int8"]
    assert fp32["format"] == "litert" and fp32["max_abs_diff"] < 1e-4
    assert fp32["images"]["top1_agree"] == fp32["images"]["n"] == 9
    assert int8["precision"] == "int8" and int8["images"]["top1_agree"] >= 7
    sidecar = json.loads(files["fp32"].with_name("m-fp32.tflite.json").read_text())
    assert sidecar["precision"] == "fp32"
    assert ModelInfo.from_dict(sidecar["model"], "sidecar").classes == CLASSES
    # The report counts the sidecar's bytes with the file's.
    assert fp32["bytes"] == files["fp32"].stat().st_size + len(
        files["fp32"].with_name("m-fp32.tflite.json").read_bytes()
    )


def test_predict_and_evaluate_a_tflite_with_no_flags(capsys, files):
    def top(weights):
        argv = ["predict", "-w", str(weights), str(files["tree"]), "--json", "--no-progress"]
        return {
            r["image"]: [(t["index"], t["name"]) for t in r["top"]] for r in run_json(capsys, argv)
        }

    by_torch = top(files["pth"])
    by_tflite = top(files["fp32"])
    assert [[i for i, _ in t] for t in by_tflite.values()] == [
        [i for i, _ in t] for t in by_torch.values()
    ]
    # The class names came from the sidecar description.
    assert {name for t in by_tflite.values() for _, name in t} <= set(CLASSES)
    argv = ["evaluate", "-d", str(files["tree"]), "--json", "--no-progress", "--workers", "0"]
    torch_eval = run_json(capsys, [*argv, "-w", str(files["pth"])])
    for name in ("fp32", "int8"):
        # Batch 4: two full batches, then one image (the input is resized each time).
        tflite_eval = run_json(capsys, [*argv, "-b", "4", "-w", str(files[name])])
        assert tflite_eval["backend"] == "litert" and tflite_eval["preprocess"] == "custom"
        assert tflite_eval["n"] == torch_eval["n"] == 9


def test_bench_times_a_tflite(capsys, files):
    argv = ["bench", "-w", str(files["int8"]), "--json", "--rounds", "1", "--iters", "1"]
    rows = run_json(capsys, [*argv, "-b", "2"])
    assert {(r["backend"], r["precision"], r["batch"], r["input_size"]) for r in rows} == {
        ("litert", "int8", 1, 64),
        ("litert", "int8", 2, 64),
    }


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_a_garbage_tflite_or_sidecar_is_refused_naming_the_file(tmp_path, capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model at all\x00\xff" * 50)
    err = _one_line_error(capsys, ["predict", "-w", str(garbage), image])
    assert str(garbage) in err and "not a readable LiteRT model" in err
    good = tmp_path / "m.tflite"
    good.write_bytes(files["fp32"].read_bytes())
    sidecar = tmp_path / "m.tflite.json"
    sidecar.write_text("{not json")
    err = _one_line_error(capsys, ["predict", "-w", str(good), image])
    assert str(sidecar) in err and "not valid JSON" in err
    sidecar.write_text(json.dumps({"precision": "int4", "model": None}))
    err = _one_line_error(capsys, ["predict", "-w", str(good), image])
    assert str(sidecar) in err
    # Without a sidecar the file runs with the defaults, its precision read from its input.
    sidecar.unlink()
    int8 = tmp_path / "q.tflite"
    int8.write_bytes(files["int8"].read_bytes())
    from squeezenet.deploy.backends import open_exported

    assert open_exported(good).weights_info is None
    assert open_exported(good).precision == "fp32" and open_exported(int8).precision == "int8"


def test_litert_runs_exported_files_only(capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(
        capsys, ["predict", "-w", str(files["pth"]), "--backend", "litert", image]
    )
    assert "runs exported files only" in err
