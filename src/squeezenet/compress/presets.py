"""Named compression presets: tested settings for ``compress(..., preset=NAME)`` and
``squeezenet compress --preset NAME``, named for what they do. A preset gives values for some
fields of :class:`.pipeline.CompressConfig` and :class:`.weights_file.FineTuneData`; explicit
values override them, and the dataclass defaults fill the rest.

* ``gptq``: post-training, without labels: no pruning, a uniform grid per layer whose step
  follows the layer's Fisher information, GPTQ rounding on unlabeled calibration images
  (photos like the model's own), float16 biases. Took torchvision's SqueezeNet 1.1 below the
  paper's 0.47 MB, and a cats-vs-dogs model fine-tuned from it to a sixth of that, each
  within a fraction of a point (gptq.py; docs/results/compression.md, own-photos.md).
* ``adaround``: as ``gptq``, with each layer's rounding learned by AdaRound on its inputs'
  Gram matrix toward what the uncompressed network computes there (``dense_target``), on
  1,024 calibration images: on torchvision's SqueezeNet 1.1 at 470 kB, about 10% lower KL
  to the dense model than the same with 256 images, and more than GPTQ; minutes longer
  (adaround.py; docs/results/compression.md). Add ``max_bytes`` to fit a size.
* ``paper``: Deep Compression as the paper does it (Han et al., 2016): magnitude pruning to
  the SqueezeNet paper's Table 1 densities, k-means weight sharing with 8-bit indices, 200
  fine-tuning steps after pruning and 100 on the shared values: retraining with labelled
  ``data``, or distillation on ``calibration`` images (without either, no fine-tuning).

Without a preset, ``compress_weights_file`` (``squeezenet compress``) takes ``gptq`` when it
is given calibration images and ``paper`` otherwise (see :func:`default_preset`).
"""

from __future__ import annotations

COMPRESS_PRESETS: dict[str, dict[str, object]] = {
    "gptq": {
        "prune": "none",
        "quantizer": "gptq",
        "grid_scale": 0.024,
        "calibration_size": 256,
        "bias_dtype": "float16",
    },
    "adaround": {
        "prune": "none",
        "quantizer": "adaround",
        "dense_target": True,
        "grid_scale": 0.024,
        "calibration_size": 1024,
        "bias_dtype": "float16",
    },
    "paper": {
        "prune": "paper",
        "quantizer": "kmeans",
        "bits": 8,
        "finetune_steps": 200,
        "codebook_steps": 100,
    },
}

#: One line per preset, for --help and the run's first line of output.
PRESET_SUMMARY = {
    "gptq": "post-training: no pruning, Fisher-weighted grids with GPTQ rounding on the "
    "calibration images, float16 biases",
    "adaround": "post-training: no pruning, Fisher-weighted grids with AdaRound rounding "
    "toward the dense network's outputs on 1,024 calibration images, float16 biases",
    "paper": "Deep Compression: pruning to the paper's densities and 8-bit k-means weight "
    "sharing, each followed by fine-tuning (retraining on --data, or distillation)",
}


def default_preset(calibration: object, data: object) -> str:
    """The preset a compression named none gets: ``gptq`` with calibration images and no
    labelled data (what works best for a photo model), else ``paper``."""
    return "gptq" if calibration and not data else "paper"
