"""ncnn as an optional extra (issue 28, items 1 and 2): ``export --format ncnn`` converts with
pnnx to a ``.param`` + ``.bin`` pair, fp32 weights (or fp16 with ``--fp16``), checked in
ncnn's runtime against eager PyTorch; ``predict``, ``evaluate`` and ``bench`` run the
``.param`` as ``-w`` with the classes and preprocessing of its sidecar description. INT8 is
refused: the packages do not ship ncnn's quantization tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import described_tree, eager_on_tree, export_checked, run_json
from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.weights import ModelInfo

pytest.importorskip("pnnx", reason="ncnn is an optional extra (squeezenet-dc[ncnn])")
pytest.importorskip("ncnn", reason="ncnn is an optional extra (squeezenet-dc[ncnn])")

# Tests run ncnn in the process that runs PyTorch, with no OMP_WAIT_POLICY set at its start:
# the backend says so once (OPENMP_NOTE); the figures here do not depend on it.
pytestmark = pytest.mark.filterwarnings("ignore:ncnn and PyTorch each bring:RuntimeWarning")

CLASSES = ("cat", "dog", "frog")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A described tiny model (.pth), a labelled image tree, its fp32 and fp16 ncnn models
    (each alone in a folder of its own)."""
    root = tmp_path_factory.mktemp("ncnn")
    out = described_tree(root, CLASSES)
    for name, flags in (("fp32", []), ("fp16", ["--fp16"])):
        out[name] = root / name / "m.ncnn.param"
        export_checked(out["pth"], "ncnn", out[name], out["tree"], *flags)
    return out


def test_the_ncnn_model_matches_eager_pytorch(files):
    from squeezenet.deploy.backends import load_exported, open_exported

    batch, eager = eager_on_tree(files["pth"], files["tree"])
    fp32 = load_exported(files["fp32"], "ncnn")(batch)  # a batch runs image by image
    assert fp32.shape == eager.shape
    assert float((fp32 - eager).abs().max()) < 1e-4
    fp16 = load_exported(files["fp16"], "ncnn")(batch)
    assert float((fp16 - eager).abs().max()) < 1e-2
    assert (fp16.argmax(1) == eager.argmax(1)).all()
    # The precision comes back with the sidecar; the graph takes any image size.
    assert open_exported(files["fp16"]).precision == "fp16"
    exported = open_exported(files["fp32"])
    assert exported.precision == "fp32" and exported.input_shape == (1, 3, None, None)
    assert exported.num_outputs == len(CLASSES)


def test_export_keeps_the_pair_and_its_sidecar_only(capsys, files, tmp_path):
    out = tmp_path / "out"
    argv = ["export", "-w", str(files["pth"]), "-f", "ncnn", "-o", str(out / "again"), "--json"]
    result = run_json(capsys, [*argv, "--check-images", str(files["tree"])])
    assert result["format"] == "ncnn" and result["max_abs_diff"] < 1e-4
    assert result["path"] == str(out / "again.ncnn.param")
    assert result["images"]["top1_agree"] == result["images"]["n"] == 9
    # pnnx's TorchScript, pnnx, ONNX and Python files stayed in a temporary folder.
    written = ["again.ncnn.bin", "again.ncnn.param", "again.ncnn.param.json"]
    assert sorted(p.name for p in out.iterdir()) == written
    sidecar = json.loads((out / "again.ncnn.param.json").read_text())
    assert sidecar["precision"] == "fp32"
    assert ModelInfo.from_dict(sidecar["model"], "sidecar").classes == CLASSES
    assert result["bytes"] == sum((out / name).stat().st_size for name in written)
    fp16 = files["fp16"]
    assert fp16.with_suffix(".bin").stat().st_size < 0.6 * (out / "again.ncnn.bin").stat().st_size


def test_predict_and_evaluate_an_ncnn_model_with_no_flags(capsys, files):
    def top(weights):
        argv = ["predict", "-w", str(weights), str(files["tree"]), "--json", "--no-progress"]
        return {
            r["image"]: [(t["index"], t["name"]) for t in r["top"]] for r in run_json(capsys, argv)
        }

    by_torch = top(files["pth"])
    by_ncnn = top(files["fp32"])
    assert [[i for i, _ in t] for t in by_ncnn.values()] == [
        [i for i, _ in t] for t in by_torch.values()
    ]
    # The class names came from the sidecar description.
    assert {name for t in by_ncnn.values() for _, name in t} <= set(CLASSES)
    argv = ["evaluate", "-d", str(files["tree"]), "--json", "--no-progress", "--workers", "0"]
    torch_eval = run_json(capsys, [*argv, "-w", str(files["pth"])])
    ncnn_eval = run_json(capsys, [*argv, "-w", str(files["fp32"])])
    assert ncnn_eval["backend"] == "ncnn" and ncnn_eval["preprocess"] == "custom"
    assert ncnn_eval["correct1"] == torch_eval["correct1"] and ncnn_eval["n"] == 9


