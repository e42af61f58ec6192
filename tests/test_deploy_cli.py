"""The export / bench commands and --backend on predict / evaluate."""

from __future__ import annotations

import json

import pytest

from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.deploy.bench import format_table, run_bench

ROW_KEYS = {
    "backend",
    "precision",
    "batch",
    "median_ms",
    "p90_ms",
    "images_per_s",
    "peak_mem_mib",
    "speedup",
}


def test_run_bench_interleaves_every_backend_with_the_baseline():
    model = create_model("squeezenet1_1")
    rows = run_bench(
        model,
        ["torch", "torch-cl"],
        input_size=32,
        threads=1,
        rounds=3,
        iters=4,
        batch=4,
        progress=False,
    )
    assert [(r["backend"], r["batch"]) for r in rows] == [
        ("torchvision", 1),
        ("torch", 1),
        ("torch-cl", 1),
        ("torchvision", 4),
        ("torch", 4),
        ("torch-cl", 4),
    ]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["precision"] == "fp32"
        assert r["samples"] == (3 * 4 if r["batch"] == 1 else 3 * 1)
        assert 0 < r["median_ms"] <= r["p90_ms"]
        assert r["images_per_s"] == pytest.approx(r["batch"] * 1000 / r["median_ms"], rel=0.01)
    assert rows[0]["speedup"] == 1.0 and rows[3]["speedup"] == 1.0
    table = format_table(rows).splitlines()
    assert [c.strip() for c in table[0].split("|")[1:-1]] == [
        "backend",
        "precision",
        "batch",
        "median ms",
        "p90 ms",
        "img/s",
        "peak MiB",
        "vs torchvision",
    ]
    assert all(r["peak_mem_mib"] is None or r["peak_mem_mib"] > 0 for r in rows)
    assert len(table) == 2 + len(rows) and table[2].split()[1] == "torchvision"


def test_bench_without_torchvision_layout_has_no_baseline():
    model = create_model("squeezenet1_0")  # not torchvision's squeezenet1_1 layout
    rows = run_bench(
        model, ["torch"], input_size=32, threads=1, rounds=1, iters=1, batch=2, progress=False
    )
    assert [r["backend"] for r in rows] == ["torch", "torch"]
    assert all(r["speedup"] is None for r in rows)


def test_bench_cli_json(capsys):
    code = main(
        [
            "bench",
            "--backends",
            "torch,torch-cl",
            "--rounds",
            "1",
            "--iters",
            "2",
            "--batch-size",
            "2",
            "--image-size",
            "32",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["backend"], r["batch"]) for r in rows} == {
        (b, n) for b in ("torchvision", "torch", "torch-cl") for n in (1, 2)
    }
    assert all(ROW_KEYS <= set(r) and r["threads"] == 1 for r in rows)


def test_bench_cli_errors(capsys):
    assert main(["bench", "--backends", "tensorrt"]) == 2
    assert capsys.readouterr().err.startswith(
        "squeezenet bench: error: unknown backend 'tensorrt'; choose from torch, torch-cl,"
    )
    with pytest.raises(SystemExit) as info:  # a usage error, like every out-of-range count
        main(["bench", "--rounds", "0"])
    assert info.value.code == 2
    assert "argument --rounds: must be a positive integer, got 0" in capsys.readouterr().err


