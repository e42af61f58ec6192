"""AdaRound on Gram matrices: learned rounding onto the Fisher grids (compress/adaround.py)."""

from __future__ import annotations

import pytest
import torch

from squeezenet import create_model
from squeezenet.compress import compress
from squeezenet.compress.adaround import (
    adaround,
    adaround_quantize,
    adaround_round,
    gram_loss,
    rectified_sigmoid,
)
from squeezenet.compress.gptq import fisher_diagonal, gptq_round, grid_steps
from squeezenet.pruning import prunable
from squeezenet.weights.sqz import fileformat

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny tensor operations


def _tiny():
    torch.manual_seed(0)
    return create_model(
        "squeezenet", base_e=16, incr_e=16, sr=0.25, num_classes=7, dropout=0.0
    ).eval()


def _problem(seed: int = 0, rows: int = 2048, d: int = 32, out: int = 16):
    """A layer with strongly correlated inputs, some of its weights already pruned."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, d, generator=g) @ torch.randn(d, d, generator=g)
    w = torch.randn(out, d, generator=g) * 0.1
    w[0, :5] = 0.0
    return x, w, x.T @ x / len(x)


def _on_grid(q: torch.Tensor, step) -> bool:
    k = q / torch.as_tensor(step).reshape(-1, *([1] * (q.dim() - 1)))
    return bool(torch.allclose(k, torch.round(k), atol=1e-4))


def test_gram_loss_is_the_output_error_on_the_inputs():
    x, w, _ = _problem(1, rows=500)
    delta = torch.randn(w.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = x.double()
    explicit = ((delta @ x.T) ** 2).sum()  # ||dW X||^2 with X (d, rows)
    torch.testing.assert_close(gram_loss(delta, x.T @ x), explicit)


def test_rectified_sigmoid_reaches_zero_and_one_exactly():
    h = rectified_sigmoid(torch.tensor([-10.0, 0.0, 10.0]))
    assert h.tolist() == [0.0, pytest.approx(0.5), 1.0]


def test_every_weight_is_decided_and_on_the_grid():
    _, w, h = _problem(3)
    step = 0.05
    r = adaround(w, h, step, iterations=1000)
    assert r.soft == 0  # every h(V) ended at exactly 0 or 1
    assert _on_grid(r.weight, step)
    # each weight went to the grid point below or above it, never further
    assert bool(((r.weight - w).abs() < step + 1e-6).all())
    assert (r.weight[0, :5] == 0).all()  # pruned weights stay zero


def test_a_weak_regulariser_leaves_weights_undecided():
    _, w, h = _problem(3)
    assert adaround(w, h, 0.05, iterations=1000, regularizer=1e-6).soft > 0


def test_adaround_beats_nearest_rounding_on_correlated_inputs():
    _, w, h = _problem(0)
    step = 0.05
    r = adaround(w, h, step, iterations=1000)
    nearest = torch.round(w / step) * step
    assert r.nearest_loss == pytest.approx(float(gram_loss(nearest - w, h)), rel=1e-4)
    assert r.loss < 0.5 * r.nearest_loss, (r.loss, r.nearest_loss)
    # and GPTQ on the same grid (which it should at least match)
    gptq = float(gram_loss(gptq_round(w, h, step) - w, h))
    print(f"output error: nearest {r.nearest_loss:.4g}, GPTQ {gptq:.4g}, AdaRound {r.loss:.4g}")
    assert r.loss < 1.1 * gptq


def test_per_row_steps_and_determinism():
    _, w, h = _problem(4)
    step = torch.linspace(0.03, 0.08, w.shape[0])
    q1 = adaround_round(w, h, step, iterations=300)
    q2 = adaround_round(w, h, step, iterations=300)
    assert torch.equal(q1, q2)
    assert _on_grid(q1, step)


def test_no_iterations_is_nearest_rounding():
    _, w, h = _problem(5)
    q = adaround_round(w, h, 0.05, iterations=0)
    assert torch.equal(q, torch.round(w / 0.05) * 0.05 * (w != 0))


def test_adaround_quantize_puts_every_layer_on_its_grid():
    model = _tiny()
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    names = prunable(model)
    steps = {n: 0.05 for n in names}
    layers, seconds = adaround_quantize(
        model, steps, x, batch_size=4, iterations=100, progress=False
    )
    assert [r.name for r in layers] == names  # network order
    assert seconds >= sum(r.seconds for r in layers)
    for n, p in model.named_parameters():
        if n in steps:
            assert _on_grid(p.detach(), steps[n]), n


def test_pipeline_with_adaround_writes_a_decodable_file(tmp_path):
    model = _tiny_with_pruned_kernel()  # a pruned kernel stays pruned
    x = torch.randn(16, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    settings = dict(
        preset="gptq",
        quantizer="adaround",
        grid_scale=0.05,
        batch_size=8,
        adaround_iterations=100,
        progress=False,
    )
    cm, report = compress(model, "squeezenet", calibration=x, **settings)
    path = tmp_path / "m.sqz"
    fileformat.save(cm, path)
    decoded = fileformat.read_state_dict(path)
    for key, value in model.state_dict().items():
        assert torch.equal(decoded[key], value), key
    assert (decoded["features.0.weight"][0] == 0).all()
    stage = report.to_dict()["stages"][1]
    assert stage["stage"] == "quantized (AdaRound)"
    assert stage["adaround_undecided"] == 0
    assert len(stage["adaround_layers"]) == len(prunable(model))
    # same seed, same bytes
    again, _ = compress(_tiny_with_pruned_kernel(), "squeezenet", calibration=x, **settings)
    assert fileformat.to_bytes(again) == fileformat.to_bytes(cm)


def _tiny_with_pruned_kernel():
    model = _tiny()
    with torch.no_grad():
        model.features[0].weight[0] = 0.0
    return model


def test_adaround_without_calibration_images_is_refused():
    with pytest.raises(ValueError, match="adaround quantizer needs unlabeled calibration"):
        compress(_tiny(), "squeezenet", prune="none", quantizer="adaround")


def test_cli_has_the_adaround_flags():
    from squeezenet.cli import build_parser

    args = build_parser().parse_args(
        [
            "compress",
            "-m",
            "squeezenet1_1",
            "-w",
            "w.pth",
            "-o",
            "o.sqz",
            "--quantizer",
            "adaround",
            "--adaround-iterations",
            "50",
            "--adaround-regularizer",
            "2",
        ]
    )
    assert (args.quantizer, args.adaround_iterations, args.adaround_regularizer) == (
        "adaround",
        50,
        2.0,
    )


def test_rate_aware_rounding_spends_fewer_bits_the_more_it_is_asked_to():
    _, w, h = _problem(5)
    runs = [adaround(w, h, 0.02, iterations=600, rate=r) for r in (0.0, 1.0, 5.0)]
    bits = [r.bits for r in runs]
    losses = [r.loss for r in runs]
    assert bits[0] > bits[1] > bits[2]
    assert losses[0] < losses[2]  # the bytes are bought with output error
    for r in runs:
        assert r.soft == 0 and _on_grid(r.weight, 0.02)
        assert (r.weight[0, :5] == 0).all()  # pruned weights stay pruned


def test_row_weights_give_the_heavier_row_the_lower_error():
    _, w, h = _problem(6, out=2)
    w = torch.cat([w[:1], w[:1]])  # the same row twice
    r = adaround(w, h, 0.02, iterations=600, rate=3.0, row_weight=torch.tensor([10.0, 0.1]))
    errors = ((r.weight - w) @ h * (r.weight - w)).sum(1)
    assert errors[0] < errors[1]
    with pytest.raises(ValueError, match="one non-negative number per output row"):
        adaround(w, h, 0.02, iterations=10, row_weight=torch.tensor([1.0, -1.0]))


def test_max_bytes_chooses_the_finest_grid_that_fits(tmp_path):
    x = torch.randn(16, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    settings = dict(preset="gptq", batch_size=8, progress=False)
    sizes = {}
    for scale in (0.02, 0.04):
        cm, _ = compress(_tiny(), "squeezenet", calibration=x, grid_scale=scale, **settings)
        sizes[scale] = len(fileformat.to_bytes(cm))
    budget = (sizes[0.02] + sizes[0.04]) // 2
    cm, report = compress(_tiny(), "squeezenet", calibration=x, max_bytes=budget, **settings)
    stage = report.to_dict()["stages"][1]
    assert len(fileformat.to_bytes(cm)) <= budget
    assert 0.02 < stage["grid_scale"] < 0.04
    assert stage["max_bytes"] == budget
    with pytest.raises(ValueError, match="max_bytes. 10: no grid makes a file that small"):
        compress(_tiny(), "squeezenet", calibration=x, max_bytes=10, **settings)


def test_nearest_quantizer_rounds_every_weight_to_its_nearest_grid_point():
    model = _tiny()
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    names = prunable(model)
    steps = grid_steps(fisher_diagonal(model, x), names, 0.03)  # the pipeline's own grids
    dense = {n: p.detach().clone() for n, p in model.named_parameters()}
    _, report = compress(
        model,
        "squeezenet",
        preset="gptq",
        quantizer="nearest",
        grid_scale=0.03,
        calibration=x,
        progress=False,
    )
    assert report.to_dict()["stages"][1]["stage"] == "quantized (nearest)"
    params = dict(model.named_parameters())
    for n in names:
        torch.testing.assert_close(
            params[n].detach(), torch.round(dense[n] / steps[n]) * steps[n], rtol=0, atol=0
        )


def test_the_adaround_preset_learns_the_rounding_toward_the_dense_network():
    x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    cm, report = compress(
        _tiny(),
        "squeezenet",
        preset="adaround",
        calibration=x,
        adaround_iterations=50,
        batch_size=4,
        progress=False,
    )
    stage = report.to_dict()["stages"][1]
    assert stage["stage"] == "quantized (AdaRound)" and stage["adaround_undecided"] == 0
    assert cm.raw_dtypes and set(cm.raw_dtypes.values()) == {"float16"}
