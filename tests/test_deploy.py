"""Deployment: exports checked by their runtimes on real images, INT8 accuracy, backends."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import SHARED, shared_path
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
@pytest.fixture(scope="module")
def onnx_int8(tmp_path_factory, onnx_fp32, tv11):
    """The INT8 file ``export --int8`` writes: GPTQ-rounded 7-bit weights, 200 CIFAR photos."""
    from squeezenet.deploy.quantize_int8 import quantize_onnx

    calibration = sample_images(shared_path("data", "cifar10-jpg.zip"), PRE)  # 200 by default
    path = tmp_path_factory.mktemp("int8") / "m-int8.onnx"
    return quantize_onnx(onnx_fp32, path, calibration, tv11)


def test_int8_top1_within_one_image_of_fp32(onnx_fp32, onnx_int8, tv11, sample_batch):
    x, y = sample_batch
    assert onnx_int8.stat().st_size < 0.3 * onnx_fp32.stat().st_size  # INT8 weights: ~1/4
    fp32 = _top1(tv11, x, y)
    assert fp32 == 63  # the shared reference figure for these weights
    assert abs(_top1(load_exported(onnx_int8, "onnx"), x, y) - fp32) <= 1
    if "openvino-int8" in available_backends():  # OpenVINO runs the same QDQ graph as INT8
        assert abs(_top1(load_exported(onnx_int8, "openvino"), x, y) - fp32) <= 1


def test_int8_weights_cannot_saturate_a_16_bit_pair_sum(onnx_int8):
    """CPUs without VNNI add pairs of uint8 x int8 products in int16 (``vpmaddubsw``): the
    weights must stay within [-64, 64] so that 2 * 255 * 64 <= 32,767 (on such a CPU,
    full-range weights cost squeezenet1_1 10 points of top-1)."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    from squeezenet.deploy.quantize_int8 import WEIGHT_LIMIT, weight_integers

    found = weight_integers(onnx.load(str(onnx_int8)))
    assert len(found) == 26  # every convolution of squeezenet1_1
    assert WEIGHT_LIMIT == 64 and 2 * 255 * WEIGHT_LIMIT <= 32767
    for name, (q, _) in found.items():
        ints = numpy_helper.to_array(q)
        assert ints.dtype == np.int8 and np.abs(ints.astype(int)).max() <= 64, name


def _ort(path: Path, optimized: bool):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not optimized:  # Q/DQ pairs simulated in fp32: what exact integer arithmetic gives
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def test_int8_kernels_of_this_cpu_match_the_exact_arithmetic(onnx_int8, sample_batch):
    """ONNX Runtime's integer kernels, as this CPU runs them, against the same QDQ graph with
    Q/DQ simulated in fp32. With weights that saturate a 16-bit pair sum, an AVX2 CPU changed
    40% of the predictions here; with 7-bit weights the two differ only by rounding."""
    x = sample_batch[0]
    kernels, exact = _ort(onnx_int8, True)(x), _ort(onnx_int8, False)(x)
    assert int((kernels.argmax(1) == exact.argmax(1)).sum()) >= 98
    kl = torch.nn.functional.kl_div(
        kernels.log_softmax(1), exact.log_softmax(1), log_target=True, reduction="batchmean"
    )
    assert float(kl) < 0.003, float(kl)


_RUN_BOTH_WAYS = """
import sys, numpy as np, onnxruntime as ort
x = np.load(sys.argv[1])
for path, out in zip(sys.argv[2::2], sys.argv[3::2]):
    runs = []
    for level in ("ORT_ENABLE_ALL", "ORT_DISABLE_ALL"):
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        runs.append(session.run(None, {"input": x})[0])
    np.save(out, np.stack(runs))
"""


@pytest.mark.slow
def test_int8_is_exact_on_an_avx2_cpu_without_vnni(tmp_path, onnx_fp32, onnx_int8, sample_batch):
    """The AVX2 kernels, whatever CPU runs the suite: ONNX Runtime under user-mode emulation
    of a Haswell CPU (``shared/tools/as-avx2``, qemu-user; about 2 minutes). A control file
    with full-range weights must show the 16-bit saturation there (else the emulation did
    not reach those kernels); the shipped 7-bit file must not."""
    import shutil
    import subprocess
    import sys

    from squeezenet.deploy.quantize_int8 import quantize_qdq

    tool = shared_path("tools", "as-avx2")
    if shutil.which("qemu-x86_64") is None:
        pytest.skip("needs qemu-user (apt-get install qemu-user) for shared/tools/as-avx2")
    x = sample_batch[0][:4]
    control = tmp_path / "full-range.onnx"
    quantize_qdq(onnx_fp32, control, sample_batch[0][50:66], reduce_range=False)
    np.save(tmp_path / "x.npy", x.numpy())
    (tmp_path / "run.py").write_text(_RUN_BOTH_WAYS)
    outs = [tmp_path / "int8.npy", tmp_path / "control.npy"]
    subprocess.run(
        [str(tool), sys.executable, str(tmp_path / "run.py"), str(tmp_path / "x.npy")]
        + [str(onnx_int8), str(outs[0]), str(control), str(outs[1])],
        check=True,
        timeout=600,
    )
    ours, full = (torch.from_numpy(np.load(p)) for p in outs)
    assert float((ours[0] - ours[1]).abs().max()) < 0.5  # rounding only
    assert torch.equal(ours[0].argmax(1), ours[1].argmax(1))
    assert float((full[0] - full[1]).abs().max()) > 2.0  # saturated: the AVX2 kernels ran


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


def test_sample_images_reads_data_specs(tmp_path):
    # A DataSpec per source draws what its path draws, with the spec's seed unless one is given.
    from squeezenet.data import DataSpec, calibration_sources, drawn_names

    _write_images(tmp_path / "a", 6)
    _write_images(tmp_path / "b", 6)
    pre = PRE.with_crop(32)
    specs = calibration_sources([tmp_path / "a", str(tmp_path / "b")], seed=3)
    assert [s.path for s in specs] == [tmp_path / "a", tmp_path / "b"]
    assert all(s.seed == 3 and not s.progress for s in specs)
    paths = [tmp_path / "a", tmp_path / "b"]
    torch.testing.assert_close(
        sample_images(specs, pre, n=4), sample_images(paths, pre, n=4, seed=3)
    )
    torch.testing.assert_close(
        sample_images(specs, pre, n=4, seed=1), sample_images(paths, pre, n=4, seed=1)
    )
    spec = DataSpec(tmp_path / "a", seed=2, progress=False)
    assert calibration_sources(spec) == [spec]
    assert drawn_names(spec, 3) == drawn_names(tmp_path / "a", 3, 2)


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
