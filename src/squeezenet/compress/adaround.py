"""AdaRound on a layer's input Gram matrix: learned rounding onto a fixed uniform grid.

Rounding every weight to its nearest grid point ignores that the errors of a layer's weights
add up in its outputs. AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for
Post-Training Quantization", ICML 2020) instead learns, for each weight, whether to round
down or up: ``W~ = step * (floor(W / step) + h(V))`` with ``h`` the rectified sigmoid
``clip(1.2 * sigmoid(V) - 0.1, 0, 1)``, minimising the layer's output error plus a
regulariser ``sum 1 - |2 h(V) - 1| ** beta`` that drives every ``h`` to 0 or 1 as ``beta``
is annealed from 20 to 2.

A convolution is a linear map on its im2col patches, ``W X``, so the output error of a
rounding ``W~ = W + dW`` over the calibration images is ``||dW X||^2 = tr(dW H dW^T)`` with
``H = X X^T``: the same input Hessian GPTQ uses (:func:`.gptq.input_moments`). Built once per
layer, it makes each optimisation step cost about ``2 * out * d**2`` multiply-adds (``d`` =
inputs per output) however many images calibrate it. Layers are rounded in network order,
each on what the already-rounded layers before it output (:func:`.gptq.gptq_quantize`'s
loop). Weights that are exactly zero (pruned) stay zero; the result is on the grid, so it is
weight sharing and the file format applies unchanged.

Two additions of ours, both off by default. *Rate-aware rounding*: the entropy coder pays
about ``-log2 p(level)`` bits for a weight whose grid level has frequency ``p`` in its layer,
so ``rate`` adds that cost, in bits per weight, to the objective and the rounding trades
output error for bytes (a cheaper level wins where the error barely differs). *Output
weighting*: ``row_weight`` weighs each output channel's error, e.g. by the Fisher
information of its weights, so that the rate is spent on the channels the model's output
depends on most.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from .gptq import gptq_quantize

# The rectified sigmoid's stretch (Nagel et al., section 4: zeta = 1.1, gamma = -0.1).
_ZETA, _GAMMA = 1.1, -0.1


def rectified_sigmoid(v: torch.Tensor) -> torch.Tensor:
    """``h(V) = clip(sigmoid(V) * (zeta - gamma) + gamma, 0, 1)``: reaches 0 and 1 exactly."""
    return (torch.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA).clamp(0.0, 1.0)


def gram_loss(delta: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    """``tr(dW H dW^T)``: the squared output error ``||dW X||^2`` of a weight change ``dW``
    (out, d) when ``hessian`` is ``X X^T`` (d, d)."""
    return ((delta @ hessian) * delta).sum()


@dataclass(frozen=True)
class AdaRoundResult:
    """A layer's rounded weight and how the rounding went: ``loss`` and ``nearest_loss`` are
    :func:`gram_loss` of the result and of nearest rounding; ``soft`` counts the weights whose
    ``h(V)`` had not reached exactly 0 or 1 when the optimisation ended (rounded at 0.5)."""

    weight: torch.Tensor
    loss: float
    nearest_loss: float
    soft: int
    seconds: float
    bits: float = 0.0  # mean -log2 p(level) of the result under the layer's level frequencies


def _grid(step: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``step`` as a tensor that broadcasts over ``like`` (out, d): one number, or one per row."""
    s = torch.as_tensor(step, dtype=like.dtype)
    if s.dim() == 1:
        s = s[:, None]
    if not bool((s > 0).all()):
        raise ValueError("grid steps must be positive")
    return s


