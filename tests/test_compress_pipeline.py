"""Pruning masks, k-means weight sharing, codebook fine-tuning, the pipeline and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from helpers import TINY, tiny_model, write_tree
from squeezenet import create_model
from squeezenet.cli import main
from squeezenet.compress.pipeline import CompressConfig, compress
from squeezenet.compress.quantize import Quantizer, kmeans_1d, parse_bits
from squeezenet.pruning import (
    SQUEEZENET_PROFILE,
    MagnitudeSparsifier,
    magnitude_mask,
    parse_prune,
    prunable,
    resolve_per_layer,
)
from squeezenet.weights import read_state_dict
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.codec import SharedTensor, encode_shared


def test_paper_profile_matches_han_release_densities():
    model = create_model("squeezenet1_0")
    d = resolve_per_layer(model, SQUEEZENET_PROFILE, prunable(model))
    assert d["features.0.weight"] == 1.0
    assert d["features.3.expand3x3.weight"] == 0.33  # fire2
    assert d["features.10.expand3x3.weight"] == 0.30  # fire8
    assert d["features.8.expand1x1.weight"] == 0.5  # fire6
    assert d["features.9.squeeze.weight"] == 0.5  # fire7
    assert d["features.9.expand1x1.weight"] == 1.0
    assert d["classifier.1.weight"] == 0.2


def test_paper_profile_densities_equal_han_release(han_net):
    """The profile is the paper's Table 1 column; Han's file realises it to within 1%."""
    from squeezenet.weights import read_deep_compression

    model = create_model("squeezenet1_0")
    target = resolve_per_layer(model, SQUEEZENET_PROFILE, prunable(model))
    for layer in read_deep_compression(han_net):
        actual = np.count_nonzero(layer.dense()) / layer.dense().size
        assert abs(actual - target[f"{layer.name}.weight"]) < 0.015, layer.name


def test_masks_survive_momentum_and_checkpoints():
    model = tiny_model(5)
    pruner = MagnitudeSparsifier(model)
    pruner.step({"classifier.1.weight": 0.25, "features.3.expand3x3.weight": 0.5})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    pruner.hook_optimizer(opt)
    x = torch.randn(4, 3, 32, 32)
    for _ in range(3):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    w = model.classifier[1].weight
    mask = pruner.masks["classifier.1.weight"]
    assert torch.count_nonzero(w[~mask]) == 0
    assert torch.count_nonzero(w) == mask.sum() == int(np.ceil(0.25 * w.numel()))
    # Masks are state: a fresh pruner restored from the checkpoint re-zeroes the weights.
    saved = {"model": model.state_dict(), "masks": pruner.state_dict()}
    with torch.no_grad():
        w.add_(1.0)
    restored = MagnitudeSparsifier(model)
    restored.load_state_dict(saved["masks"])
    assert torch.count_nonzero(model.classifier[1].weight[~mask]) == 0
    restored.squash_mask()
    assert restored.masks == {}


def test_kernel_granularity_keeps_whole_kernels_by_l2_norm():
    torch.manual_seed(0)
    w = torch.randn(8, 4, 3, 3)
    mask = magnitude_mask(w, 0.25, "kernel")
    kept = mask.all(dim=(2, 3))
    assert torch.equal(kept, mask.any(dim=(2, 3)))  # all or nothing per kernel
    norms = w.flatten(2).norm(dim=2).flatten()
    expected = torch.zeros(32, dtype=torch.bool)
    expected[norms.topk(8).indices] = True
    assert torch.equal(kept.flatten(), expected)
    # 1x1 kernels: the same as per-weight pruning.
    w1 = torch.randn(16, 8, 1, 1)
    assert torch.equal(magnitude_mask(w1, 0.3, "kernel"), magnitude_mask(w1, 0.3))
    with pytest.raises(ValueError, match="unknown pruning granularity 'row'"):
        magnitude_mask(w, 0.5, "row")
    with pytest.raises(ValueError, match="unknown pruning granularity 'row'"):
        MagnitudeSparsifier(tiny_model(5), "row")


def test_kernel_sparse_positions_cost_less():
    # The reason for kernel granularity: at equal density the encoded positions shrink.
    torch.manual_seed(0)
    w = torch.randn(64, 32, 3, 3)
    sizes = {}
    for g in ("weight", "kernel"):
        t = SharedTensor.from_dense((w * magnitude_mask(w, 0.3, g)).sign().numpy(), g)
        assert t.density == pytest.approx(0.3, abs=0.01)
        sizes[g] = len(encode_shared(t, "huffman"))
    # Signs are 1 bit per kept weight either way; positions cost ~H(0.3)/0.3 = 2.9 bits per
    # kept weight when scattered, well under 1 bit when grouped in kernels.
    assert sizes["kernel"] < 0.6 * sizes["weight"]


def test_pruning_is_monotone():
    model = tiny_model(5)
    pruner = MagnitudeSparsifier(model)
    pruner.step({"classifier.1.weight": 0.5})
    first = pruner.masks["classifier.1.weight"].clone()
    pruner.step({"classifier.1.weight": 0.2})
    assert not (pruner.masks["classifier.1.weight"] & ~first).any()


def test_kmeans_linear_init_and_zeros():
    values = np.concatenate([np.full(1000, 0.01), np.full(10, 1.0), np.full(500, -0.5)])
    centroids, assign = kmeans_1d(values, 4)
    # Linear init keeps the rare large weights (1.0) as their own centroid (section 3.2).
    assert np.allclose(sorted(centroids), [-0.5, 0.01, 1.0])
    np.testing.assert_allclose(centroids[assign], values)
    model = tiny_model(5)
    MagnitudeSparsifier(model).step({"classifier.1.weight": 0.3})
    zeros = model.classifier[1].weight == 0
    Quantizer(model, 3)
    w = model.classifier[1].weight
    assert torch.equal(w == 0, zeros)  # pruned weights stay exactly zero
    assert len(torch.unique(w[w != 0])) <= 8


def test_codebook_gradient_is_the_per_cluster_sum():
    model = tiny_model(5)
    q = Quantizer(model, {"classifier.1.weight": 2})
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    g = model.classifier[1].weight.grad.clone().flatten()
    a = q.assign["classifier.1.weight"]
    q.accumulate_grads()
    cb = q.codebooks["classifier.1.weight"]
    expected = torch.stack([g[a == k].sum() for k in range(len(cb))])
    torch.testing.assert_close(cb.grad, expected)
    assert model.classifier[1].weight.grad is None


def test_parse_options():
    assert parse_prune("paper") is SQUEEZENET_PROFILE
    assert parse_prune("0.4") == 0.4
    assert parse_prune("classifier.*=0.2,*=0.5") == {"classifier.*": 0.2, "*": 0.5}
    assert parse_bits("6") == 6
    assert parse_bits("classifier.*=5,*=4") == {"classifier.*": 5, "*": 4}


def test_pipeline_with_distillation_keeps_the_model_close(tmp_path):
    torch.manual_seed(0)
    model = tiny_model(10)
    x = torch.randn(64, 3, 32, 32)
    config = CompressConfig(
        prune=0.5, bits=4, finetune_steps=5, codebook_steps=5, batch_size=16, coder="ans"
    )
    teacher_out = model.eval()(x).detach()
    cm, report = compress(
        model,
        "squeezenet1_1",
        config,
        score=lambda m: float((m(x).argmax(1) == teacher_out.argmax(1)).float().mean()),
        calibration=x,
    )
    assert [s["stage"] for s in report.stages] == [
        "uncompressed",
        "pruned + fine-tuned",
        "quantized",
        "codebook fine-tuned",
        "encoded",
    ]
    size = fileformat.save(cm, tmp_path / "m.sqz")
    assert size == report.stages[-1]["bytes"]
    state = read_state_dict(tmp_path / "m.sqz")
    for k, v in model.state_dict().items():
        assert torch.equal(state[k], v), k  # the file holds exactly the scored model
    w = state["features.3.expand3x3.weight"]
    assert abs(float((w != 0).float().mean()) - 0.5) < 0.01
    assert len(torch.unique(w[w != 0])) <= 16
    assert "layer" in report.format() and "encoded" in report.format()


def test_cli_compress_decompress(tmp_path, capsys):
    model = tiny_model(5)
    weights = tmp_path / "w.pth"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "w.sqz"
    report = tmp_path / "r.json"
    assert (
        main(
            [
                "compress",
                "--model",
                "squeezenet1_1",
                "--weights",
                str(weights),
                "-o",
                str(out),
                "--prune",
                "0.3",
                "--bits",
                "5",
                "--coder",
                "huffman",
                "--report",
                str(report),
            ]
        )
        == 2
    )  # model/weights mismatch: one-line error
    assert "does not fit the model" in capsys.readouterr().err
    # The model must be built like the weights: use an unambiguous spec via a full model.
    full = create_model("squeezenet1_1")
    torch.save(full.state_dict(), weights)
    assert (
        main(
            [
                "compress",
                "-m",
                "squeezenet1_1",
                "-w",
                str(weights),
                "-o",
                str(out),
                "--prune",
                "0.3",
                "--bits",
                "5",
                "--coder",
                "huffman",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    saved = json.loads(report.read_text())
    assert saved["file_bytes"] == saved["stages"][-1]["bytes"] == out.stat().st_size
    pth = tmp_path / "back.pth"
    assert main(["decompress", str(out), "-o", str(pth), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["coder"] == "huffman" and info["model"] == "squeezenet1_1"
    # The .pth keeps the file's description beside the tensors; --plain writes them bare.
    back = torch.load(pth, weights_only=True)
    assert back["squeezenet"]["model"]["name"] == "squeezenet1_1"
    assert back["squeezenet"]["preprocess"]["name"] == "torchvision"
    direct = read_state_dict(out)
    assert all(torch.equal(back["state_dict"][k], direct[k]) for k in direct)
    plain = tmp_path / "plain.pth"
    assert main(["decompress", str(out), "-o", str(plain), "--plain"]) == 0
    torchvision.models.squeezenet1_1().load_state_dict(torch.load(plain, weights_only=True))
    assert abs(info["nonzero"] / info["params"] - 0.3) < 0.02
    # The same weights as safetensors, loaded back through --weights like any file.
    st = tmp_path / "back.safetensors"
    assert main(["decompress", str(out), "-o", str(st)]) == 0
    from safetensors.torch import load_file

    assert all(torch.equal(load_file(st)[k], direct[k]) for k in direct)
    model = create_model("squeezenet1_1", weights=str(st))
    assert torch.equal(model.state_dict()["classifier.1.weight"], direct["classifier.1.weight"])


def test_cli_compress_kernel_granularity(tmp_path, capsys):
    weights = tmp_path / "w.pth"
    torch.save(create_model("squeezenet1_1").state_dict(), weights)
    out = tmp_path / "k.sqz"
    assert (
        main(
            [
                "compress",
                "-m",
                "squeezenet1_1",
                "-w",
                str(weights),
                "-o",
                str(out),
                "--prune",
                "features.0.weight=1.0,*=0.3",
                "--prune-granularity",
                "kernel",
                "--bits",
                "4",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)  # --json: one object, no table
    assert summary["file_bytes"] == summary["stages"][-1]["bytes"] == out.stat().st_size
    assert [s["stored_as"] for s in summary["stages"]] == ["dense", "sparse", "shared", "file"]
    assert out.read_bytes()[8:10] == b"\x03\x00"  # version 3 (kernel blocks from version 2)
    state = read_state_dict(out)
    w = state["features.12.expand3x3.weight"]
    kept = w.flatten(2).ne(0)
    assert torch.equal(kept.all(dim=2), kept.any(dim=2))  # whole 3x3 kernels
    assert kept.float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_cli_lossless_han(han_net, tmp_path, capsys):
    out = tmp_path / "han.sqz"
    assert (
        main(["compress", "-m", "squeezenet1_0", "-w", str(han_net), "-o", str(out), "--lossless"])
        == 0
    )
    assert "lossless" in capsys.readouterr().out
    assert out.stat().st_size <= 540_000
    assert (
        main(
            [
                "compress",
                "-m",
                "squeezenet1_0",
                "-w",
                str(out.with_suffix(".none")),
                "-o",
                str(out),
                "--lossless",
            ]
        )
        == 2
    )


def test_cli_lossless_refuses_dense_weights(tmp_path, capsys):
    weights = tmp_path / "w.pth"
    torch.save(create_model("squeezenet1_1").state_dict(), weights)
    assert main(["compress", "-w", str(weights), "-o", str(tmp_path / "x.sqz"), "--lossless"]) == 2
    assert "not weight-shared" in capsys.readouterr().err
    assert not (tmp_path / "x.sqz").exists()


def test_prunable_ignores_biases():
    assert all(n.endswith(".weight") for n in prunable(tiny_model(5)))
    assert isinstance(tiny_model(5).classifier[1], nn.Conv2d)


def test_batchnorm_inserted_starts_as_identity_and_folds_into_the_same_parameters(tmp_path):
    from squeezenet.compress.retrain import LabelledRetraining
    from squeezenet.engine import first_inputs
    from squeezenet.models.batchnorm import batchnorm_inserted

    tree = write_tree(tmp_path / "d", ["r", "g", "b"], (10, 10), splits=("train", "test"))
    tuner = LabelledRetraining(str(tree), batch_size=8, progress=False, amp="off")
    torch.manual_seed(0)
    model = create_model("squeezenet_cifar", num_classes=3, **TINY).eval()
    x = torch.randn(4, 3, 16, 16)
    before = model(x)
    params = dict(model.named_parameters())
    inputs = first_inputs(tuner.data.train, tuner.prepare)
    with batchnorm_inserted(model, inputs) as bn_params:
        assert len(bn_params) == 2 * sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        torch.testing.assert_close(model.eval()(x), before, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(a is b for a, b in zip(params.values(), model.parameters()))
    torch.testing.assert_close(model(x), before, rtol=1e-4, atol=1e-5)


def test_labelled_retraining_keeps_pruned_zeros_and_scores_the_test_split(tmp_path):
    from squeezenet.compress.retrain import LabelledRetraining

    tree = write_tree(tmp_path / "d", ["r", "g", "b"], (10, 10), splits=("train", "test"))
    tuner = LabelledRetraining(str(tree), batch_size=8, progress=False, amp="off")
    assert tuner.score_split == "test"
    torch.manual_seed(0)
    model = create_model("squeezenet_cifar", num_classes=3, **TINY)
    config = CompressConfig(
        prune=0.5,
        prune_rounds=2,
        bits=4,
        finetune_steps=6,
        lr=0.05,
        codebook_steps=4,
        codebook_lr=1e-3,
        coder="huffman",
    )
    cm, report = compress(model, "squeezenet_cifar", config, tuner, tuner.score)
    names = [s["stage"] for s in report.to_dict()["stages"]]
    assert names == [
        "uncompressed",
        "pruned + fine-tuned",
        "quantized",
        "codebook fine-tuned",
        "encoded",
    ]
    state = cm.state_dict()
    for name in prunable(model):
        w = state[name]
        assert 0.45 <= (w != 0).float().mean() <= 0.55, name
        assert len(torch.unique(w[w != 0])) <= 16, name
    # What was scored last is exactly what the file holds.
    model.load_state_dict(state)
    assert report.to_dict()["stages"][-1]["score"] == tuner.score(model)


def test_stage_bytes_count_the_weights_as_stored():
    from squeezenet.compress.report import stored_bytes

    model = nn.Sequential(nn.Conv2d(1, 2, 3))  # 18 weights + 2 biases
    assert stored_bytes(model) == (80, "dense")  # 20 fp32 values
    with torch.no_grad():
        model[0].weight.view(-1)[:9] = 0
    # 9 fp32 non-zeros + an 18-bit mask + 2 fp32 biases = 370 bits
    assert stored_bytes(model) == (47, "sparse")
    # 9 2-bit indices + the mask + a 4-entry fp32 codebook + 2 fp32 biases = 228 bits
    assert stored_bytes(model, {"0.weight": 2}) == (29, "shared")
