"""ExecuTorch as an optional extra (issue 28, items 1 and 2): ``export --format executorch``
writes a ``.pte`` delegated to XNNPACK, fp32 or PT2E INT8 calibrated on the user's images,
checked in ExecuTorch's runtime against eager PyTorch; ``predict`` and ``evaluate`` run the
``.pte`` as ``-w`` with the classes and preprocessing of its sidecar description."""

from __future__ import annotations

import json

import pytest

from helpers import described_tree, eager_on_tree, export_checked, run_json
from squeezenet.cli import main
from squeezenet.weights import ModelInfo

pytest.importorskip(
    "executorch", reason="ExecuTorch is an optional extra (squeezenet-dc[executorch])"
)

CLASSES = ("cat", "dog", "frog")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A described tiny model (.pth), a labelled image tree, its fp32 and INT8 ``.pte``."""
    root = tmp_path_factory.mktemp("executorch")
    out = described_tree(root, CLASSES)
    int8 = ["--int8", "--calibration", str(out["calibration"])]
    for name, flags in (("fp32", []), ("int8", int8)):
        out[name] = root / f"m-{name}.pte"
        export_checked(out["pth"], "executorch", out[name], out["tree"], *flags)
    return out


def test_the_pte_matches_eager_pytorch(files):
    from squeezenet.deploy.backends import load_exported, open_exported

    batch, eager = eager_on_tree(files["pth"], files["tree"])
    fp32 = load_exported(files["fp32"], "executorch")(batch)
    assert float((fp32 - eager).abs().max()) < 1e-4
    int8 = load_exported(files["int8"], "executorch")(batch)
    assert (int8.argmax(1) == eager.argmax(1)).float().mean() >= 0.75
    # The precision and the input the program was exported at come back with the file.
    assert open_exported(files["int8"]).precision == "int8"
    assert open_exported(files["fp32"]).input_shape == (1, 3, 64, 64)


def test_export_reports_the_check_and_writes_the_sidecar(capsys, files, tmp_path):
    pte = tmp_path / "again.pte"
    argv = ["export", "-w", str(files["pth"]), "-f", "executorch", "-o", str(pte), "--json"]
    result = run_json(capsys, [*argv, "--check-images", str(files["tree"])])
    assert result["format"] == "executorch" and result["max_abs_diff"] < 1e-4
    assert result["images"]["top1_agree"] == result["images"]["n"] == 9
    sidecar = json.loads((tmp_path / "again.pte.json").read_text())
    assert sidecar["precision"] == "fp32"
    assert ModelInfo.from_dict(sidecar["model"], "sidecar").classes == CLASSES


def test_predict_and_evaluate_a_pte_with_no_flags(capsys, files):
    def top(weights):
        argv = ["predict", "-w", str(weights), str(files["tree"]), "--json", "--no-progress"]
        return {
            r["image"]: [(t["index"], t["name"]) for t in r["top"]] for r in run_json(capsys, argv)
        }

    by_torch = top(files["pth"])
    by_pte = top(files["fp32"])
    assert [[i for i, _ in t] for t in by_pte.values()] == [
        [i for i, _ in t] for t in by_torch.values()
    ]
    # The class names came from the sidecar description.
    assert {name for t in by_pte.values() for _, name in t} <= set(CLASSES)
    argv = ["evaluate", "-d", str(files["tree"]), "--json", "--no-progress", "--workers", "0"]
    torch_eval = run_json(capsys, [*argv, "-w", str(files["pth"])])
    for name in ("fp32", "int8"):
        pte_eval = run_json(capsys, [*argv, "-w", str(files[name])])
        assert pte_eval["backend"] == "executorch" and pte_eval["preprocess"] == "custom"
        assert pte_eval["n"] == torch_eval["n"] == 9


def test_bench_times_a_pte(capsys, files):
    argv = ["bench", "-w", str(files["fp32"]), "--json", "--rounds", "1", "--iters", "1"]
    rows = run_json(capsys, [*argv, "-b", "2"])
    assert {(r["backend"], r["batch"], r["input_size"]) for r in rows} == {
        ("executorch", 1, 64),
        ("executorch", 2, 64),
    }


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_a_garbage_pte_or_sidecar_is_refused_naming_the_file(tmp_path, capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    garbage = tmp_path / "garbage.pte"
    garbage.write_bytes(b"not a program at all\x00\xff" * 50)
    err = _one_line_error(capsys, ["predict", "-w", str(garbage), image])
    assert str(garbage) in err and "not a readable ExecuTorch program" in err
    good = tmp_path / "m.pte"
    good.write_bytes(files["fp32"].read_bytes())
    sidecar = tmp_path / "m.pte.json"
    sidecar.write_text("{not json")
    err = _one_line_error(capsys, ["predict", "-w", str(good), image])
    assert str(sidecar) in err and "not valid JSON" in err
    raw = json.loads((files["fp32"].parent / "m-fp32.pte.json").read_text())
    raw["model"]["evil"] = 1
    sidecar.write_text(json.dumps(raw))
    err = _one_line_error(capsys, ["predict", "-w", str(good), image])
    assert str(sidecar) in err and "unknown key 'evil'" in err
    sidecar.write_text(json.dumps({"precision": "int4", "model": None}))
    err = _one_line_error(capsys, ["predict", "-w", str(good), image])
    assert str(sidecar) in err


def test_executorch_runs_exported_files_only(capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(
        capsys, ["predict", "-w", str(files["pth"]), "--backend", "executorch", image]
    )
    assert "runs exported files only" in err
