"""Acceptance: pretrained weights + the right preprocessing reproduce the reference scores on
the 100 real ImageNet photos in ../shared (shared/README.md, +-1 image)."""

import pytest

from squeezenet import create_model
from squeezenet.data import get_preprocess, scan_folder
from squeezenet.evaluate import evaluate


@pytest.fixture
def sample(imagenet_sample, imagenet_classes):
    images = scan_folder(imagenet_sample, imagenet_classes)
    assert len(images) == 100
    return images


def _score(model, images, preset):
    result = evaluate(model, images, get_preprocess(preset), batch_size=50, progress=False)
    assert result["n"] == 100
    return result["correct1"], result["correct5"]


def test_squeezenet1_1_fp16_weights(sample, tv11_fp16_weights):
    model = create_model("squeezenet1_1", weights=str(tv11_fp16_weights))
    top1, top5 = _score(model, sample, "torchvision")
    assert abs(top1 - 63) <= 1 and abs(top5 - 89) <= 1


@pytest.mark.parametrize("padding", [0, 1])
def test_deep_compression_release(sample, han_net, padding):
    # padding 0: torchvision's layout (the reference 60/82); 1: the Caffe-exact network.
    model = create_model("squeezenet1_0", weights=str(han_net), conv10_padding=padding)
    top1, top5 = _score(model, sample, "caffe")
    assert abs(top1 - 60) <= 1 and abs(top5 - 82) <= 1


def test_wrong_preprocessing_hurts(sample, han_net):
    # Guards against a preset that silently does nothing: RGB/std input ruins Caffe weights.
    model = create_model("squeezenet1_0", weights=str(han_net))
    top1, _ = _score(model, sample, "torchvision")
    assert top1 < 40
