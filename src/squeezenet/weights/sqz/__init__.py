"""The compressed weights file (``.sqz``): container, per-tensor codecs and entropy coders.

Deep Compression (Han et al., ICLR 2016, sections 3-4) stores pruned, weight-shared layers as
codebook indices plus relative positions, then Huffman-codes them; this package reads and
writes that kind of file. The algorithms that produce its contents live in
:mod:`squeezenet.compress`.
"""

from .codec import SharedTensor
from .entropy import default_coder
from .errors import CompressedFormatError
from .fileformat import MAGIC, CompressedModel, describe, load, save
