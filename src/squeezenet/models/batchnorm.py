"""Batch norm after every conv for training, folded back into the convs afterwards.

Training with batch norm makes short schedules converge (``train --batchnorm``) and lets
compression retrain a network whose normalisation was folded away at export; folding it
back leaves a plain SqueezeNet (same state_dict keys, loadable with ``strict=True``). Folding
only rescales each output channel, so pruned zeros stay zero.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn


class ConvBN(nn.Conv2d):
    """A Conv2d followed by BatchNorm2d, with the conv's own parameter names kept (``weight``,
    ``bias``) so that it folds back into a plain Conv2d.

    ``share=False`` copies the conv's values into new parameters (a model being built for
    training); ``share=True`` keeps the conv's Parameter objects, so pruning masks and an
    optimizer that point at them stay valid (retraining during compression)."""

    def __init__(self, conv: nn.Conv2d, share: bool = False) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            bias=conv.bias is not None,
            **_geometry(conv),
            # Shared parameters replace these at once: no memory, no random initialisation.
            device="meta" if share else conv.weight.device,
            dtype=conv.weight.dtype,
        )
        if share:
            self.weight = conv.weight
            self.bias = conv.bias
        else:
            with torch.no_grad():
                self.weight.copy_(conv.weight)
                if conv.bias is not None:
                    assert self.bias is not None  # built with bias=True above
                    self.bias.copy_(conv.bias)
        self.bn = nn.BatchNorm2d(conv.out_channels, device=conv.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(super().forward(x))

    @torch.no_grad()
    def _folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """In eval mode: w' = w * g / s, b' = (b - mean) * g / s + beta."""
        running_mean, running_var = _running_stats(self.bn)
        scale = self.bn.weight / torch.sqrt(running_var + self.bn.eps)
        weight = self.weight * scale.reshape(-1, 1, 1, 1)
        bias = self.bias if self.bias is not None else torch.zeros_like(scale)
        return weight, (bias - running_mean) * scale + self.bn.bias

    def _plain(self, device: torch.device | str) -> nn.Conv2d:
        return nn.Conv2d(
            self.in_channels, self.out_channels, bias=True, **_geometry(self), device=device
        )

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        """The equivalent Conv2d, with new parameters."""
        weight, bias = self._folded()
        conv = self._plain(self.weight.device)
        assert conv.bias is not None  # _plain builds it with bias=True
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        """Fold into this module's own Parameters, in place, and return a Conv2d holding
        them (the same Parameter objects a ``share=True`` wrapper was given)."""
        if self.bias is None:
            raise ValueError("fold() needs a conv with a bias; use fused()")
        weight, bias = self._folded()
        self.weight.copy_(weight)
        self.bias.copy_(bias)
        conv = self._plain("meta")
        conv.weight, conv.bias = self.weight, self.bias
        return conv


def _geometry(conv: nn.Conv2d) -> dict[str, Any]:
    """The Conv2d arguments besides channels and bias that give ``conv``'s shape (typed
    loosely: torch types the attributes ``tuple[int, ...]``, the arguments ``tuple[int, int]``)."""
    return {
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
        "padding_mode": conv.padding_mode,
    }


def _running_stats(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``bn``'s running mean and variance (it tracks them: the BatchNorm2d default)."""
    assert bn.running_mean is not None and bn.running_var is not None
    return bn.running_mean, bn.running_var


def _replace_convs(module: nn.Module, fn, skip: set[int]) -> None:
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, ConvBN)) and id(child) not in skip:
            new = fn(child)
            if new is not child:
                setattr(module, name, new)
        else:
            _replace_convs(child, fn, skip)


def classifier_conv(model: nn.Module) -> nn.Module | None:
    """conv10 of a SqueezeNet (the layer fine-tuning replaces), if the model has one."""
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential) and len(classifier) > 1:
        return classifier[1]
    return None


def add_batchnorm(model: nn.Module, classifier: bool = True) -> nn.Module:
    """Put a BatchNorm2d after every conv (in place; returns ``model``).

    With ``classifier`` (the default) conv10 gets one too: SqueezeNet applies a ReLU to its
    class scores, and without a normalised, learnably shifted conv10 output many scores start
    (and stay) at zero -- short CIFAR runs then stall at chance for an epoch or more.
    """
    skip = set() if classifier else {id(classifier_conv(model))}
    _replace_convs(model, lambda c: ConvBN(c) if type(c) is nn.Conv2d else c, skip)
    return model


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every :class:`ConvBN` into a plain Conv2d (in place; returns ``model``)."""
    _replace_convs(model, lambda c: c.fused() if isinstance(c, ConvBN) else c, set())
    return model


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, ConvBN) for m in model.modules())


@contextlib.contextmanager
def batchnorm_inserted(
    model: nn.Module, inputs: Iterable[torch.Tensor]
) -> Iterator[list[nn.Parameter]]:
    """Put a batch norm after every biased conv for the duration of the block, started as
    the identity on ``inputs`` (:func:`init_batchnorm_identity`); yields the new parameters.
    Afterwards they are folded back into the same conv Parameters (:meth:`ConvBN.fold`)."""
    wrappers: list[ConvBN] = []

    def wrap(conv: nn.Module) -> nn.Module:
        if type(conv) is nn.Conv2d and conv.bias is not None:
            wrappers.append(ConvBN(conv, share=True))
            return wrappers[-1]
        return conv

    _replace_convs(model, wrap, set())
    try:
        init_batchnorm_identity(model, inputs)
        yield [p for w in wrappers for p in w.bn.parameters()]
    finally:
        inserted = {id(w) for w in wrappers}
        _replace_convs(model, lambda c: c.fold() if id(c) in inserted else c, set())


@torch.no_grad()
def init_batchnorm_identity(model: nn.Module, inputs) -> None:
    """Start every BatchNorm2d as the identity on the data: running mean/var and beta = the
    channel's measured mean, gamma = its standard deviation (over the batches ``inputs``
    yields). Inserting batch norm into a trained network then leaves its function unchanged
    (in eval mode exactly, in train mode up to batch statistics), so fine-tuning starts from
    what the network had learned instead of a re-normalised version of it."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    # Per norm: [sum, sum of squares (per-channel tensors after the first batch), count].
    stats: dict[int, list[Any]] = {id(bn): [0.0, 0.0, 0] for bn in bns}

    def hook(bn, args):
        x = args[0].float()
        s = stats[id(bn)]
        s[0] = s[0] + x.sum((0, 2, 3))
        s[1] = s[1] + (x * x).sum((0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    handles = [bn.register_forward_pre_hook(hook) for bn in bns]
    was_training = model.training
    model.eval()  # running stats start at 0 / 1: each inserted norm is ~identity meanwhile
    try:
        for x in inputs:
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for bn in bns:
        total, sq, n = stats[id(bn)]
        if not n:
            raise ValueError("init_batchnorm_identity: no batches to measure")
        mean = total / n
        var = (sq / n - mean * mean).clamp_min(0)
        running_mean, running_var = _running_stats(bn)
        running_mean.copy_(mean)
        running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean)
