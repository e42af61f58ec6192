"""Acceptance: pretrained weights + the right preprocessing reproduce the reference scores on
the 100 real ImageNet photos in ../shared (shared/README.md, +-1 image)."""

import pytest

from squeezenet import create_model
from squeezenet.data import DataSpec, get_preprocess, scan_folder
from squeezenet.engine import evaluate


@pytest.fixture
def sample(imagenet_sample, imagenet_classes):
    """The photos as evaluate reads them (50 at a time, in this process) and their labels."""
    images = scan_folder(imagenet_sample, imagenet_classes)
    assert len(images) == 100
    return DataSpec(imagenet_sample, batch_size=50, workers=0, progress=False), images


def _score(model, sample, preset):
    data, images = sample
    result = evaluate(model, data, get_preprocess(preset), images=images)
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


def test_fast_decoding_matches_the_exact_path(sample, tv11_fp16_weights):
    # Reduced-size JPEG decoding and bf16 change pixels and logits slightly; the counts must
    # stay within 1 image of the exact path (full decode, fp32) in every combination.
    model = create_model("squeezenet1_1", weights=str(tv11_fp16_weights))
    preprocess = get_preprocess("torchvision")
    counts = {}
    for decode, precision in (("exact", "fp32"), ("fast", "fp32"), ("fast", "bf16")):
        result = evaluate(
            model, sample[0], preprocess, images=sample[1], decode=decode, precision=precision
        )
        counts[decode, precision] = result["correct1"], result["correct5"]
    exact = counts["exact", "fp32"]
    assert exact == (63, 89)
    for key, (top1, top5) in counts.items():
        assert abs(top1 - exact[0]) <= 1 and abs(top5 - exact[1]) <= 1, (key, counts)


def test_fast_decoding_reads_fewer_pixels_of_large_photos(sample, monkeypatch):
    # The fast path must really decode at reduced size: 4 of the 100 photos have a shorter
    # side >= 512 and so decode at 1/2 scale for a 256 resize; the rest decode in full.
    import squeezenet.data.images as images_module

    real = images_module.load_image
    decoded: dict[str, tuple[int, int]] = {}

    def spy(path, min_size=None):
        image = real(path, min_size)
        decoded[path.name] = image.size
        return image

    monkeypatch.setattr(images_module, "load_image", spy)
    sizes = {}
    for decode in ("exact", "fast"):
        decoded.clear()
        no_model = lambda x: x.new_zeros(len(x), 1000)  # noqa: E731 - decoding is under test
        evaluate(
            no_model, sample[0], get_preprocess("torchvision"), images=sample[1], decode=decode
        )
        sizes[decode] = dict(decoded)
    reduced = {n for n, size in sizes["fast"].items() if size != sizes["exact"][n]}
    assert len(reduced) == 4
    assert all(min(sizes["fast"][n]) >= 256 for n in reduced)
