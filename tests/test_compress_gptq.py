"""Hessian-aware uniform weight sharing: Fisher-weighted grid steps and GPTQ rounding."""

from __future__ import annotations

import pytest
import torch

from squeezenet import create_model
from squeezenet.cli import build_parser
from squeezenet.cli.compress import settings
from squeezenet.compress import compress
from squeezenet.compress.gptq import (
    REFERENCE_FISHER,
    fisher_diagonal,
    gptq_quantize,
    gptq_round,
    grid_steps,
)
from squeezenet.compress.pipeline import CompressConfig
from squeezenet.compress.presets import COMPRESS_PRESETS
from squeezenet.compress.weights_file import FineTuneData
from squeezenet.pruning import prunable
from squeezenet.weights.sqz import fileformat


def _tiny():
    torch.manual_seed(0)
    return create_model(
        "squeezenet", base_e=16, incr_e=16, sr=0.25, num_classes=7, dropout=0.0
    ).eval()


def test_gptq_beats_nearest_rounding_on_correlated_inputs():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(32, 32, generator=g)
    x = torch.randn(4096, 32, generator=g) @ mix  # strongly correlated inputs
    w = torch.randn(16, 32, generator=g) * 0.1
    w[0, :5] = 0.0  # already pruned
    h = x.T @ x / len(x)
    step = 0.05
    q = gptq_round(w, h, step)
    nearest = torch.round(w / step) * step
    err_gptq = ((x @ (q - w).T) ** 2).mean()
    err_nearest = ((x @ (nearest - w).T) ** 2).mean()
    assert err_gptq < 0.5 * err_nearest
    # still weight sharing on the grid, and pruned weights stay exactly zero
    assert torch.allclose(q / step, torch.round(q / step), atol=1e-4)
    assert (q[0, :5] == 0).all()


def test_grid_steps_follow_the_fisher_information():
    fisher = {"a": torch.full((3,), REFERENCE_FISHER), "b": torch.full((3,), 4 * REFERENCE_FISHER)}
    steps = grid_steps(fisher, ["a", "b"], scale=0.02)
    assert steps["a"] == pytest.approx(0.02)
    assert steps["b"] == pytest.approx(0.01)  # 4x the Fisher information: half the step
    with pytest.raises(ValueError, match="grid scale must be positive, got 0"):
        grid_steps(fisher, ["a"], scale=0)
    with pytest.raises(ValueError, match="c: its Fisher information is zero"):
        grid_steps({"c": torch.zeros(2)}, ["c"], scale=0.02)


