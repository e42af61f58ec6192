"""Weights: registry records, pickle-safe loading, downloads, the Deep Compression reader and
the errors that bad files get."""

import dataclasses
import hashlib
import os
import struct

import numpy as np
import pytest
import torch
import torchvision

from squeezenet import WeightsError, create_model, get_weights_record, list_weights
from squeezenet.summary import count_params
from squeezenet.weights import (
    deep_compression_state_dict,
    fetch,
    read_deep_compression,
    read_state_dict,
    sha256_file,
)
from squeezenet.weights.fetch import cache_path


@pytest.fixture
def v11_file(tmp_path):
    path = tmp_path / "squeezenet1_1.pth"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    return path


# -- records --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_weights())
def test_records_agree_with_their_models(name):
    record = get_weights_record(name)
    model = create_model(record.model, num_classes=record.num_classes, **record.model_kwargs)
    assert count_params(model) == record.num_params
    assert record.preprocess in ("torchvision", "caffe")


@pytest.mark.parametrize("name", list_weights())
def test_every_record_can_be_obtained_by_a_user(name):
    # A public download with its hash, or a file inside the package with its size and hash.
    record = get_weights_record(name)
    if record.url is not None:
        assert record.url.startswith("https://") and len(record.sha256) >= 8
        assert record.packaged_path() is None
    else:
        path = record.packaged_path()
        assert path.is_file(), f"{name}: {path} is not in the package"
        assert os.path.getsize(path) == record.file_size
        assert sha256_file(path).startswith(record.sha256)


def test_registered_name_downloads_with_its_hash(tmp_path, hub_dir, v11_file, monkeypatch):
    from squeezenet.weights import records

    digest = sha256_file(v11_file)
    record = dataclasses.replace(
        get_weights_record("squeezenet1_1.tv_in1k"),
        name="squeezenet1_1.test_file_url",
        url=v11_file.as_uri(),
        sha256=digest[:8],
    )
    monkeypatch.setitem(records._RECORDS, record.name, record)
    model = create_model("squeezenet1_1", weights=record.name)
    assert model.card.record is record
    # cached under a folder keyed by the full URL (docs/security.md)
    assert model.card.source.name == v11_file.name
    assert model.card.source.parent.parent == hub_dir / "checkpoints"


def test_registered_name_reports_a_network_error(hub_dir, monkeypatch):
    from squeezenet.weights import records

    record = dataclasses.replace(
        get_weights_record("squeezenet1_1.tv_in1k"),
        name="squeezenet1_1.test_unreachable",
        url="http://127.0.0.1:9/squeezenet1_1-b8a52dc0.pth",  # port 9: nothing listens
    )
    monkeypatch.setitem(records._RECORDS, record.name, record)
    with pytest.raises(WeightsError, match="download failed .*check the network connection"):
        create_model("squeezenet1_1", weights=record.name)


def test_records_name_their_preprocessing():
    assert get_weights_record("squeezenet1_0.dc_in1k").preprocess == "caffe"
    assert get_weights_record("squeezenet1_0.dc_in1k").input_size == 227
    assert get_weights_record("squeezenet1_1.tv_in1k").preprocess == "torchvision"
    assert get_weights_record("squeezenet1_1.tv_in1k").url.startswith(
        "https://download.pytorch.org"
    )


def test_wrong_model_for_a_record():
    with pytest.raises(WeightsError, match="weights for squeezenet1_0, not for squeezenet1_1"):
        create_model("squeezenet1_1", weights="squeezenet1_0.dc_in1k")


# -- torchvision-format files ------------------------------------------------------------------
def test_fp16_weights_load_strict_and_match_torchvision(tv11_fp16_weights):
    ours = create_model("squeezenet1_1", weights=str(tv11_fp16_weights)).eval()
    reference = torchvision.models.squeezenet1_1().eval()
    reference.load_state_dict(torch.load(tv11_fp16_weights, weights_only=True))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), atol=1e-5, rtol=0)