@torch.no_grad()
def adaround(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    step: float | torch.Tensor,
    iterations: int = 2000,
    regularizer: float = 100.0,
    lr: float = 3e-2,
    warmup: float = 0.2,
    beta: tuple[float, float] = (20.0, 2.0),
    progress: bool = False,
    threads: int | None = 1,
    rate: float = 0.0,
    row_weight: torch.Tensor | None = None,
) -> AdaRoundResult:
    """Round ``weight`` (out, d) onto the grid ``step * Z`` (``step`` one number or one per
    row) by AdaRound against ``tr(dW H dW^T)``, ``hessian`` being ``E[x x^T]`` of the
    layer's inputs. Adam with learning rate ``lr`` runs ``iterations`` steps; the regulariser
    is off for the first ``warmup`` fraction of them, then weighs ``regularizer`` while its
    exponent goes linearly from ``beta[0]`` to ``beta[1]``. The output error is measured
    relative to nearest rounding's and the regulariser averaged over the weights, so
    ``regularizer`` means the same for any layer; it must be large enough that every
    ``h(V)`` ends at 0 or 1 (see :attr:`AdaRoundResult.soft`). Exact zeros stay zero.
    With ``rate`` > 0 the objective adds ``rate`` times the mean bits per weight (the level
    frequencies re-estimated every tenth of the run from the current rounding), on the same
    relative scale: ``rate`` 1 values a bit per weight as much as nearest rounding's whole
    output error. ``row_weight`` (out,) weighs each output row's error (normalised to mean
    1). Deterministic: no random numbers are drawn. The steps run on ``threads`` CPU threads
    (None: PyTorch's setting): a layer's products are small, and on a CPU that is busy with
    other work, threads that wait for each other at every step can make them ten or a
    hundred times slower than one thread alone."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _adaround(
            weight,
            hessian,
            step,
            iterations,
            regularizer,
            lr,
            warmup,
            beta,
            progress,
            rate,
            row_weight,
        )
    finally:
        torch.set_num_threads(before)


def _adaround(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    step: float | torch.Tensor,
    iterations: int,
    regularizer: float,
    lr: float,
    warmup: float,
    beta: tuple[float, float],
    progress: bool,
    rate: float,
    row_weight: torch.Tensor | None,
) -> AdaRoundResult:
    start = time.perf_counter()
    w = weight.detach().float()
    s = _grid(step, w)
    h_mat = hessian.detach().float()
    h_mat = (h_mat + h_mat.T) / 2
    keep = w != 0
    n = max(int(keep.sum()), 1)
    base = torch.floor(w / s)
    frac = w / s - base
    if row_weight is None:
        rows = torch.ones(w.shape[0], 1)
    else:
        rows = row_weight.detach().float().reshape(-1, 1)
        if len(rows) != len(w) or not bool((rows >= 0).all()) or not float(rows.sum()) > 0:
            raise ValueError("row weights must be one non-negative number per output row")
        rows = rows / rows.mean()

    def rounded(h: torch.Tensor) -> torch.Tensor:
        return s * (base + h) * keep

    def loss_of(q: torch.Tensor) -> float:
        return float(gram_loss((q - w) * rows.sqrt(), h_mat))

    nearest_h = (frac >= 0.5).float()
    nearest = rounded(nearest_h)
    nearest_loss = loss_of(nearest)
    if iterations <= 0 or nearest_loss <= 0:
        bits = float(_level_bits(base + nearest_h, keep).mean())
        return AdaRoundResult(
            nearest, nearest_loss, nearest_loss, 0, time.perf_counter() - start, bits
        )
    # V with h(V) = the fractional part: the soft start is the weight itself.
    v = torch.logit((frac - _GAMMA) / (_ZETA - _GAMMA)).masked_fill(~keep, 0.0)
    v.requires_grad_(True)
    optimizer = torch.optim.Adam([v], lr=lr)
    hold = int(warmup * iterations)
    scale = 1.0 / nearest_loss
    bar = tqdm(
        total=iterations, desc="AdaRound", file=sys.stderr, leave=False, disable=not progress
    )
    refresh = max(iterations // 10, 1)
    rate_grad = torch.zeros_like(w)
    for t in range(iterations):
        if rate > 0 and t % refresh == 0:
            # d/dh of the soft rate (1 - h) R(base) + h R(base + 1), in bits per weight.
            now = base + (rectified_sigmoid(v.detach()) >= 0.5).float()
            cost = _level_cost(now, keep)
            rate_grad = (rate / n) * (cost(base + 1) - cost(base)) * keep
        sig = torch.sigmoid(v)
        raw = sig * (_ZETA - _GAMMA) + _GAMMA
        h = raw.clamp(0.0, 1.0)
        inside = ((raw > 0) & (raw < 1) & keep).float()
        dh_dv = sig * (1 - sig) * (_ZETA - _GAMMA) * inside
        # d/dW~ tr(dW H dW^T) = 2 dW H (H symmetric); the gradient is written out, as one
        # product with H is half of what autograd would spend.
        delta = rounded(h) - w
        grad_h = 2 * scale * (delta @ h_mat) * s * rows + rate_grad
        if t >= hold:
            b = beta[1] + (beta[0] - beta[1]) * (1 - (t - hold) / max(iterations - hold, 1))
            u = 2 * h - 1
            # d/dh (1 - |2h - 1|^b) = -2 b |2h - 1|^(b - 1) sign(2h - 1)
            grad_h -= (regularizer / n) * 2 * b * u.abs().pow(b - 1) * torch.sign(u)
        v.grad = grad_h * dh_dv
        optimizer.step()
        bar.update(1)
    bar.close()
    h = rectified_sigmoid(v.detach())
    soft = int(((h > 0) & (h < 1) & keep).sum())
    hard = (h >= 0.5).float()
    q = rounded(hard)
    bits = float(_level_bits(base + hard, keep).mean())
    return AdaRoundResult(q, loss_of(q), nearest_loss, soft, time.perf_counter() - start, bits)


def _level_cost(levels: torch.Tensor, keep: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``-log2 p(level)`` as a function of integer levels, ``p`` the frequencies of ``levels``
    (pruned weights count as level 0), smoothed so that an unused level costs a finite
    amount."""
    lv = torch.where(keep, levels, torch.zeros_like(levels)).long()
    # One unused level each side: a rounding step moves a weight by at most one level.
    low, high = int(lv.min()) - 1, int(lv.max()) + 1
    counts = torch.bincount((lv - low).flatten(), minlength=high - low + 1).double() + 0.5
    costs = -torch.log2(counts / counts.sum())

    def cost(x: torch.Tensor) -> torch.Tensor:
        i = (x.long() - low).clamp(0, len(costs) - 1)
        return costs[i].float()

    return cost


