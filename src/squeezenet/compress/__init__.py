"""Deep Compression (Han et al., ICLR 2016): pruning, trained quantization and the pipeline
that writes the compressed weights file (its format: :mod:`squeezenet.weights.sqz`).

Importing this package stays light: the optional coder (constriction), plotting and data
loading are imported inside the functions that use them.
"""

from ..weights.sqz import MAGIC, CompressedFormatError, CompressedModel, SharedTensor, load, save

__all__ = ["MAGIC", "CompressedFormatError", "CompressedModel", "SharedTensor", "load", "save"]
