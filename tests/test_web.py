"""``squeezenet export -f web``: the folder it writes (files, manifest, graph, runtime tag),
without a browser. tests/test_web_browser.py runs the page in Chromium."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from helpers import run_json, save_described, tiny_model
from squeezenet.cli import main
from squeezenet.deploy.web import runtime
from web_helpers import USER_CLASSES, manifest, tensor_hashes, user_classes_sqz

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

PAGE = {"index.html", "app.js", "sqz.js", "preprocess.js", "manifest.json", "model.onnx"}


def _fake_runtime(folder):
    """An `npm install onnxruntime-web` folder holding placeholder runtime files."""
    dist = folder / "node_modules" / "onnxruntime-web" / "dist"
    dist.mkdir(parents=True)
    for name in runtime.FILES:
        (dist / name).write_bytes(name.encode())
    (dist.parent / "package.json").write_text('{"version": "9.9.9"}')
    return folder


@pytest.fixture(scope="module")
def user_page(tmp_path_factory):
    """A user-classes .sqz exported with a local runtime, and the export's report."""
    import contextlib
    import io
    import json

    tmp = tmp_path_factory.mktemp("web")
    sqz = user_classes_sqz(tmp / "pets.sqz")
    out = tmp / "pets-web"
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        argv = ["export", "-w", str(sqz), "-f", "web", "-o", str(out), "--json"]
        assert main([*argv, "--runtime-dir", str(_fake_runtime(tmp / "npm"))]) == 0
    return sqz, out, json.loads(report.getvalue())


def test_folder_holds_the_page_the_sqz_as_is_and_a_local_runtime(user_page):
    sqz, out, report = user_page
    assert {p.name for p in out.iterdir()} == PAGE | {"model.sqz", "ort"}
    assert (out / "model.sqz").read_bytes() == sqz.read_bytes()  # version 3 already: as is
    assert sorted(p.name for p in (out / "ort").iterdir()) == sorted(runtime.FILES)
    m = manifest(out)
    assert m["weights"] == {"format": "sqz", "file": "model.sqz", "bytes": sqz.stat().st_size}
    assert m["classes"] == list(USER_CLASSES) and m["preprocess"]["crop"] == 64
    assert m["runtime"] == {
        "version": "9.9.9",
        "src": "ort/ort.wasm.min.js",
        "wasm_base": "ort/",
        "local": True,
    }
    html = (out / "index.html").read_text()
    digest = hashlib.sha384((out / "ort" / runtime.SCRIPT).read_bytes()).digest()
    integrity = "sha384-" + base64.b64encode(digest).decode()
    assert f'src="ort/ort.wasm.min.js" integrity="{integrity}"' in html
    assert report["web"]["model_bytes"] == sqz.stat().st_size
    assert report["max_abs_diff"] < 1e-3 and report["precision"] == "fp32"


def test_graph_reads_each_weight_from_its_slice_of_the_buffer(user_page):
    _, out, _ = user_page
    m = manifest(out)
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False)
    places = {
        t.name: {e.key: e.value for e in t.external_data}
        for t in graph.graph.initializer
        if t.data_location == onnx.TensorProto.EXTERNAL
    }
    assert set(places) == {t["name"] for t in m["tensors"]}
    end = 0
    for t in m["tensors"]:
        assert places[t["name"]] == {
            "location": "weights.bin",
            "offset": str(t["offset"]),
            "length": str(t["length"]),
        }
        assert t["offset"] >= end and t["offset"] % 64 == 0
        assert t["length"] == int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
        end = t["offset"] + t["length"]
    assert m["buffer_bytes"] == end


def test_an_old_version_sqz_is_rewritten_as_version_3_with_the_same_tensors(tmp_path):
    # The shipped ImageNet file is a version-1 file; tests/data/tiny.sqz too (and smaller).
    tiny = tmp_path / "tiny.sqz"
    tiny.write_bytes((Path(__file__).with_name("data") / "tiny.sqz").read_bytes())
    report = run_json_quiet(["export", "-w", str(tiny), "-f", "web", "-o", str(tmp_path / "w")])
    served = (tmp_path / "w" / "model.sqz").read_bytes()
    assert struct.unpack_from("<H", served, 8)[0] == 3 and report["web"]["upgraded_sqz"]
    assert tensor_hashes(served) == tensor_hashes(tiny.read_bytes())
    html = (tmp_path / "w" / "index.html").read_text()  # the default: the pinned CDN
    assert f'src="{runtime.CDN_BASE}{runtime.SCRIPT}" integrity="{runtime.INTEGRITY}"' in html
    assert not (tmp_path / "w" / "ort").exists()


def run_json_quiet(argv):
    import contextlib
    import io
    import json

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    return json.loads(out.getvalue())


def test_other_weights_travel_as_float16(tmp_path, capsys):
    model = tiny_model(len(USER_CLASSES))
    pth = save_described(model, tmp_path / "m.pth", USER_CLASSES)
    report = run_json(
        capsys,
        ["export", "-w", str(pth), "-f", "web", "-o", str(tmp_path / "w"), "--json"],
    )
    out = tmp_path / "w"
    assert {p.name for p in out.iterdir()} == PAGE | {"weights.fp16.bin"}
    m = manifest(out)
    blob = (out / "weights.fp16.bin").read_bytes()
    assert m["weights"]["format"] == "fp16" and report["precision"] == "fp16"
    state = model.state_dict()
    for t in m["tensors"]:
        assert t["stored"] == "float16"
        n = int(np.prod(t["shape"]))
        stored = np.frombuffer(blob, np.float16, n, t["at"])
        assert np.array_equal(stored, state[t["name"]].numpy().astype(np.float16).ravel())
    assert report["max_abs_diff"] < 0.05  # float16 weights: no fp32 tolerance


def test_refusals_name_the_problem(tmp_path, capsys):
    sqz = user_classes_sqz(tmp_path / "pets.sqz")
    assert main(["export", "-w", str(sqz), "-f", "onnx", "--runtime-dir", str(tmp_path)]) == 2
    assert "--runtime-dir is for --format web only" in capsys.readouterr().err
    web = ["export", "-w", str(sqz), "-f", "web", "-o"]
    assert main([*web, str(tmp_path / "w"), "--runtime-dir", str(tmp_path)]) == 2
    assert f"{tmp_path}: no onnxruntime-web here" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main([*web, str(busy)]) == 2
    assert "the folder is not empty and holds no web export" in capsys.readouterr().err
    assert (busy / "notes.txt").read_text() == "mine"
