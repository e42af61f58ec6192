"""Hessian-aware uniform weight sharing: one grid step per layer, chosen from the Fisher
information, and GPTQ rounding onto that grid.

Deep Compression (section 3) clusters each layer into ``2**bits`` shared values by k-means
and entropy-codes the indices afterwards (section 4). Choi et al. ("Towards the limit of
network quantization", ICLR 2017) show that once the indices are entropy-coded, a *uniform*
grid is close to optimal for a given file size, and that the error should be weighted by the
Hessian: a layer whose weights matter more to the loss gets a finer grid. With the diagonal
Fisher information ``F`` standing in for the Hessian, minimising ``sum_l F_l * step_l**2``
at a fixed entropy gives ``step_l ~ 1 / sqrt(F_l)`` (high-rate theory); one ``scale`` then
trades size against accuracy for the whole network.

Rounding each weight to the nearest grid point ignores that the errors of a layer's weights
add up in its outputs. GPTQ (Frantar et al., ICLR 2023) rounds one input column at a time
and moves the columns not yet rounded to cancel the error already made, using the layer's
input Hessian ``X X^T`` from a few hundred calibration images. Layers are done in network
order, each seeing the inputs that the already-rounded layers before it produce. The result
is still a weight-shared layer (every value is ``step * integer``), so the file format and
codebook fine-tuning (section 3.3) apply unchanged. Weights that are exactly zero (pruned)
stay zero.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

# The Fisher value at which ``scale`` is the grid step itself (a typical SqueezeNet layer's).
REFERENCE_FISHER = 1e-2


def fisher_diagonal(
    model: nn.Module, inputs: torch.Tensor, batch_size: int = 32, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Mean squared gradient of ``log p(y | x)`` per parameter, with ``y`` drawn from the
    model's own prediction (the Fisher information; no labels needed).

    Gradients are taken per batch: with ``y`` sampled from the model, per-image gradients
    have mean zero, so the squared batch sum estimates the sum of squared per-image ones."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(0, len(inputs), batch_size):
        x = inputs[i : i + batch_size].float().to(device)
        logits = model(x)
        with torch.no_grad():
            probs = torch.softmax(logits.float(), 1).cpu()
            y = torch.multinomial(probs, 1, generator=generator)[:, 0].to(device)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(logits, y, reduction="sum").backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                fisher[n] += p.grad.detach() ** 2
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {n: f / max(len(inputs), 1) for n, f in fisher.items()}


def grid_steps(
    fisher: dict[str, torch.Tensor], names: Sequence[str], scale: float, exponent: float = 0.5
) -> dict[str, float]:
    """Per-layer grid step ``scale * (F_l / REFERENCE_FISHER) ** -exponent``, with ``F_l`` the
    layer's mean Fisher information (``exponent`` 0.5 is the high-rate optimum)."""
    if scale <= 0:
        raise ValueError(f"grid scale must be positive, got {scale}")
    steps = {}
    for n in names:
        mean = float(fisher[n].mean())
        if not mean > 0:
            raise ValueError(f"{n}: its Fisher information is zero; it does not affect the output")
        steps[n] = scale * (mean / REFERENCE_FISHER) ** -exponent
    return steps


class _Captured(Exception):
    """Stops the forward pass once a layer's input is captured."""


