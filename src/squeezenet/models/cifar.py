"""SqueezeNet for 32x32 inputs (CIFAR-10), and train-time batch norm that folds away.

The paper's stem (a 7x7/2 or 3x3/2 conv followed by a 3x3/2 max-pool) shrinks a 224x224 image
to 55x55 before the first Fire module; applied to a 32x32 image it would leave 7x7 and the last
Fire modules would see 1x1 maps. ``squeezenet_cifar`` keeps v1.1's Fire widths (section 5.1
metaparameters base_e=128, incr_e=128, freq=2, pct3x3=0.5, SR=0.125) and its simple bypasses
(section 6), but its 3x3 stride-2 stem (padding 1) is the only downsampling before fire2 (no
max-pool after it), so the Fire modules see 16x16, 8x8 and 4x4 maps -- the same "downsample
late" principle (section 3.1, strategy 3) scaled to the smaller image. (A stride-1 stem plus
the max-pool gives the same map sizes; on CIFAR-10 it was no more accurate after 8 epochs and
trained about 1.3x slower.)

:func:`add_batchnorm` / :func:`fuse_batchnorm` let training use batch norm after every conv (it
makes short schedules converge) while the saved model is a plain :class:`SqueezeNet` with the
normalisation folded into the conv weights and biases, loadable by ``create_model`` with
``strict=True`` and understood by every tool that knows the spec.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model
from .squeezenet import SqueezeNetSpec, build_squeezenet

#: The 32x32 layout: 3x3/2 stem (64 channels, 32 -> 16), pools before fire4 and fire6.
SQUEEZENET_CIFAR = SqueezeNetSpec(
    stem_channels=64,
    stem_kernel=3,
    stem_stride=2,
    stem_padding=1,
    pool_before=(2, 4),
    bypass="simple",
    dropout=0.1,
    num_classes=10,
)


@register_model(input_size=32)
def squeezenet_cifar(**kwargs) -> nn.Module:
    """SqueezeNet v1.1 Fire widths for 32x32 images: 3x3/2 stem, pools before fire4/6,
    simple bypass, 10 classes."""
    return build_squeezenet(SQUEEZENET_CIFAR, **kwargs)


class ConvBN(nn.Conv2d):
    """A Conv2d followed by BatchNorm2d, with the conv's own parameter names kept (``weight``,
    ``bias``) so that :func:`fuse_batchnorm` can turn it back into a plain Conv2d."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
        self.bn = nn.BatchNorm2d(conv.out_channels, device=conv.weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(super().forward(x))

    @torch.no_grad()
    def fused(self) -> nn.Conv2d:
        """The equivalent Conv2d in eval mode: w' = w * g / s, b' = (b - mean) * g / s + beta."""
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            True,
            self.padding_mode,
            device=self.weight.device,
        )
        scale = self.bn.weight / torch.sqrt(self.bn.running_var + self.bn.eps)
        conv.weight.copy_(self.weight * scale.reshape(-1, 1, 1, 1))
        bias = self.bias if self.bias is not None else torch.zeros_like(scale)
        conv.bias.copy_((bias - self.bn.running_mean) * scale + self.bn.bias)
        return conv


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


@torch.no_grad()
def init_batchnorm_identity(model: nn.Module, inputs) -> None:
    """Start every BatchNorm2d as the identity on the data: running mean/var and beta = the
    channel's measured mean, gamma = its standard deviation (over the batches ``inputs``
    yields). Inserting batch norm into a trained network then leaves its function unchanged
    (in eval mode exactly, in train mode up to batch statistics), so fine-tuning starts from
    what the network had learned instead of a re-normalised version of it."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    stats = {id(bn): [0.0, 0.0, 0] for bn in bns}

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
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(mean)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, ConvBN) for m in model.modules())
