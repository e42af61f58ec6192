"""The compressed model on a device without PyTorch: ``export --weightless`` writes the graph,
``squeezenet.lite`` decodes the shipped ``.sqz`` into it and runs it in ONNX Runtime, with
torch hidden from imports (and, marked slow, in a fresh virtual environment without it)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import SHARED, shared_path, subprocess_env

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

SHIPPED = "squeezenet1_1.dc_in1k"
PHOTOS = "data/imagenet-sample-1000"

# Run first in a child process: refuses every import of torch or torchvision.
HIDE_TORCH = """
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
        return None

sys.meta_path.insert(0, _NoTorch())
"""
# Decodes the .sqz into the graph and saves the logits of each image: argv = sqz, graph,
# output .npy, images.
DEVICE = """
import json
import sys
from importlib.resources import files
import numpy as np
import squeezenet
from squeezenet import lite

lines = (files("squeezenet") / "data" / "imagenet_classes.txt").read_text().splitlines()
names = [line.partition(" ")[2] for line in lines]
model = lite.load(sys.argv[1], sys.argv[2], classes=names)
batch = np.stack([model.preprocess(p) for p in sys.argv[4:]])
np.save(sys.argv[3], model(batch))
assert "torch" not in sys.modules, "torch was imported"
print(json.dumps([squeezenet.__version__, model.classify(sys.argv[4], k=1)]))
"""


def _photos(tmp: Path, n: int = 4) -> list[Path]:
    """A few ImageNet photos from the reference data, else made-up images."""
    folder = SHARED / PHOTOS
    if folder.is_dir():
        return sorted(folder.glob("*.JPEG"))[:: 1000 // n][:n]
    rng = np.random.default_rng(0)
    out = []
    for i, size in enumerate([(320, 240), (240, 320), (500, 375), (224, 224)][:n]):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        out.append(tmp / f"image{i}.png")
        Image.fromarray(pixels).save(out[-1])
    return out


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """The shipped model, its .sqz, and its weightless graph written by the CLI (with the
    export's own JSON report)."""
    from squeezenet import create_model
    from squeezenet.cli import main

    graph = tmp_path_factory.mktemp("lite") / "squeezenet1_1-weightless.onnx"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", "-w", SHIPPED, "--weightless", "-o", str(graph), "--json"]) == 0
    model = create_model(weights=SHIPPED).eval()
    return model, Path(model.card.source), graph, json.loads(out.getvalue())


def _torch_logits(model, photos: list[Path]) -> np.ndarray:
    import torch

    from squeezenet.data import load_image
    from squeezenet.weights import preprocess_for

    preprocess = preprocess_for(None, model)
    with torch.inference_mode():
        return model(torch.stack([preprocess(load_image(p)) for p in photos])).numpy()


def _run_device(python: str, code: str, args: list, env=None) -> str:
    done = subprocess.run(
        [python, "-c", code, *map(str, args)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_export_weightless_keeps_every_weight_name_and_shape(shipped):
    from squeezenet.lite import read_graph
    from squeezenet.weights.sqz.fileformat import MAGIC

    model, sqz, graph, report = shipped
    read = read_graph(graph)
    state = model.state_dict()
    # The mapping is the identity: each placeholder is the state_dict key of the same shape.
    assert read.weights == {k: (tuple(v.shape), "float32") for k, v in state.items()}
    assert read.description()["preprocess"]["crop"] == 224
    assert read.description()["model"]["name"] == "squeezenet1_1"
    # A few KB: no weight data, no exporter metadata.
    assert graph.stat().st_size < 20_000
    assert sqz.read_bytes()[: len(MAGIC)] == MAGIC
    assert report["weightless"] and report["filled_from"] == str(sqz)
    assert report["device_bytes"] == graph.stat().st_size + sqz.stat().st_size
    assert report["max_abs_diff"] < 1e-4 and report["top1_agree"] == report["n"]


def test_deployment_doc_states_the_device_bytes(shipped):
    """docs/deployment.md's table of what the device receives gives these files' sizes."""
    import zlib

    doc = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
    if not doc.is_file():
        pytest.skip("not run from a source checkout")
    _, sqz, graph, report = shipped
    data = graph.read_bytes()
    text = doc.read_text()
    for row in (
        f"| `squeezenet1_1-dc_in1k.sqz` (in the package: `squeezenet/weights/files/`) "
        f"| {sqz.stat().st_size:,} |",
        f"| `squeezenet1_1-weightless.onnx` ({len(zlib.compress(data)):,} zlib-compressed) "
        f"| {len(data):,} |",
        f"| in all | {report['device_bytes']:,} |",
    ):
        assert row in text, f"docs/deployment.md should state: {row}"


def test_device_path_runs_with_torch_hidden(shipped, tmp_path):
    """The same code a device runs, in a process that cannot import torch: the shipped
    .sqz decoded into the graph gives PyTorch's logits on photos."""
    from squeezenet.data import imagenet_class_list

    model, sqz, graph, _ = shipped
    photos = _photos(tmp_path)
    out = tmp_path / "logits.npy"
    printed = _run_device(
        sys.executable, HIDE_TORCH + DEVICE, [sqz, graph, out, *photos], subprocess_env()
    )
    version, [(index, name, _)] = json.loads(printed)
    lite, reference = np.load(out), _torch_logits(model, photos)
    assert lite.shape == reference.shape == (len(photos), 1000)
    assert np.abs(lite - reference).max() < 1e-4
    assert (lite.argmax(1) == reference.argmax(1)).all()
    assert version == "0.1.0" and index == reference[0].argmax()
    assert name == imagenet_class_list()[1][index]


def test_lite_preprocessing_gives_the_same_pixels_as_torch(tmp_path):
    from squeezenet.data import get_preprocess, load_image
    from squeezenet.lite import Preprocessing
    from squeezenet.weights import ModelInfo

    photos = _photos(tmp_path, 3)
    for preset in ("torchvision", "caffe"):
        reference = get_preprocess(preset)
        described = ModelInfo({"name": "squeezenet1_1", "kwargs": {}}, None, reference).extras()
        lite = Preprocessing(described["preprocess"])
        for photo in photos:
            image = load_image(photo)
            assert np.array_equal(lite(image), reference(image).numpy()), (preset, photo)


def test_import_squeezenet_leaves_torch_out():
    code = HIDE_TORCH + textwrap.dedent(
        """
        import squeezenet
        import squeezenet.weights.sqz
        assert squeezenet.__version__ == "0.1.0"
        try:
            squeezenet.create_model
        except ImportError as e:
            print("refused:", e)
        """
    )
    assert "refused: No module named 'torch'" in _run_device(
        sys.executable, code, [], subprocess_env()
    )


def test_public_names_resolve_on_first_use():
    import squeezenet
    import squeezenet.weights

    assert set(squeezenet.__all__) == set(squeezenet._SOURCES)
    for name in squeezenet.__all__:
        source = importlib.import_module(f"squeezenet.{squeezenet._SOURCES[name]}")
        assert getattr(squeezenet, name) is getattr(source, name)
    for name in squeezenet.weights._SOURCES:
        assert getattr(squeezenet.weights, name) is not None
    assert callable(squeezenet.weights.fetch)  # the function, not its module
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        squeezenet.nothing  # noqa: B018


def test_a_file_for_another_architecture_is_refused_before_decoding(shipped, tmp_path):
    from squeezenet import create_model
    from squeezenet.lite import load
    from squeezenet.weights.sqz import fileformat
    from squeezenet.weights.sqz.codec import SharedTensor
    from squeezenet.weights.sqz.errors import CompressedFormatError
    from squeezenet.weights.sqz.modeldesc import describe_model

    model, _, graph, _ = shipped
    desc, path = describe_model(model, "squeezenet1_1"), tmp_path / "other.sqz"

    def refused(shapes: dict, match: str) -> None:
        tensors = {k: SharedTensor.from_dense(np.zeros(s, np.float32)) for k, s in shapes.items()}
        fileformat.save(fileformat.CompressedModel(desc, tensors), path)
        with pytest.raises(CompressedFormatError, match=match):
            load(path, graph)

    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ten = {k: tuple(v.shape) for k, v in create_model(num_classes=10).state_dict().items()}
    refused(ten, r"'classifier.1.weight' has shape \(10, 512, 1, 1\), the graph .* needs")
    refused(
        {k: s for k, s in own.items() if k != "features.0.bias"}, "'features.0.bias' of the graph"
    )
    refused({**own, "extra.weight": (3,)}, "'extra.weight' is not in the graph")


def test_graph_reader_refuses_damaged_graphs(shipped):
    from squeezenet.lite import GraphError, parse_graph

    _, _, graph, _ = shipped
    data = graph.read_bytes()
    assert len(parse_graph(data).weights) == 52
    rng = np.random.default_rng(0)
    for cut in [1, 2, 10, *rng.integers(0, len(data), 40)]:
        with contextlib.suppress(GraphError):  # never another exception
            parse_graph(data[:cut])
    for _ in range(40):
        damaged = bytearray(data)
        damaged[rng.integers(0, len(data))] = rng.integers(0, 256)
        with contextlib.suppress(GraphError):
            parse_graph(bytes(damaged))
    with pytest.raises(GraphError, match="holds no ONNX graph"):
        parse_graph(b"")


def _conv_graph(weight_name: str, weight: np.ndarray, extra=()) -> onnx.ModelProto:
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", weight_name, "b"], ["y"])
    bias = numpy_helper.from_array(np.array([0.5, -0.5], np.float32), "b")
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        [numpy_helper.from_array(weight, weight_name), bias, *extra],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_strip_weights_maps_state_dict_keys_to_placeholders_and_nothing_else():
    import onnxruntime as ort
    from onnx import numpy_helper

    from squeezenet.deploy.export import strip_weights
    from squeezenet.lite import Classifier, parse_graph

    w = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1)
    state = {"conv.weight": w, "b": np.array([0.5, -0.5], np.float32)}
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 4)).astype(np.float32)
    full = _conv_graph("conv.weight", w)
    expected = ort.InferenceSession(full.SerializeToString()).run(None, {"x": x})[0]
    strip_weights(full, state)
    graph = parse_graph(full.SerializeToString())
    assert graph.weights == {"conv.weight": ((2, 3, 1, 1), "float32"), "b": ((2,), "float32")}
    assert np.allclose(Classifier(graph, state)(x), expected)
    with pytest.raises(ValueError, match="has no initializer 'conv.weight'"):
        strip_weights(_conv_graph("p_conv_weight", w), state)  # renamed by the exporter
    with pytest.raises(ValueError, match="'conv.weight' is not the state_dict's tensor"):
        strip_weights(_conv_graph("conv.weight", w * 2), state)  # transformed
    big = numpy_helper.from_array(np.zeros(100, np.float32), "folded")
    with pytest.raises(ValueError, match="'folded' holds 100 values"):
        strip_weights(_conv_graph("conv.weight", w, [big]), state)
    with pytest.raises(ValueError, match="state_dict lacks 'b'"):
        Classifier(graph, {"conv.weight": w})


