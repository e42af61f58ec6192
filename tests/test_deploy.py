"""Deployment: exports checked by their runtimes on real images, INT8 accuracy, backends."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import SHARED
from squeezenet import create_model
from squeezenet.data import get_preprocess, load_image, sample_images, scan_folder
from squeezenet.deploy import BACKENDS, available_backends, compare_outputs, export_model
from squeezenet.deploy.backends import create_backends, load_exported

PRE = get_preprocess("torchvision")


@pytest.fixture(scope="module")
def tv11(request):
    path = SHARED / "weights" / "squeezenet1_1-fp16.pth"
    if not path.exists():
        pytest.skip(f"reference data not found: {path}")
    return create_model("squeezenet1_1", weights=str(path)).eval()


@pytest.fixture(scope="module")
def sample_batch():
    """All 100 imagenet-sample images, preprocessed once, with their labels."""
    root = SHARED / "data" / "imagenet-sample-100"
    if not root.exists():
        pytest.skip(f"reference data not found: {root}")
    images = scan_folder(root, SHARED / "data" / "imagenet_classes.txt")
    x = torch.stack([PRE(load_image(p)) for p, _ in images.samples])
    return x, torch.tensor([label for _, label in images.samples])


def _top1(fn, x, y) -> int:
    logits = torch.cat([torch.as_tensor(fn(chunk)) for chunk in x.split(50)])
    return int((logits.argmax(1) == y).sum())


@pytest.fixture(scope="module")
def onnx_fp32(tmp_path_factory, tv11):
    """One fp32 ONNX export shared by the ONNX, OpenVINO and INT8 tests (exporting is slow)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    return export_model(tv11, tmp_path_factory.mktemp("onnx") / "m.onnx", "onnx")


# -- exports, each loaded back by its own runtime and compared with eager PyTorch ---------------
def test_onnx_export_is_valid_and_matches_pytorch(onnx_fp32, tv11, sample_batch):
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(str(onnx_fp32), full_check=True)
    graph = onnx.load(str(onnx_fp32)).graph
    assert [i.name for i in graph.input] == ["input"] and [o.name for o in graph.output] == [
        "logits"
    ]
    assert [p.name for p in onnx_fp32.parent.iterdir()] == ["m.onnx"], "weights inside .onnx"
    run = load_exported(onnx_fp32, "onnx")
    x = sample_batch[0][:16]
    check = compare_outputs(tv11, run, x)
    assert check["max_abs_diff"] < 1e-4, check
    assert check["top1_agree"] == 16
    # The batch dimension is dynamic: any batch size gives the same per-image logits.
    torch.testing.assert_close(run(x[:1]), run(x[:3])[:1], atol=1e-4, rtol=0)


def test_torchscript_export_matches_pytorch(tmp_path, tv11, sample_batch):
    path = export_model(tv11, tmp_path / "m.pt", "torchscript")
    check = compare_outputs(tv11, load_exported(path, "torchscript"), sample_batch[0][:8])
    assert check["max_abs_diff"] < 1e-5 and check["top1_agree"] == 8, check


def test_openvino_export_matches_pytorch(tmp_path, onnx_fp32, tv11, sample_batch):
    pytest.importorskip("openvino")
    from squeezenet.deploy.export import export_openvino

    path = export_openvino(onnx_fp32, tmp_path / "m.xml")
    assert path.with_suffix(".bin").stat().st_size > 4_900_000  # fp32 weights, not fp16
    check = compare_outputs(tv11, load_exported(path, "openvino"), sample_batch[0][:16])
    # fp32 on every CPU: without the f32 precision hint, bf16-capable CPUs differ by ~0.1.
    assert check["max_abs_diff"] < 1e-4 and check["top1_agree"] == 16, check


def test_export_rejects_unknown_format_and_int8_torchscript(tmp_path, tv11):
    with pytest.raises(
        ValueError, match="unknown export format 'coreml'; choose from onnx, torchscript, openvino"
    ):
        export_model(tv11, tmp_path / "m.mlmodel", "coreml")
    with pytest.raises(
        ValueError, match="INT8 export is available for the onnx, openvino, executorch and litert"
    ):
        export_model(
            tv11, tmp_path / "m.pt", "torchscript", int8_calibration=torch.zeros(1, 3, 224, 224)
        )


def test_failed_export_leaves_the_old_file_and_no_temp_files(tmp_path, tv11, monkeypatch):
    pytest.importorskip("onnxscript")
    from squeezenet.deploy import export as export_mod

    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous model")

    def broken(path):
        raise ValueError(f"{path}: the exported ONNX graph is invalid: test")

    monkeypatch.setattr(export_mod, "check_onnx", broken)
    with pytest.raises(ValueError, match="the exported ONNX graph is invalid"):
        export_model(tv11, target, "onnx", input_size=64)
    assert target.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


# -- INT8: calibrated on CIFAR-10 JPEGs, scored on the 100 ImageNet images ----------------------
def test_int8_top1_within_one_image_of_fp32(tmp_path, onnx_fp32, tv11, sample_batch, cifar10_zip):
    from squeezenet.deploy.quantize_int8 import quantize_onnx

    x, y = sample_batch
    calibration = sample_images(cifar10_zip, PRE)  # the default 200 images
    int8 = quantize_onnx(onnx_fp32, tmp_path / "m-int8.onnx", calibration)
    assert int8.stat().st_size < 0.3 * onnx_fp32.stat().st_size  # INT8 weights: ~1/4
    fp32 = _top1(tv11, x, y)
    assert fp32 == 63  # the shared reference figure for these weights
    assert abs(_top1(load_exported(int8, "onnx"), x, y) - fp32) <= 1
    if "openvino-int8" in available_backends():  # OpenVINO runs the same QDQ graph as INT8
        assert abs(_top1(load_exported(int8, "openvino"), x, y) - fp32) <= 1