def _level_bits(levels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Each weight's ``-log2 p(level)`` under the frequencies of ``levels``."""
    return _level_cost(levels, keep)(torch.where(keep, levels, torch.zeros_like(levels)))


def adaround_round(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    step: float | torch.Tensor,
    iterations: int = 2000,
    regularizer: float = 100.0,
    **options,
) -> torch.Tensor:
    """``weight`` (out, d) rounded onto the grid ``step * Z`` by :func:`adaround` (same
    arguments); just the rounded weight."""
    return adaround(weight, hessian, step, iterations, regularizer, **options).weight


@dataclass
class AdaRoundLayer:
    """How one layer's rounding went in :func:`adaround_quantize`."""

    name: str
    loss: float
    nearest_loss: float
    soft: int
    weights: int
    seconds: float
    bits: float


def adaround_quantize(
    model: nn.Module,
    steps: Mapping[str, float | torch.Tensor],
    inputs: torch.Tensor,
    batch_size: int = 32,
    iterations: int = 2000,
    regularizer: float = 100.0,
    lr: float = 3e-2,
    progress: bool = True,
    bias_correction: bool = False,
    dense_target: bool = False,
    rate: float = 0.0,
    row_weights: Mapping[str, torch.Tensor] | None = None,
) -> tuple[list[AdaRoundLayer], float]:
    """Round the weights named in ``steps`` onto their grids in place by :func:`adaround`,
    layer by layer in network order, each on what the rounded layers before it output (the
    loop, ``bias_correction`` and ``dense_target`` of :func:`.gptq.gptq_quantize`). Returns
    each layer's outcome, in network order, and the seconds the whole took (the rest of it,
    beyond the layers' own seconds, went into the calibration images' passes and ``H``).
    ``rate`` and ``row_weights`` (one tensor per weight name, see :func:`adaround`) make the
    rounding rate-aware and weigh each layer's output channels."""
    start = time.perf_counter()
    results: list[AdaRoundResult] = []
    names = [
        f"{n}.weight"
        for n, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and f"{n}.weight" in steps
    ]

    def rounding(w: torch.Tensor, h: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
        # Layers come in network order, as ``names`` lists them.
        rows = None if row_weights is None else row_weights.get(names[len(results)])
        r = adaround(
            w, h, step, iterations, regularizer, lr, progress=progress, rate=rate, row_weight=rows
        )
        results.append(r)
        return r.weight

    gptq_quantize(
        model,
        steps,
        inputs,
        batch_size,
        progress=progress,
        bias_correction=bias_correction,
        dense_target=dense_target,
        rounding=rounding,
        desc="AdaRound layers",
    )
    layers = [
        AdaRoundLayer(
            n, r.loss, r.nearest_loss, r.soft, int(r.weight.numel()), r.seconds, round(r.bits, 3)
        )
        for n, r in zip(names, results, strict=True)
    ]
    return layers, time.perf_counter() - start
