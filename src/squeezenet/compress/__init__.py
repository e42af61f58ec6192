"""Deep Compression (Han et al., ICLR 2016): pruning, trained quantization, entropy coding
and the compressed weights file format.

Importing this package stays light: the optional coder (constriction), plotting and data
loading are imported inside the functions that use them.
"""

from .codec import SharedTensor
from .errors import CompressedFormatError
from .fileformat import MAGIC, CompressedModel, load, save

__all__ = ["MAGIC", "CompressedFormatError", "CompressedModel", "SharedTensor", "load", "save"]