def test_bench_times_an_ncnn_file_beside_the_torchvision_baseline(tmp_path):
    # squeezenet1_1 in torchvision's layout, so that the baseline row runs too: without one
    # thread in bench's memory child, that child waited for ncnn's OpenMP workers until
    # bench's 120 s timeout.
    from helpers import subprocess_env

    torch.manual_seed(0)
    pth = tmp_path / "sq11.pth"
    torch.save(create_model("squeezenet1_1").state_dict(), pth)
    assert main(["export", "-w", str(pth), "-f", "ncnn", "-o", str(tmp_path / "sq11")]) == 0
    argv = ["bench", "-w", str(pth), "--backends", "torch", "--json", "--rounds", "1"]
    argv += ["--iters", "1", "-b", "2", "--exported", str(tmp_path / "sq11.ncnn.param")]
    done = subprocess.run(
        [sys.executable, "-m", "squeezenet", *argv],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["backend"] for r in rows} == {"torchvision", "torch", "ncnn:sq11.ncnn.param"}
    assert all(r["peak_mem_mib"] is not None for r in rows)


def test_bench_times_an_ncnn_model_in_a_fresh_process(files):
    # A process of its own, as the command runs: bench measures memory in forked children,
    # and libgomp's thread pool, which the tests above started in this one, does not survive
    # a fork (the child would wait for threads it does not have until bench's timeout).
    from helpers import subprocess_env

    argv = ["bench", "-w", str(files["fp16"]), "--json", "--rounds", "1", "--iters", "1"]
    env = {k: v for k, v in subprocess_env().items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-m", "squeezenet", *argv, "-b", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {(r["backend"], r["precision"], r["batch"], r["input_size"]) for r in rows} == {
        ("ncnn", "fp16", 1, 64),
        ("ncnn", "fp16", 2, 64),
    }
    assert all(r["peak_mem_mib"] is not None for r in rows)
    # The command set the passive wait policy itself: no warning about two OpenMP runtimes.
    assert "OMP_WAIT_POLICY" not in done.stderr


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


def test_int8_is_refused_saying_why(capsys, files, tmp_path):
    argv = ["export", "-w", str(files["pth"]), "-f", "ncnn", "-o", str(tmp_path / "q")]
    for calibration in (["--calibration", str(files["tree"])], []):
        err = _one_line_error(capsys, [*argv, "--int8", *calibration])
        assert "ncnn2table" in err and "do not ship" in err
        assert "onnx, openvino, executorch or litert" in err
    assert not list(tmp_path.iterdir())
    argv = ["export", "-w", str(files["pth"]), "-f", "onnx", "-o", str(tmp_path / "h.onnx")]
    assert "--fp16 is available for --format ncnn only" in _one_line_error(
        capsys, [*argv, "--fp16"]
    )


def test_a_missing_or_bad_file_is_refused_naming_it(tmp_path, capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    param = tmp_path / "m.param"
    param.write_bytes(files["fp32"].read_bytes())
    weights = tmp_path / "m.bin"
    err = _one_line_error(capsys, ["predict", "-w", str(param), image])
    assert str(weights) in err and "no such file" in err
    weights.write_bytes(files["fp32"].with_suffix(".bin").read_bytes()[:1000])
    err = _one_line_error(capsys, ["predict", "-w", str(param), image])
    assert str(weights) in err and "not the weights" in err
    weights.write_bytes(files["fp32"].with_suffix(".bin").read_bytes())
    garbage = tmp_path / "garbage.param"
    garbage.write_bytes(b"not a graph at all\x00\xff" * 50)
    garbage.with_suffix(".bin").write_bytes(weights.read_bytes())
    err = _one_line_error(capsys, ["predict", "-w", str(garbage), image])
    assert str(garbage) in err and "not a readable ncnn model graph" in err
    sidecar = tmp_path / "m.param.json"
    sidecar.write_text(json.dumps({"precision": "int8", "model": None}))
    err = _one_line_error(capsys, ["predict", "-w", str(param), image])
    assert str(sidecar) in err
    sidecar.unlink()  # without its sidecar the pair runs with the flags given
    assert main(["predict", "-w", str(param), image, "--json"]) == 0


def test_ncnn_runs_exported_files_only(capsys, files):
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(capsys, ["predict", "-w", str(files["pth"]), "--backend", "ncnn", image])
    assert "runs exported files only" in err


def test_the_command_makes_openmp_passive_for_ncnn_only(monkeypatch):
    from squeezenet.cli import _passive_openmp_for_ncnn

    # In a fresh process torch is not loaded yet when the command starts.
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _passive_openmp_for_ncnn(["predict", "-w", "m.pth", "photo.jpg"])
    assert "OMP_WAIT_POLICY" not in os.environ
    _passive_openmp_for_ncnn(["export", "-w", "m.pth", "-f", "ncnn"])
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice stands
    _passive_openmp_for_ncnn(["bench", "-w", "sq11.ncnn.param"])
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_without_the_extra_the_error_names_the_file_and_the_extra(capsys, files, monkeypatch):
    from squeezenet.deploy.runtimes import ncnn as runtime

    has_module = runtime._has_module
    monkeypatch.setattr(runtime, "_has_module", lambda name: name != "ncnn" and has_module(name))
    image = str(next(files["tree"].rglob("*.png")))
    err = _one_line_error(capsys, ["predict", "-w", str(files["fp32"]), image])
    assert str(files["fp32"]) in err
    assert "running an ncnn model needs pip install 'squeezenet-dc[ncnn]'" in err