@pytest.mark.slow
def test_fresh_environment_without_torch_decodes_the_shipped_file(shipped, tmp_path):
    """pip installs numpy, onnxruntime, constriction and Pillow into a new virtual
    environment, and this package without its dependencies: no torch. The shipped .sqz
    (as installed there) filled into the graph gives PyTorch's logits."""
    photos = sorted(shared_path(PHOTOS).glob("*.JPEG"))[::250]
    model, _, graph, _ = shipped
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        pytest.skip("needs a source checkout to install from")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "numpy", "onnxruntime", "constriction", "pillow"], check=True)
    subprocess.run([*pip, "--no-deps", str(root)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package
    probe = "import importlib.util as u; print(u.find_spec('torch') is None)"
    assert _run_device(python, probe, [], env).strip() == "True"
    code = textwrap.dedent(
        """
        import sys
        from importlib.resources import files
        sqz = files("squeezenet") / "weights" / "files" / "squeezenet1_1-dc_in1k.sqz"
        sys.argv[1] = str(sqz)
        """
    )
    out = tmp_path / "logits.npy"
    # Run outside the checkout, so that the installed package is the one imported.
    done = subprocess.run(
        [python, "-c", code + DEVICE, "installed", graph, out, *photos],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lite, reference = np.load(out), _torch_logits(model, photos)
    assert np.abs(lite - reference).max() < 1e-4
    assert (lite.argmax(1) == reference.argmax(1)).all()


def test_equal_weights_keep_their_own_placeholders(tmp_path):
    """A fresh model's biases are all zero, and the exporter's optimiser would merge equal
    tensors of a shape into one initializer: every state_dict key must stay a placeholder."""
    from helpers import tiny_model
    from squeezenet.deploy.export import export_weightless
    from squeezenet.lite import read_graph

    model = tiny_model().eval()
    graph = export_weightless(model, tmp_path / "tiny.onnx", input_size=64)
    state = model.state_dict()
    assert read_graph(graph).weights == {k: (tuple(v.shape), "float32") for k, v in state.items()}


def test_non_finite_weights_are_refused_as_the_torch_path_does(shipped, tmp_path):
    from squeezenet.lite import load
    from squeezenet.weights.sqz import fileformat
    from squeezenet.weights.sqz.errors import CompressedFormatError
    from squeezenet.weights.sqz.modeldesc import describe_model

    model, _, graph, _ = shipped
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for bad in (np.nan, np.inf):
        state["classifier.1.bias"][3] = bad
        path = tmp_path / "bad.sqz"
        desc = describe_model(model, "squeezenet1_1")
        fileformat.save(fileformat.CompressedModel(desc, dict(state)), path)
        with pytest.raises(CompressedFormatError, match="'classifier.1.bias' has NaN or infinite"):
            load(path, graph)
