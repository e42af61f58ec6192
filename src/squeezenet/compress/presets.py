"""Named compression presets: tested settings for ``compress(..., preset=NAME)`` and
``squeezenet compress --preset NAME``. A preset gives values for some fields of
:class:`.pipeline.CompressConfig` and :class:`.weights_file.FineTuneData`; explicit values
override them, and the dataclass defaults fill the rest.

``imagenet`` compresses an ImageNet SqueezeNet (torchvision's 1.1) below the paper's 0.47 MB
without labels: no pruning, a uniform grid per layer whose step follows the layer's Fisher
information, GPTQ rounding on unlabeled in-distribution calibration images, float16 biases
(see gptq.py and docs/results/compression.md for what it achieves).
"""

from __future__ import annotations

COMPRESS_PRESETS: dict[str, dict[str, object]] = {
    "imagenet": {
        "prune": "none",
        "quantizer": "gptq",
        "grid_scale": 0.024,
        "calibration_size": 256,
        "bias_dtype": "float16",
    },
}
