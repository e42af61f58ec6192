"""A compressed model on a device without PyTorch.

The device receives the ``.sqz`` file (``squeezenet compress``) and a weightless ONNX graph
(``squeezenet export --weightless``, a few KB); :func:`load` decodes the ``.sqz`` with numpy
and the entropy coder, fills the graph's weights and runs it in ONNX Runtime::

    from squeezenet import lite

    model = lite.load("squeezenet1_1-dc_in1k.sqz", "squeezenet1_1-weightless.onnx")
    model.classify("photo.jpg", k=5)  # [(class index, name or None, probability), ...]

Nothing here imports torch; it needs numpy, Pillow, onnxruntime and, for files coded with
rANS (the default), constriction.
"""

from .graph import GraphError, WeightlessGraph, parse_graph, read_graph
from .model import Classifier, graph_architecture, load
from .preprocess import Preprocessing
