"""The compressed ImageNet SqueezeNet 1.1 that ships inside the package
(``squeezenet1_1.dc_in1k``): it loads with no download, its bytes are the recorded ones, and
it scores what its record says."""

from __future__ import annotations

import hashlib

import pytest
import torch

from squeezenet import create_model
from squeezenet.data import DataSpec, get_preprocess, scan_folder
from squeezenet.engine import evaluate
from squeezenet.weights import get_weights_record
from squeezenet.weights.sqz import fileformat

NAME = "squeezenet1_1.dc_in1k"


def test_shipped_file_matches_its_record():
    record = get_weights_record(NAME)
    path = record.packaged_path()
    assert path is not None and path.is_file()
    data = path.read_bytes()
    assert len(data) == record.file_size < 470_000  # the paper's 0.47 MB
    assert hashlib.sha256(data).hexdigest() == record.sha256
    assert record.preprocess == "torchvision" and record.num_classes == 1000


def test_shipped_model_loads_without_a_download(monkeypatch):
    from squeezenet.weights import loading

    def no_network(*args, **kwargs):
        raise AssertionError("the shipped weights must not be downloaded")

    monkeypatch.setattr(loading, "fetch", no_network)
    model = create_model("squeezenet1_1", weights=NAME).eval()
    decoded = fileformat.read_state_dict(get_weights_record(NAME).packaged_path())
    for key, value in model.state_dict().items():
        assert torch.equal(value, decoded[key]), key
    # weight sharing: every conv holds at most a few hundred distinct values
    assert all(len(torch.unique(p)) <= 1024 for n, p in model.named_parameters() if p.dim() == 4)


def test_shipped_model_scores_its_record_on_the_imagenet_sample(imagenet_sample, imagenet_classes):
    data = DataSpec(imagenet_sample, batch_size=50, workers=0, progress=False)
    model = create_model("squeezenet1_1", weights=NAME)
    result = evaluate(model, data, get_preprocess("torchvision"), class_list=imagenet_classes)
    metrics = get_weights_record(NAME).metrics["imagenet-sample-100"]
    assert result["n"] == 100
    assert result["correct1"] == metrics["top1"] and result["correct5"] == metrics["top5"]


def test_shipped_model_scores_its_record_on_all_1000_classes(imagenet_dev, tv11_fp16_weights):
    # The figure that decides: 1000-way over photos of 223 classes, exact decoding, fp32,
    # paired with the dense weights it was compressed from.
    images = scan_folder(imagenet_dev, "imagenet")
    assert len(images) == 781
    preprocess = get_preprocess("torchvision")
    model = create_model("squeezenet1_1", weights=NAME)
    dense = create_model("squeezenet1_1", weights=str(tv11_fp16_weights))
    data = DataSpec(imagenet_dev, batch_size=50, workers=0, progress=False)
    kw = dict(images=images, decode="exact", precision="fp32")
    result = evaluate(model, data, preprocess, **kw)
    reference = evaluate(dense, data, preprocess, **kw)
    metrics = get_weights_record(NAME).metrics["imagenet-dev"]
    assert round(100 * result["top1"], 2) == metrics["top1"]
    assert round(100 * result["top5"], 2) == metrics["top5"]
    assert (reference["correct1"], result["correct1"]) == (447, 434)


def test_demo_classifies_the_sample_photos_with_the_shipped_model():
    pytest.importorskip("sklearn")
    from squeezenet.demo import classify_sample_photos

    results = classify_sample_photos(k=5)
    assert [r["photo"] for r in results] == ["china.jpg", "flower.jpg"]
    china = [c["class"] for c in results[0]["top"]]
    assert "monastery" in china and "palace" in china  # a Chinese temple roof
    for r in results:
        probs = [c["probability"] for c in r["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