def test_checkpoint_wrappers_and_ddp_prefixes_are_unwrapped(tmp_path):
    state = torchvision.models.squeezenet1_1().state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    model = create_model("squeezenet1_1", weights=str(path))
    torch.testing.assert_close(model.state_dict()["features.0.weight"], state["features.0.weight"])


def test_fine_tuning_replaces_only_the_classifier(v11_file):
    model = create_model("squeezenet1_1", weights=str(v11_file), num_classes=10)
    state = torch.load(v11_file, weights_only=True)
    assert model.classifier[1].weight.shape == (10, 512, 1, 1)
    torch.testing.assert_close(
        model.state_dict()["features.12.expand3x3.weight"], state["features.12.expand3x3.weight"]
    )
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_truncated_file_names_the_file(tmp_path, v11_file):
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(v11_file.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match=f"{bad}: not a readable PyTorch weights file"):
        create_model("squeezenet1_1", weights=str(bad))


def test_garbage_and_empty_files(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(1000))
    with pytest.raises(WeightsError, match=f"{garbage}: unrecognised weights format"):
        read_state_dict(garbage)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError, match="the file is empty"):
        read_state_dict(empty)
    with pytest.raises(WeightsError, match="no such file"):
        create_model("squeezenet1_1", weights=str(tmp_path / "missing.pth"))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(1), "x": _Payload()}, path)
    with pytest.raises(WeightsError, match=f"{path}: not a readable PyTorch weights file"):
        read_state_dict(path)


def test_mismatched_weights_name_key_and_shapes(tmp_path):
    path = tmp_path / "v10.pth"
    torch.save(torchvision.models.squeezenet1_0().state_dict(), path)
    with pytest.raises(WeightsError) as info:
        create_model("squeezenet1_1", weights=str(path))
    message = str(info.value)
    assert str(path) in message
    assert "features.0.weight: file (96, 3, 7, 7) vs model (64, 3, 3, 3)" in message


def test_missing_and_unexpected_keys(tmp_path, v11_file):
    state = torch.load(v11_file, weights_only=True)
    del state["features.3.squeeze.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(
        WeightsError, match="missing keys: features.3.squeeze.bias; unexpected keys: extra.weight"
    ):
        create_model("squeezenet1_1", weights=str(path))


def test_non_tensor_entries(tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"features.0.weight": [1, 2, 3]}, path)
    with pytest.raises(WeightsError, match="entry 'features.0.weight' is a list, not a tensor"):
        read_state_dict(path)


# -- safetensors --------------------------------------------------------------------------------
def test_safetensors_in_the_torchvision_layout_load(tmp_path, v11_file):
    from safetensors.torch import save_file

    state = torch.load(v11_file, weights_only=True)
    path = tmp_path / "squeezenet1_1.safetensors"
    save_file(state, path)
    model = create_model("squeezenet1_1", weights=str(path))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    # The format is recognised by its layout too, whatever the file is called.
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(path.read_bytes())
    assert read_state_dict(renamed).keys() == state.keys()


def test_safetensors_get_the_same_checks_as_pth(tmp_path, v11_file):
    from safetensors.torch import save_file

    state = torch.load(v11_file, weights_only=True)
    wrong = {**state, "classifier.1.weight": torch.zeros(1000, 256, 1, 1)}
    path = tmp_path / "wrong.safetensors"
    save_file(wrong, path)
    with pytest.raises(
        WeightsError,
        match=r"wrong.safetensors: does not fit the model: classifier.1.weight has shape "
        r"\(1000, 256, 1, 1\), the model needs \(classes, 512, 1, 1\)",
    ):
        create_model("squeezenet1_1", weights=str(path))
    prefixed = tmp_path / "ddp.safetensors"
    save_file({"module." + k: v for k, v in state.items()}, prefixed)
    assert read_state_dict(prefixed).keys() == state.keys()