def test_int8_quantization_rejects_a_bad_sample_images(tmp_path, onnx_fp32):
    from squeezenet.deploy.quantize_int8 import quantize_onnx

    with pytest.raises(ValueError, match=r"non-empty \(N, C, H, W\) batch, got shape \(3, 224\)"):
        quantize_onnx(onnx_fp32, tmp_path / "q.onnx", torch.zeros(3, 224))
    assert not (tmp_path / "q.onnx").exists()


# -- calibration images -------------------------------------------------------------------------
def _write_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.png"
        Image.fromarray(np.full((40, 40, 3), i * 20, dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_sample_images_from_folder_and_zip(tmp_path):
    _write_images(tmp_path / "imgs" / "sub", 5)
    pre = PRE.with_crop(32)
    folder = sample_images(tmp_path / "imgs", pre, n=3, seed=1)
    assert folder.shape == (3, 3, 32, 32)
    torch.testing.assert_close(folder, sample_images(tmp_path / "imgs", pre, n=3, seed=1))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        for p in sorted((tmp_path / "imgs" / "sub").iterdir()):
            z.write(p, f"train/{p.name}")
        z.writestr("README.txt", "not an image")
    from_zip = sample_images(tmp_path / "c.zip", pre, n=10)
    assert from_zip.shape == (5, 3, 32, 32)  # capped at the 5 images; README skipped
    # Same pixels whichever container they came from.
    torch.testing.assert_close(from_zip.sum(), sample_images(tmp_path / "imgs", pre).sum())


def test_sample_images_shares_the_draw_equally_between_sources(tmp_path):
    # A small source is not swamped by a large one: 3 of a 2-image folder cannot be had, so
    # it gives both and the 20-image folder the other 5; a zip counts as one more source.
    small = tmp_path / "small"
    large = tmp_path / "large"
    small.mkdir()
    for i in range(2):  # colours the large folder does not have
        Image.new("RGB", (40, 40), (250, 10 + i, 250)).save(small / f"s{i}.png")
    _write_images(large, 12)
    pre = PRE.with_crop(32)
    x = sample_images([small, large], pre, n=7, seed=3)
    assert x.shape == (7, 3, 32, 32)
    for img in sample_images(small, pre):  # each small image is in the draw, once
        assert sum(torch.equal(img, row) for row in x) == 1
    torch.testing.assert_close(x, sample_images([small, large], pre, n=7, seed=3))
    # One source in a list draws exactly what the bare path draws (same seed, same order).
    torch.testing.assert_close(
        sample_images([large], pre, n=4, seed=5), sample_images(large, pre, n=4, seed=5)
    )
    with pytest.raises(ValueError, match="no calibration source given"):
        sample_images([], pre)


def test_calibration_shares():
    from squeezenet.data.sampling import _shares

    assert _shares(1229, [1000, 229]) == [1000, 229]
    assert _shares(2048, [1000, 229, 9469]) == [910, 229, 909]
    assert _shares(7, [5, 5]) == [4, 3]
    assert _shares(10, [3]) == [3]
    assert _shares(5, [0, 9]) == [0, 5]


def test_sample_images_errors(tmp_path):
    with pytest.raises(ValueError, match="nope: calibration source not found"):
        sample_images(tmp_path / "nope", PRE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no calibration images"):
        sample_images(tmp_path / "empty", PRE)
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="must be an image folder or a .zip"):
        sample_images(tmp_path / "x.txt", PRE)
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.zip: not a readable zip file"):
        sample_images(tmp_path / "bad.zip", PRE)


# -- backends -----------------------------------------------------------------------------------
def test_backend_registry_and_errors():
    assert {"torch", "torch-cl"} <= set(available_backends()) <= set(BACKENDS)
    assert {BACKENDS[n].precision for n in BACKENDS} == {"fp32", "int8"}
    model = create_model("squeezenet1_1")
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'; choose from torch, "):
        create_backends(["tensorrt"], model)
    if "onnxruntime-int8" in available_backends():
        with pytest.raises(ValueError, match="'onnxruntime-int8' needs calibration images"):
            create_backends(["onnxruntime-int8"], model)


def test_torch_backends_agree():
    model = create_model("squeezenet1_1", num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    eager, cl = create_backends(["torch", "torch-cl"], model)
    assert (eager.name, eager.precision, cl.name) == ("torch", "fp32", "torch-cl")
    torch.testing.assert_close(cl(x), model(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eager(x), model(x), atol=0, rtol=0)


def test_runtime_backends_outlive_their_temporary_files_and_take_any_batch():
    pytest.importorskip("onnxscript")
    names = [n for n in ("onnxruntime", "openvino") if n in available_backends()]
    if not names:
        pytest.skip("neither onnxruntime nor openvino is installed")
    model = create_model("squeezenet1_1", num_classes=10).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    for backend in create_backends(names, model, input_size=32):
        # New batch sizes after creation (OpenVINO compiles per shape, from memory).
        torch.testing.assert_close(backend(x[:1]), expected[:1], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(backend(x), expected, atol=1e-4, rtol=1e-4)
