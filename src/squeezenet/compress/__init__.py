"""Deep Compression (Han et al., ICLR 2016): pruning, trained quantization and the pipeline
that writes the compressed weights file (its format: :mod:`squeezenet.weights.sqz`):
``compress(model, name, preset="gptq", calibration=calibration_images)``.

The optional coder (constriction) and plotting are imported inside the functions that use
them.
"""

from ..weights.sqz import (
    MAGIC,
    CompressedFormatError,
    CompressedModel,
    SharedTensor,
    default_coder,
    describe,
    load,
    save,
)
from .pipeline import CompressConfig, compress
from .presets import COMPRESS_PRESETS, PRESET_SUMMARY, default_preset
from .quantize import parse_bits
from .weights_file import (
    CompressionCollapsed,
    FineTuneData,
    compress_lossless,
    compress_weights_file,
)