def test_corrupt_safetensors_name_the_file(tmp_path, v11_file):
    from safetensors.torch import save_file

    path = tmp_path / "cut.safetensors"
    save_file(torch.load(v11_file, weights_only=True), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="cut.safetensors: not a readable safetensors file"):
        read_state_dict(path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_save_state_dict_round_trips(tmp_path, v11_file, suffix):
    from squeezenet import save_state_dict

    state = torch.load(v11_file, weights_only=True)
    path = save_state_dict(state, tmp_path / f"out{suffix}")
    back = read_state_dict(path)
    assert all(torch.equal(back[k], v) for k, v in state.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [v11_file.name, f"out{suffix}"]
    )  # no temporary file left behind


# -- downloads ------------------------------------------------------------------------------
def test_download_from_file_url_with_hash_in_name(tmp_path, hub_dir, v11_file):
    digest = hashlib.sha256(v11_file.read_bytes()).hexdigest()
    named = tmp_path / f"squeezenet1_1-{digest[:8]}.pth"
    named.write_bytes(v11_file.read_bytes())
    model = create_model("squeezenet1_1", weights=named.as_uri())
    assert cache_path(named.as_uri(), named.name).is_file()
    assert cache_path(named.as_uri(), named.name).is_relative_to(hub_dir / "checkpoints")
    torch.testing.assert_close(
        model.state_dict()["features.0.weight"],
        torch.load(v11_file, weights_only=True)["features.0.weight"],
    )


def test_download_with_wrong_hash_is_rejected_and_removed(tmp_path, hub_dir, v11_file):
    named = tmp_path / "squeezenet1_1-deadbeef.pth"
    named.write_bytes(v11_file.read_bytes())
    with pytest.raises(WeightsError, match="sha256 mismatch \\(expected prefix deadbeef"):
        create_model("squeezenet1_1", weights=named.as_uri())
    assert not cache_path(named.as_uri(), named.name).exists()


def test_explicit_hash_and_failed_download(tmp_path, hub_dir, v11_file):
    digest = hashlib.sha256(v11_file.read_bytes()).hexdigest()
    assert fetch(v11_file.as_uri(), sha256=digest).is_file()
    with pytest.raises(WeightsError, match="download failed"):
        fetch((tmp_path / "nothing-here.pth").as_uri())


# -- the Deep Compression release ---------------------------------------------------------------
def test_deep_compression_decodes_to_33_4_percent_density(han_net):
    layers = read_deep_compression(han_net)
    assert len(layers) == 26
    total = sum(int(np.prod(layer.shape)) for layer in layers)
    nonzero = sum(int(np.count_nonzero(layer.dense())) for layer in layers)
    assert round(nonzero / total, 3) == 0.334
    for layer in layers:
        assert layer.codebook[0] == 0.0
        assert len(layer.codebook) == 256 and int(layer.gaps.max()) < 16
        dense = layer.dense().ravel()
        written = np.zeros(dense.size, bool)
        written[layer.positions()] = True
        assert not dense[~written].any()  # every position not written is 0


def test_deep_compression_loads_into_v1_0(han_net):
    model = create_model("squeezenet1_0", weights=str(han_net))
    state = deep_compression_state_dict(han_net)
    assert set(state) == set(model.state_dict())
    assert model.card.record is None and str(model.card.source).endswith(".net")


def _corrupt(tmp_path, data: bytes, name="bad.net"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_deep_compression_truncated_and_trailing(tmp_path, han_net):
    data = han_net.read_bytes()
    with pytest.raises(WeightsError, match="truncated in layer classifier.1"):
        deep_compression_state_dict(_corrupt(tmp_path, data[:-10]))
    with pytest.raises(WeightsError, match="truncated Deep Compression file"):
        deep_compression_state_dict(_corrupt(tmp_path, data[:50]))
    with pytest.raises(WeightsError, match="3 unexpected trailing bytes"):
        deep_compression_state_dict(_corrupt(tmp_path, data + b"abc"))


def test_deep_compression_hostile_counts(tmp_path, han_net):
    data = bytearray(han_net.read_bytes())
    data[0:4] = struct.pack("<I", 0xFFFFFFFF)  # conv1 claims 4 billion entries
    with pytest.raises(WeightsError, match="layer features.0 declares 4294967295 entries"):
        deep_compression_state_dict(_corrupt(tmp_path, bytes(data)))