def test_fisher_diagonal_is_positive_and_seeded():
    model = _tiny()
    x = torch.randn(12, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    f1 = fisher_diagonal(model, x, batch_size=4, seed=3)
    f2 = fisher_diagonal(model, x, batch_size=4, seed=3)
    for name, p in model.named_parameters():
        assert f1[name].shape == p.shape
        assert torch.equal(f1[name], f2[name])
    assert all(float(f1[n].mean()) > 0 for n in prunable(model))


def test_gptq_quantize_puts_every_layer_on_its_grid():
    model = _tiny()
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    names = prunable(model)
    steps = {n: 0.05 for n in names}
    gptq_quantize(model, steps, x, batch_size=4, progress=False)
    for n, p in model.named_parameters():
        if n in steps:
            k = p.detach() / steps[n]
            assert torch.allclose(k, torch.round(k), atol=1e-4), n


def test_dense_target_leaves_a_layer_with_exact_inputs_as_gptq_rounds_it():
    # The first layer sees the images themselves: no upstream error, so the dense target
    # must change nothing there and round exactly as plain GPTQ does.
    from squeezenet.compress.gptq import _dense_target, input_moments

    model = _tiny()
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    conv1 = model.features[0]
    hessian, _, cross = input_moments(model, conv1, [x], (model, conv1, [x]))
    assert cross is not None
    torch.testing.assert_close(cross, hessian)
    w = conv1.weight.detach().reshape(conv1.weight.shape[0], -1)
    torch.testing.assert_close(_dense_target(w, hessian, cross, 0.01), w)


def test_dense_target_brings_the_rounded_network_closer_to_the_dense_one():
    x = torch.randn(32, 3, 64, 64, generator=torch.Generator().manual_seed(8))
    reference = _tiny()
    steps = {n: 0.08 for n in prunable(reference)}  # coarse: errors add up along the network
    errors = []
    for dense_target in (False, True):
        model = _tiny()
        gptq_quantize(model, steps, x, batch_size=8, progress=False, dense_target=dense_target)
        with torch.no_grad():
            errors.append(float((model(x) - reference(x)).pow(2).mean()))
        for n, p in model.named_parameters():  # still on the grid
            if n in steps:
                k = p.detach() / steps[n]
                assert torch.allclose(k, torch.round(k), atol=1e-4), n
    assert errors[1] < 0.9 * errors[0], errors


def test_pipeline_with_gptq_writes_what_it_scores(tmp_path):
    model = _tiny()
    x = torch.randn(16, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    # The preset's settings (no pruning, GPTQ, float16 biases), two of them overridden.
    cm, report = compress(
        model, "squeezenet", calibration=x, preset="gptq", grid_scale=0.05, batch_size=8
    )
    path = tmp_path / "m.sqz"
    fileformat.save(cm, path)
    decoded = fileformat.read_state_dict(path)
    for key, value in model.state_dict().items():
        assert torch.equal(decoded[key], value), key
    assert [s["stage"] for s in report.to_dict()["stages"]][1] == "quantized (GPTQ)"


def test_gptq_without_calibration_images_is_refused():
    config = CompressConfig(prune="none", quantizer="gptq")
    with pytest.raises(ValueError, match="gptq quantizer needs unlabeled calibration images"):
        compress(_tiny(), "squeezenet", config)


def test_preset_sets_defaults_and_explicit_values_override_it():
    from squeezenet.settings import SettingError, with_preset

    config = with_preset(CompressConfig, COMPRESS_PRESETS, "gptq")
    assert (config.prune, config.quantizer, config.grid_scale) == ("none", "gptq", 0.024)
    assert config.bias_dtype == "float16"
    assert with_preset(FineTuneData, COMPRESS_PRESETS, "gptq").calibration_size == 256
    assert with_preset(CompressConfig, COMPRESS_PRESETS, "gptq", grid_scale=0.03).grid_scale == 0.03
    config = with_preset(CompressConfig, COMPRESS_PRESETS, None)  # no preset: the defaults
    assert (config.prune, config.quantizer) == ("paper", "kmeans")
    with pytest.raises(SettingError, match="unknown `preset` 'nosuch'"):
        with_preset(CompressConfig, COMPRESS_PRESETS, "nosuch")
    # The CLI passes the flags given, and only those, as settings over the preset.
    base = ["compress", "-m", "squeezenet1_1", "-w", "w.pth", "-o", "o.sqz", "--preset", "gptq"]
    args = build_parser().parse_args([*base, "--grid-scale", "0.03", "--no-progress"])
    assert settings(args) == {"grid_scale": 0.03, "progress": False}


def test_calibration_takes_several_sources():
    parser = build_parser()
    base = ["compress", "-m", "squeezenet1_1", "-w", "w.pth", "-o", "o.sqz"]
    args = parser.parse_args([*base, "--calibration", "a", "b", "--calibration", "c.zip"])
    assert args.calibration == ["a", "b", "c.zip"]


def test_block_chain_gives_the_same_rounding_as_whole_forwards(monkeypatch):
    from squeezenet.compress import gptq

    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    chained, whole = _tiny(), _tiny()
    steps = {n: 0.05 for n in prunable(chained)}
    assert gptq._blocks(chained, x[:4]) is not None  # SqueezeNet is a chain of blocks
    gptq_quantize(chained, steps, x, batch_size=4, progress=False)
    monkeypatch.setattr(gptq, "_blocks", lambda model, first: None)
    gptq_quantize(whole, steps, x, batch_size=4, progress=False)
    for (name, a), b in zip(chained.state_dict().items(), whole.state_dict().values()):
        assert torch.equal(a, b), name


def test_bias_correction_keeps_the_mean_output_of_a_rounded_layer():
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    reference, plain, corrected = _tiny(), _tiny(), _tiny()
    steps = {n: 0.2 for n in prunable(reference)}  # coarse: a visible mean shift
    gptq_quantize(plain, steps, x, batch_size=4, progress=False)
    gptq_quantize(corrected, steps, x, batch_size=4, progress=False, bias_correction=True)

    def first_conv_mean(model):
        return model.features[0](x).mean(dim=(0, 2, 3))

    target = first_conv_mean(reference)
    shift_plain = (first_conv_mean(plain) - target).abs().max()
    shift_corrected = (first_conv_mean(corrected) - target).abs().max()
    assert shift_corrected < 1e-4 < shift_plain
    # the weights are rounded identically; only the biases differ
    assert torch.equal(plain.features[0].weight, corrected.features[0].weight)
