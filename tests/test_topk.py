"""Top-k accuracy counts (squeezenet.engine): the one implementation that evaluation,
the running training top-1 and the demo all use."""

import torch

from squeezenet.engine import topk_correct
from squeezenet.engine.evaluate import topk_hits

# Row 0: label ranked 1st; row 1: 2nd; row 2: 3rd; row 3: last (4th of 4 classes).
LOGITS = torch.tensor(
    [
        [0.9, 0.1, 0.0, -1.0],
        [0.5, 0.7, 0.1, 0.0],
        [0.3, 0.5, 0.4, 0.1],
        [2.0, 1.0, 0.5, 0.2],
    ]
)
LABELS = torch.tensor([0, 0, 0, 3])


def test_counts_rows_whose_label_is_among_the_top_k():
    assert topk_correct(LOGITS, LABELS, ks=(1, 2, 3, 4)) == [1, 2, 3, 4]


def test_k_beyond_the_number_of_classes_counts_every_row():
    assert topk_correct(LOGITS, LABELS) == [1, 4]  # default ks (1, 5), only 4 classes


def test_hits_are_an_int64_tensor_on_the_logits_device():
    hits = topk_hits(LOGITS, LABELS, ks=(1, 2))
    assert hits.dtype == torch.int64 and hits.device == LOGITS.device
    assert hits.tolist() == [1, 2]


def test_top1_agrees_with_argmax_on_float_logits():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 10, generator=gen)
    labels = torch.randint(0, 10, (500,), generator=gen)
    (top1,) = topk_correct(logits, labels, ks=(1,))
    assert top1 == int((logits.argmax(1) == labels).sum())


def test_training_top1_counts_every_image_of_the_epoch():
    from torch import nn

    from squeezenet.engine import EpochSettings, NormalizeBatch, Step, train_one_epoch

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=gen),
            torch.randint(0, 10, (n,), generator=gen),
        )
        for n in (16, 16, 5)
    ]
    prepare = NormalizeBatch(torch.device("cpu"), (0.5,) * 3, (0.25,) * 3, channels_last=False)
    with torch.no_grad():  # what the (unchanging, lr 0) model gets right before the epoch
        expected = sum(int((model(prepare(x, y)[0]).argmax(1) == y).sum()) for x, y in batches)
    assert 0 < expected < 37
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    settings = EpochSettings(torch.device("cpu"))
    metrics = train_one_epoch(model, batches, prepare, Step(optimizer), settings, 0)
    assert metrics["train_top1"] == expected / 37


class _Brighter(torch.nn.Module):
    """Logit c = mean of input channel c (c = 0, 1), through a 1x1 convolution."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[:2].view(2, 3, 1, 1))

    def forward(self, x):
        return self.conv(x).mean((2, 3))


def test_evaluate_runs_a_channels_last_copy_and_checks_its_options(tmp_path):
    import numpy as np
    import pytest
    from PIL import Image

    from squeezenet.data import DataSpec, get_preprocess
    from squeezenet.engine import evaluate

    for c, name in enumerate(("0_red", "1_green")):
        (tmp_path / name).mkdir()
        pixels = np.zeros((40, 30, 3), np.uint8)
        pixels[..., c] = 255
        Image.fromarray(pixels).save(tmp_path / name / "0.png")
    data = DataSpec(tmp_path, batch_size=2, workers=0, progress=False)
    model = _Brighter()
    for precision in ("fp32", "bf16"):
        # 2 of 2 only if the workers' uint8 crops are normalised before the model sees them.
        result = evaluate(model, data, get_preprocess("cifar"), precision=precision)
        assert (result["n"], result["correct1"]) == (2, 2)
    assert model.conv.weight.is_contiguous()  # the caller's module is not converted
    with pytest.raises(ValueError, match="decode must be one of"):
        evaluate(model, data, get_preprocess("cifar"), decode="draft")
    with pytest.raises(ValueError, match="precision must be one of"):
        evaluate(model, data, get_preprocess("cifar"), precision="fp16")
