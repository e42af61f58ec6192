"""A weights file is data, never instructions: hostile headers, shapes, URLs and values get
the project's own error naming the file, before anything is downloaded, read or allocated."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch
import torchvision

from helpers import tiny_model
from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.compress.pipeline import lossless
from squeezenet.weights import WeightsError, fetch, read_state_dict, safety
from squeezenet.weights.fetch import hash_in_name
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.errors import CompressedFormatError
from squeezenet.weights.sqz.fileformat import MAGIC
from squeezenet.weights.sqz.modeldesc import describe_model


def _good_sqz() -> bytes:
    rng = np.random.default_rng(0)
    model, state = tiny_model(), {}
    for k, v in model.state_dict().items():
        a = rng.normal(size=v.shape).astype(np.float32)
        if v.dim() >= 2:
            a = rng.normal(size=4).astype(np.float32)[rng.integers(0, 4, v.shape)]
        state[k] = torch.from_numpy(a)
    return fileformat.to_bytes(lossless(state, describe_model(model, "squeezenet1_1"), "ans"))


GOOD = _good_sqz()


def split_header(data: bytes) -> tuple[dict, bytes]:
    """(header, the bytes after it, less the checksum) of a valid file."""
    _, _, n = struct.unpack_from("<8sHI", data)
    start = struct.calcsize("<8sHI")
    return json.loads(zlib.decompress(data[start : start + n])), data[start + n : -4]


def with_header_text(text: bytes, rest: bytes) -> bytes:
    """A file with this header text and a valid checksum (the parser itself is exercised)."""
    _, version, _ = struct.unpack_from("<8sHI", GOOD)
    hb = zlib.compress(text)
    data = struct.pack("<8sHI", MAGIC, version, len(hb)) + hb + rest
    return data + struct.pack("<I", zlib.crc32(data))


def edited(change) -> bytes:
    header, rest = split_header(GOOD)
    change(header)
    return with_header_text(json.dumps(header).encode(), rest)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to download."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


# -- a header describes an architecture, nothing else ---------------------------------------
@pytest.mark.parametrize(
    "weights", ["http://127.0.0.1:9/evil.pth", "/etc/passwd", "squeezenet1_1.tv_in1k"]
)
def test_header_cannot_name_weights_to_fetch_or_read(tmp_path, capsys, no_network, weights):
    path = tmp_path / "evil.sqz"
    path.write_bytes(
        edited(lambda h: h["model"].update(kwargs={"weights": weights}) or h["model"].pop("spec"))
    )
    with pytest.raises(CompressedFormatError, match=r"evil.sqz: the header's model is invalid"):
        fileformat.load(path)
    assert main(["decompress", str(path), "-o", str(tmp_path / "out.pth")]) == 2
    err = capsys.readouterr().err
    assert "evil.sqz: the header's model is invalid (kwargs key 'weights' is not allowed" in err
    assert not (tmp_path / "out.pth").exists()


@pytest.mark.parametrize(
    "model, problem",
    [
        ({"name": "squeezenet1_1", "spec": [1, 2]}, "'spec' must be an object, got list"),
        ({"name": "os.system", "kwargs": {}}, "'os.system' is not a registered model name"),
        ({"name": "squeezenet1_1", "kwargs": {}, "url": "x"}, "exactly one of 'spec' or"),
        ({"name": "squeezenet1_1", "kwargs": {"num_classes": "7"}}, "must be an integer"),
        ({"name": "squeezenet1_1", "kwargs": {"dropout": [0.5]}}, "must be a finite number"),
        ({"name": "squeezenet1_1", "kwargs": {"sr": 10**400}}, "must be a finite number"),
        ({"name": "squeezenet1_1", "kwargs": {"num_classes": 10**9}}, "integer in [0, 100000]"),
        ({"name": "squeezenet1_1", "kwargs": {"num_fire": 10**4}}, "integer in [0, 64]"),
        (["squeezenet1_1"], "an object is expected, got list"),
    ],
)
def test_header_model_allow_list(tmp_path, capsys, model, problem):
    path = tmp_path / "odd.sqz"
    path.write_bytes(edited(lambda h: h.update(model=model)))
    with pytest.raises(CompressedFormatError) as info:
        fileformat.load(path)
    assert str(info.value).startswith(f"{path}: the header's model is invalid (")
    assert problem in str(info.value)
    assert main(["decompress", str(path)]) == 2
    assert problem in capsys.readouterr().err


def test_deeply_nested_header_is_a_format_error(tmp_path):
    _, rest = split_header(GOOD)
    for depth in (20, 100_000):
        text = b'{"meta": ' + b"[" * depth + b"]" * depth + b"}"
        with pytest.raises(CompressedFormatError, match=r"f.sqz: header nests deeper than 8"):
            fileformat.from_bytes(with_header_text(text, rest), "f.sqz")


def test_huge_integer_in_header_is_a_format_error():
    header, rest = split_header(GOOD)
    text = json.dumps(header).replace('"raw_bytes": ', '"raw_bytes": ' + "9" * 5000, 1)
    with pytest.raises(CompressedFormatError, match=r"f.sqz: unreadable header \(Exceeds"):
        fileformat.from_bytes(with_header_text(text.encode(), rest), "f.sqz")


@pytest.mark.parametrize("shape", [[2**31 - 1, 0, 1, 1], [10**9, 0]])
def test_zero_size_dimensions_are_refused(shape):
    # (2**31 - 1, 0, 1, 1) holds no values, yet would make a loader build 2**31 - 1 classes.
    def change(h):
        entry = next(e for e in h["tensors"] if e["name"] == "classifier.1.weight")
        entry["shape"] = shape

    with pytest.raises(CompressedFormatError, match="f.sqz: malformed tensor entry"):
        fileformat.from_bytes(edited(change), "f.sqz")


# -- shapes and counts are checked before allocating ------------------------------------------
def test_expanded_tensor_is_refused_before_building(tmp_path, capsys):
    state = torchvision.models.squeezenet1_1().state_dict()
    state["classifier.1.weight"] = torch.zeros(1, 1, 1, 1).expand(1_500_000, 512, 1, 1)
    state["classifier.1.bias"] = torch.zeros(1).expand(1_500_000)
    path = tmp_path / "bomb.pth"
    torch.save(state, path)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(WeightsError, match=r"bomb.pth: tensor 'classifier.1.weight' of shape"):
        read_state_dict(path)
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(image)
    assert main(["predict", "-w", str(path), str(image)]) == 2
    assert "an expanded tensor; refused" in capsys.readouterr().err


def test_class_count_is_capped_before_building(tmp_path, monkeypatch):
    monkeypatch.setattr(safety, "MAX_CLASSES", 1000)
    model = create_model("squeezenet1_1", num_classes=1001)
    path = tmp_path / "many.pth"
    torch.save(model.state_dict(), path)
    built = []
    real = torch.nn.Conv2d.__init__

    def spy(self, *args, **kwargs):
        built.append(torch.get_default_device())
        real(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Conv2d, "__init__", spy)
    with pytest.raises(WeightsError, match=r"many.pth: classifier.1.weight declares 1,001 classes"):
        create_model("squeezenet1_1", weights=str(path))
    assert built and all(d.type == "meta" for d in built)  # nothing real was allocated


def test_classifier_of_the_wrong_width_is_refused(tmp_path):
    state = torchvision.models.squeezenet1_1().state_dict()
    state["classifier.1.weight"] = torch.zeros(10**9, 0, 1, 1)
    path = tmp_path / "zero.pth"
    torch.save(state, path)
    with pytest.raises(
        WeightsError, match=r"zero.pth: does not fit the model: classifier.1.weight has shape"
    ):
        create_model("squeezenet1_1", weights=str(path))


# -- non-finite weights, from every format ------------------------------------------------------
def _nan_net(path):
    """A Deep Compression .net file (no checksum) whose codebooks are NaN."""
    from squeezenet.weights.deep_compression import conv_layer_shapes

    layers = conv_layer_shapes(create_model("squeezenet1_0"))
    parts = [struct.pack(f"<{len(layers)}I", *[1] * len(layers))]
    for _, shape in layers:
        parts.append(np.full(256, np.nan, "<f4").tobytes())
        parts.append(np.zeros(shape[0], "<f4").tobytes())
        parts.append(b"\x00" + b"\x00")  # index 0, gap 0
    path.write_bytes(b"".join(parts))


def test_nan_net_file_is_refused(tmp_path, capsys):
    path = tmp_path / "nan.net"
    _nan_net(path)
    with pytest.raises(WeightsError, match=r"nan.net: tensor 'features.0.weight' has NaN"):
        read_state_dict(path)
    image = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (64, 64)).save(image)
    assert main(["predict", "-m", "squeezenet1_0", "-w", str(path), str(image)]) == 2
    assert "has NaN or infinite values" in capsys.readouterr().err


def test_complex_weights_are_refused(tmp_path):
    state = torchvision.models.squeezenet1_1().state_dict()
    state["features.0.bias"] = state["features.0.bias"].to(torch.complex64)
    path = tmp_path / "complex.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"complex.pth: tensor 'features.0.bias' has dtype"):
        create_model("squeezenet1_1", weights=str(path))


def test_infinite_pth_weights_are_refused(tmp_path):
    state = torchvision.models.squeezenet1_1().state_dict()
    state["features.0.bias"][3] = float("inf")
    path = tmp_path / "inf.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"inf.pth: tensor 'features.0.bias' has NaN"):
        create_model("squeezenet1_1", weights=str(path))


# -- the URL cache ----------------------------------------------------------------------------
@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    d = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(d))
    return d


def test_cache_is_keyed_by_the_full_url(tmp_path, hub_dir):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "plain.pth", tmp_path / "b" / "plain.pth"
    torch.save({"w": torch.ones(2)}, first)
    torch.save({"w": torch.full((2,), 2.0)}, second)
    assert read_state_dict(fetch(first.as_uri(), progress=False))["w"].tolist() == [1, 1]
    assert read_state_dict(fetch(second.as_uri(), progress=False))["w"].tolist() == [2, 2]
    assert read_state_dict(fetch(first.as_uri(), progress=False))["w"].tolist() == [1, 1]


def test_a_date_in_a_file_name_is_not_a_hash(tmp_path, hub_dir):
    path = tmp_path / "model-20240101.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    assert hash_in_name(path.name) is None
    model = create_model("squeezenet1_1", weights=path.as_uri())
    assert model.card.source.read_bytes() == path.read_bytes()
    assert hash_in_name("squeezenet1_1-b8a52dc0.pth") == "b8a52dc0"


# -- the legacy torch format ------------------------------------------------------------------
def test_legacy_pre_zip_torch_file_is_accepted(tmp_path):
    state = torchvision.models.squeezenet1_1().state_dict()
    path = tmp_path / "old.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    assert not path.read_bytes().startswith(b"PK")
    model = create_model("squeezenet1_1", weights=str(path))
    torch.testing.assert_close(model.state_dict()["features.0.weight"], state["features.0.weight"])