def _columns(conv: nn.Conv2d | nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """A layer's input as rows of the matrix its weight multiplies: (positions, in * k * k)."""
    if isinstance(conv, nn.Linear):
        return x.reshape(-1, x.shape[-1])
    if conv.groups != 1:
        raise ValueError("GPTQ here supports ungrouped convolutions only")
    assert not isinstance(conv.padding, str)  # padding="same"/"valid" is not used here
    cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def _layer_input(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``layer`` receives when ``model`` runs on ``x`` (the forward stops there)."""
    seen: list[torch.Tensor] = []

    def capture(_module, args):
        seen.append(args[0])
        raise _Captured

    handle = layer.register_forward_pre_hook(capture)
    try:
        model(x)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not seen:
        raise ValueError("the calibration inputs never reached the layer")
    return seen[0]


@torch.no_grad()
def input_moments(
    model: nn.Module,
    layer: nn.Conv2d | nn.Linear,
    batches: Sequence[torch.Tensor],
    reference: tuple[nn.Module, nn.Conv2d | nn.Linear, Sequence[torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(E[x x^T], E[x], E[r x^T])`` over the inputs ``x`` that reach ``layer``; ``r`` is
    what the same layer of an unrounded ``reference = (model, layer, batches)`` receives for
    the same images (``None`` without one)."""
    total = cross = col_sum = None
    rows = 0
    for i, x in enumerate(batches):
        cols = _columns(layer, _layer_input(model, layer, x).float()).double()
        total = cols.T @ cols if total is None else total + cols.T @ cols
        col_sum = cols.sum(0) if col_sum is None else col_sum + cols.sum(0)
        rows += cols.shape[0]
        if reference is not None:
            ref_model, ref_layer, ref_batches = reference
            ref = _columns(ref_layer, _layer_input(ref_model, ref_layer, ref_batches[i]).float())
            c = ref.double().T @ cols
            cross = c if cross is None else cross + c
    if total is None or col_sum is None:
        raise ValueError("the calibration inputs never reached the layer")
    return (
        (total / rows).float(),
        (col_sum / rows).float(),
        None if cross is None else (cross / rows).float(),
    )


def _dense_target(
    weight: torch.Tensor, hessian: torch.Tensor, cross: torch.Tensor, damp: float
) -> torch.Tensor:
    """The weights that, fed the rounded network's inputs ``x``, best reproduce what the
    unrounded layer computes from its own inputs ``r``: ``W E[r x^T] E[x x^T]^-1`` (least
    squares), written as ``W`` plus a correction for the error ``r - x`` so that the damping
    (as GPTQ damps) leaves a layer whose inputs carry no error exactly as it was. Exact
    zeros stay zero."""
    h = hessian.double()
    error = cross.double() - h  # E[(r - x) x^T]
    h = h.clone()
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    h += damp * torch.diag(h).mean() * torch.eye(len(h), dtype=h.dtype)
    w = weight.double()
    target = w + torch.linalg.solve(h, (w @ error).T).T
    return (target * (weight != 0)).to(weight.dtype)


@torch.no_grad()
def gptq_round(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    step: float | torch.Tensor,
    damp: float = 0.01,
    limit: int | None = None,
) -> torch.Tensor:
    """Round ``weight`` (out, in) onto the grid ``step * Z`` column by column, moving the
    columns not yet rounded to cancel the output error (Frantar et al., Algorithm 1, with
    columns taken in order of decreasing input energy). Exact zeros stay zero. ``step`` is
    one number, or one per output row (a per-channel grid); with ``limit`` the integers stay
    within ``[-limit, limit]``."""
    w = weight.detach().clone().float()
    step = torch.as_tensor(step, dtype=w.dtype)
    bound = float("inf") if limit is None else float(limit)
    keep = w != 0
    h = hessian.clone().float()
    dead = torch.diag(h) == 0  # inputs that are always zero: their weights do not matter
    h[dead, dead] = 1.0
    order = torch.argsort(torch.diag(h), descending=True)
    w, keep, h = w[:, order], keep[:, order], h[order][:, order]
    h += damp * torch.diag(h).mean() * torch.eye(len(h))
    # Upper Cholesky factor of H^-1: row i holds how column i's error spreads to later ones.
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    q = torch.zeros_like(w)
    for i in range(w.shape[1]):
        column = w[:, i]
        rounded = torch.round(column / step).clamp(-bound, bound) * step * keep[:, i]
        q[:, i] = rounded
        error = (column - rounded) / u[i, i]
        w[:, i + 1 :] -= error[:, None] * u[i, i + 1 :][None, :]
    return q[:, torch.argsort(order)]


def _blocks(model: nn.Module, first: torch.Tensor) -> list[nn.Module] | None:
    """The model as a chain of blocks (``features`` then ``classifier``, as SqueezeNet and
    AlexNet are) if that chain computes exactly what the model does on ``first``, else None.
    A chain lets each block's input be computed once, not once per layer."""
    parts = [getattr(model, name, None) for name in ("features", "classifier")]
    if not all(isinstance(p, nn.Sequential) for p in parts):
        return None
    blocks = [b for p in parts if isinstance(p, nn.Sequential) for b in p]  # all are
    x = first
    for b in blocks:
        x = b(x)
    return blocks if torch.equal(x.flatten(1), model(first).flatten(1)) else None


@torch.no_grad()
def gptq_quantize(
    model: nn.Module,
    steps: Mapping[str, float | torch.Tensor],
    inputs: torch.Tensor,
    batch_size: int = 32,
    damp: float = 0.01,
    progress: bool = True,
    bias_correction: bool = False,
    dense_target: bool = False,
    limit: int | None = None,
    rounding: Callable[[torch.Tensor, torch.Tensor, float | torch.Tensor], torch.Tensor]
    | None = None,
    desc: str = "GPTQ",
) -> None:
    """Round the weights named in ``steps`` onto their grids in place, layer by layer in
    network order, each layer calibrated on what the rounded layers before it output; with
    ``bias_correction`` each layer's bias also absorbs the mean shift its rounding causes.
    A step is one number per layer or one per output channel; ``limit`` bounds the integers
    (see :func:`gptq_round`). ``rounding(weight, hessian, step)`` replaces GPTQ's rounding
    of a layer's (out, in) weight given its inputs' ``E[x x^T]`` (e.g. AdaRound, see
    :mod:`.adaround`); ``desc`` names the progress bar.

    GPTQ makes each rounded layer reproduce what its unrounded weights compute *from the
    rounded network's inputs*, so the error of earlier layers is carried forward. With
    ``dense_target`` the target is what the unrounded network computes at that layer from
    its own inputs: each layer first moves its weights to correct the error it receives
    (least squares on the calibration images), then rounds (the asymmetric calibration of
    GPTAQ, Li et al., 2025)."""
    device = next(model.parameters()).device
    batches = [
        inputs[i : i + batch_size].float().to(device) for i in range(0, len(inputs), batch_size)
    ]
    names = {module: f"{name}.weight" for name, module in model.named_modules()}
    was_training = model.training
    model.eval()
    blocks = _blocks(model, batches[0]) if batches else None
    # Without a chain, the whole model is one block fed the calibration images each time.
    chain = blocks if blocks is not None else [model]
    # The unrounded network, block for block, and its own inputs to each block.
    dense_chain = copy.deepcopy(chain) if dense_target else None
    dense_batches = list(batches)
    round_layer = rounding or (lambda w, h, step: gptq_round(w, h, step, damp, limit))
    bar = tqdm(total=len(steps), desc=desc, file=sys.stderr, leave=False, disable=not progress)
    for b, block in enumerate(chain):
        # Each layer beside its unrounded copy (the copy's modules come in the same order).
        twins = dense_chain[b].modules() if dense_chain is not None else repeat(None)
        for layer, twin in zip(block.modules(), twins):
            if not isinstance(layer, (nn.Conv2d, nn.Linear)) or names.get(layer) not in steps:
                continue
            reference = None
            if dense_chain is not None:
                assert isinstance(twin, (nn.Conv2d, nn.Linear))  # a copy of ``layer``
                reference = (dense_chain[b], twin, dense_batches)
            hessian, mean, cross = input_moments(block, layer, batches, reference)
            w = layer.weight
            flat = w.reshape(w.shape[0], -1).cpu()
            if cross is not None:
                flat = _dense_target(flat, hessian.cpu(), cross.cpu(), damp)
            q = round_layer(flat, hessian.cpu(), steps[names[layer]])
            if bias_correction and layer.bias is not None:
                # Keep each output's mean over the calibration inputs (Nagel et al. 2019):
                # the rounding shifts it by (W - Q) E[x]; the float bias takes that back.
                layer.bias += ((flat - q) @ mean.cpu()).to(layer.bias.device, layer.bias.dtype)
            w.copy_(q.reshape(w.shape).to(w.device, w.dtype))
            bar.update(1)
        if blocks is not None:
            batches = [block(x) for x in batches]  # the next block's inputs, computed once
            if dense_chain is not None:
                dense_batches = [dense_chain[b](x) for x in dense_batches]
    bar.close()
    model.train(was_training)
