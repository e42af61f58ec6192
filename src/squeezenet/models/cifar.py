"""SqueezeNet for 32x32 inputs (CIFAR-10).

The paper's stem (a 7x7/2 or 3x3/2 conv followed by a 3x3/2 max-pool) shrinks a 224x224 image
to 55x55 before the first Fire module; applied to a 32x32 image it would leave 7x7 and the last
Fire modules would see 1x1 maps. ``squeezenet_cifar`` (registered in ``registry.py``) keeps
v1.1's Fire widths (section 5.1 metaparameters base_e=128, incr_e=128, freq=2, pct3x3=0.5,
SR=0.125) and its simple bypasses (section 6), but its 3x3 stride-2 stem (padding 1) is the
only downsampling before fire2 (no max-pool after it), so the Fire modules see 16x16, 8x8 and
4x4 maps -- the same "downsample late" principle (section 3.1, strategy 3) scaled to the
smaller image. (A stride-1 stem plus the max-pool gives the same map sizes; on CIFAR-10 it was
no more accurate after 8 epochs and trained about 1.3x slower.)

Its training uses batch norm after every conv (``batchnorm.py``), folded into the convs
when the model is saved, so the file is a plain :class:`SqueezeNet`.
"""

from __future__ import annotations

from .squeezenet import SqueezeNetSpec

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
