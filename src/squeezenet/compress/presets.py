"""Named compression presets: tested settings for ``squeezenet compress --preset NAME``.

``imagenet`` compresses an ImageNet SqueezeNet (torchvision's 1.1) below the paper's 0.47 MB
without labels: no pruning, a uniform grid per layer whose step follows the layer's Fisher
information, GPTQ rounding on unlabeled in-distribution calibration images, float16 biases
(see gptq.py and docs/results/compression.md for what it achieves). Explicit flags override
a preset's values.
"""

from __future__ import annotations

# Built-in defaults of the options that presets may set (the CLI's flags default to None so
# that a preset can tell which ones the user gave).
DEFAULTS: dict[str, object] = {
    "prune": "paper",
    "quantizer": "kmeans",
    "grid_scale": 0.024,
    "calibration_size": 512,
    "bias_dtype": "float32",
    "codebook_steps": 0,
    "bias_correction": False,
    "dense_target": False,
}

PRESETS: dict[str, dict[str, object]] = {
    "imagenet": {
        "prune": "none",
        "quantizer": "gptq",
        "grid_scale": 0.024,
        "calibration_size": 256,
        "bias_dtype": "float16",
    },
}


def preset_settings(name: str | None) -> dict[str, object]:
    """The defaults with preset ``name`` applied (``None``: the defaults alone)."""
    if name is None:
        return dict(DEFAULTS)
    try:
        return {**DEFAULTS, **PRESETS[name]}
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}") from None
