"""docs/deployment.md's copyable examples (issue 28, item 6): each runtime's example, run as a
reader would run it (its own process, only the runtime, numpy and Pillow), prints the top-5
that ``squeezenet predict`` prints for the same photo: with the PyTorch model for an fp32
export, with the exported file itself for an INT8 one (whose logits are not meant to match
fp32, but the example must quantize as the tool does).

The model has preprocessing no preset has (:data:`helpers.CUSTOM_PRE`) and the photo is not
square, so an example that resized, cropped or normalised differently would disagree."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import save_described, tiny_model
from squeezenet.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"
CLASSES = ("apple", "bear", "cloud", "dolphin", "eagle", "fern", "gecko")
# example name -> (export format, file name the example opens, module it needs)
RUNTIMES = {
    "onnxruntime": ("onnx", "model.onnx", "onnxruntime"),
    "openvino": ("openvino", "model.xml", "openvino"),
    "executorch": ("executorch", "model.pte", "executorch"),
    "litert": ("litert", "model.tflite", "ai_edge_litert"),
    "ncnn": ("ncnn", "model.ncnn.param", "ncnn"),
}


def examples() -> dict[str, str]:
    """``<!-- example: NAME -->`` followed by a python block -> {NAME: code}."""
    pattern = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```", re.S)
    return {name: code for name, code in pattern.findall(DOC.read_text())}


def test_every_runtime_has_an_example():
    assert set(examples()) == {"preprocess.py", *RUNTIMES}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    torch.manual_seed(0)
    model = tiny_model(len(CLASSES)).eval()
    with torch.no_grad():  # spread the logits, so that the top-5 order is clear-cut
        model.classifier[1].weight.mul_(20)
    pth = save_described(model, root / "model.pth", CLASSES)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (71, 97, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "photo.jpg", quality=90)
    (root / "calibration").mkdir()
    for i in range(8):
        pixels = rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "calibration" / f"{i}.png")
    return root, pth


def _top5_of_predict(capsys, pth: Path, photo: Path) -> list[tuple[str, float]]:
    assert main(["predict", "-w", str(pth), str(photo), "-k", "5", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    return [(t["name"], t["prob"]) for t in result["top"]]


# The examples that say they run an INT8 file too.
INT8 = ("onnxruntime", "openvino", "executorch", "litert")


@pytest.mark.parametrize(
    "runtime, int8",
    [(r, False) for r in sorted(RUNTIMES)] + [(r, True) for r in INT8],
)
def test_the_example_prints_what_predict_prints(runtime, int8, setup, tmp_path, capsys):
    fmt, filename, module = RUNTIMES[runtime]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (an optional extra)")
    root, pth = setup
    code = examples()
    (tmp_path / "preprocess.py").write_text(code["preprocess.py"])
    (tmp_path / "photo.jpg").write_bytes((root / "photo.jpg").read_bytes())
    exported = tmp_path / filename
    argv = ["export", "-w", str(pth), "-f", fmt, "-o", str(exported)]
    if int8:
        argv += ["--int8", "--calibration", str(root / "calibration")]
    assert main(argv) == 0
    capsys.readouterr()
    run = subprocess.run(
        [sys.executable, "-c", code[runtime]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    printed = [line.split(maxsplit=1) for line in run.stdout.strip().splitlines()]
    expected = _top5_of_predict(capsys, exported if int8 else pth, tmp_path / "photo.jpg")
    assert [name for _, name in printed] == [name for name, _ in expected]
    for (probability, _), (_, p) in zip(printed, expected):
        assert float(probability) == pytest.approx(p, abs=2e-4)