def test_export_cli_onnx_on_real_images(tmp_path, capsys, imagenet_sample, tv11_fp16_weights):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "model"
    code = main(
        [
            "export",
            "-w",
            str(tv11_fp16_weights),
            "-o",
            str(out),
            "--check-images",
            str(imagenet_sample),
            "--check-count",
            "8",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(out) and result["precision"] == "fp32"  # the name given
    assert result["n"] == 8 and result["top1_agree"] == 8
    assert result["max_abs_diff"] < 1e-4


def test_export_int8_is_checked_on_held_back_photos_and_warns(
    tmp_path, capsys, monkeypatch, imagenet_sample, tv11_fp16_weights
):
    """Without --check-images, INT8 is compared with fp32 on real photos of the calibration
    source that calibration did not draw, and a change above the limit is a warning."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from squeezenet.api import exporting

    monkeypatch.setattr(exporting, "INT8_CHANGED_LIMIT", -1.0)  # any agreement warns
    argv = ["export", "-w", str(tv11_fp16_weights), "--int8", "-o", str(tmp_path / "q.onnx")]
    argv += ["--calibration", str(imagenet_sample), "--calibration-size", "60", "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["check_images"] == "held back from --calibration" and result["n"] == 16
    check = result["int8_check"]
    assert check["images"] == "held back from --calibration" and check["n"] == 40
    assert 36 <= check["top1_agree"] <= 40 and check["warning"] is True
    changed = 40 - check["top1_agree"]
    assert f"differs from the fp32 model's on {changed} of 40 photos" in captured.err
    assert captured.err.startswith("squeezenet export: WARNING: ")


def test_export_int8_says_when_no_photo_is_left_to_check_on(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (40, 40), (60 * i, 30, 90)).save(tmp_path / f"{i}.png")
    argv = ["export", "-m", "squeezenet_cifar", "--int8", "-o", str(tmp_path / "q.onnx")]
    assert main(argv + ["--calibration", str(tmp_path), "--calibration-size", "3"]) == 0
    out = capsys.readouterr().out
    assert "vs eager PyTorch on 4 random images" in out
    assert "no photos of --calibration were left over to check the INT8 model on" in out


def test_export_cli_errors(tmp_path, capsys):
    assert main(["export", "--int8", "-o", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.strip() == (
        "squeezenet export: error: --int8 needs --calibration (an image folder or a zip of images)"
    )
    assert main(["export", "-f", "torchscript", "--int8", "--calibration", str(tmp_path)]) == 2
    assert (
        "--int8 is available for --format onnx, openvino, executorch and litert only"
        in capsys.readouterr().err
    )
    assert not list(tmp_path.iterdir())


def test_export_refuses_its_flags_before_loading_pytorch(tmp_path):
    # A flag no export can honour is refused at once, with exit status 2, before PyTorch or a
    # runtime loads (`-f ncnn --int8` used to be refused after about 110 s of loading).
    import subprocess
    import sys

    from squeezenet.deploy.formats import NCNN_NO_INT8

    photos = str(tmp_path)
    cases = [
        (
            ["-f", "ncnn", "--int8", "--calibration", photos],
            f"--int8 with --format ncnn: {NCNN_NO_INT8}",
        ),
        (["-f", "ncnn", "--int8"], f"--int8 with --format ncnn: {NCNN_NO_INT8}"),
        (
            ["-f", "torchscript", "--int8", "--calibration", photos],
            "--int8 is available for --format onnx, openvino, executorch and litert only",
        ),
        (["--int8"], "--int8 needs --calibration (an image folder or a zip of images)"),
        (["-f", "openvino", "--fp16"], "--fp16 is available for --format ncnn only"),
        (
            ["-f", "onnx", "--weightless", "--int8", "--calibration", photos],
            "--weightless is available for the fp32 --format onnx only",
        ),
        (["-f", "coreml"], "argument -f/--format: invalid choice: 'coreml'"),
        (["-m", "nosuch"], "argument -m/--model: invalid choice: 'nosuch'"),
        (["--preprocess", "nosuch"], "argument --preprocess: invalid choice: 'nosuch'"),
    ]
    script = (
        "import contextlib, io, json, sys\n"
        "from squeezenet.cli import main\n"
        "out = []\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(['export', '-w', 'w.pth', *argv])\n"
        "        except SystemExit as e:\n"
        "            code = e.code\n"
        "    out.append([code, err.getvalue().strip().splitlines()[-1]])\n"
        "out.append(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))\n"
        "print(json.dumps(out))\n"
    )
    argvs = json.dumps([argv for argv, _ in cases])
    done = subprocess.run(
        [sys.executable, "-c", script, argvs],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=tmp_path,
    )
    *results, imported = json.loads(done.stdout.splitlines()[-1])
    assert imported == []
    for (argv, message), (code, line) in zip(cases, results, strict=True):
        assert code == 2, argv
        if "invalid choice" in message:
            assert line.startswith(f"squeezenet export: error: {message}"), line
        else:
            assert line == f"squeezenet export: error: {message}"
    assert not [p for p in tmp_path.iterdir() if p.name != "w.pth"]


def test_predict_backend_matches_torch(capsys, imagenet_sample, tv11_fp16_weights):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    image = str(imagenet_sample / "n01440764_tench.JPEG")
    probs = {}
    for backend in ("torch", "onnxruntime"):
        assert (
            main(
                [
                    "predict",
                    "-w",
                    str(tv11_fp16_weights),
                    "--backend",
                    backend,
                    "--threads",
                    "2",
                    "--json",
                    image,
                ]
            )
            == 0
        )
        top = json.loads(capsys.readouterr().out)[0]["top"]
        probs[backend] = [(t["index"], t["prob"]) for t in top]
    assert [i for i, _ in probs["onnxruntime"]] == [i for i, _ in probs["torch"]]
    assert probs["onnxruntime"][0][1] == pytest.approx(probs["torch"][0][1], abs=1e-5)


def test_int8_backend_without_calibration_is_a_one_line_error(capsys, imagenet_sample):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    image = str(imagenet_sample / "n01440764_tench.JPEG")
    assert main(["predict", "--backend", "onnxruntime-int8", image]) == 2
    assert capsys.readouterr().err.strip() == (
        "squeezenet predict: error: backend 'onnxruntime-int8' needs calibration images "
        "(--calibration: an image folder or a zip of images, not the evaluation images)"
    )


@pytest.mark.slow
def test_evaluate_openvino_int8_cli(
    capsys, imagenet_sample, imagenet_classes, tv11_fp16_weights, cifar10_zip
):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    code = main(
        [
            "evaluate",
            "-w",
            str(tv11_fp16_weights),
            "--data",
            str(imagenet_sample),
            "--classes",
            str(imagenet_classes),
            "--backend",
            "openvino-int8",
            "--calibration",
            str(cifar10_zip),
            "--threads",
            "2",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 100 and abs(result["correct1"] - 63) <= 1


def test_export_cli_uses_the_models_registered_input_size(tmp_path, capsys):
    # CIFAR models are registered for 32x32 inputs; ImageNet ones get the preprocessing crop.
    assert (
        main(
            [
                "export",
                "-m",
                "squeezenet_cifar",
                "-f",
                "torchscript",
                "-o",
                str(tmp_path / "c"),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["path"] == str(tmp_path / "c") and result["input_size"] == 32
    assert result["check_images"] == "random" and result["max_abs_diff"] < 1e-5


@pytest.mark.parametrize(
    "fmt, suffix, modules",
    [
        ("executorch", ".pte", {"executorch"}),
        ("litert", ".tflite", {"litert_torch", "ai_edge_litert"}),
    ],
)
def test_an_optional_format_without_its_extra_names_it(
    tmp_path, capsys, monkeypatch, fmt, suffix, modules
):
    """Where ExecuTorch or LiteRT is not installed (the default test run), exporting to it
    and running its file each say which extra to install, in one line."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.split(".")[0] in modules else real(name, *a),
    )
    exported = tmp_path / f"m{suffix}"
    argv = ["export", "-m", "squeezenet1_1", "-f", fmt, "-o", str(exported)]
    assert main(argv) == 2
    assert f"pip install 'squeezenet-dc[{fmt}]'" in capsys.readouterr().err
    exported.write_bytes(b"\x00" * 64)
    assert main(["predict", "-w", str(exported), str(exported)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(exported) in err and f"squeezenet-dc[{fmt}]" in err
    assert not (tmp_path / f"m{suffix}.json").exists()
