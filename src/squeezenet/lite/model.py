"""A compressed model run without PyTorch: the ``.sqz`` decoded with numpy, its tensors given
to a weightless ONNX graph, the graph run by ONNX Runtime."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..weights.sqz import fileformat
from ..weights.sqz.codec import SharedTensor
from ..weights.sqz.errors import CompressedFormatError
from .graph import GraphError, WeightlessGraph, read_graph
from .preprocess import Preprocessing


def graph_architecture(graph: WeightlessGraph) -> fileformat.Architecture:
    """The shapes a ``.sqz`` must declare to fill ``graph``: its placeholders' (checked
    before any tensor is decoded, as the meta-device build is with torch)."""
    shapes = {name: shape for name, (shape, _) in graph.weights.items()}

    def check(desc: object, source: str) -> dict[str, tuple[int, ...]]:
        # The graph is the architecture here; the header's model only has to be well formed.
        if not isinstance(desc, dict) or not isinstance(desc.get("name"), str):
            raise CompressedFormatError(
                f"{source}: the header's model is invalid (an object with a 'name' is expected)"
            )
        return shapes

    return fileformat.Architecture(check, f"the graph {graph.source}")


def load(
    sqz: str | os.PathLike,
    graph: str | os.PathLike | WeightlessGraph,
    *,
    classes: Sequence[str] | None = None,
    threads: int | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
) -> Classifier:
    """Decode compressed file ``sqz`` into weightless graph ``graph``
    (``squeezenet export --weightless``) and ready it in ONNX Runtime. The preprocessing
    and class names are the ``.sqz``'s, else those the graph carries; ``classes`` names the
    outputs of a model whose files name none."""
    if not isinstance(graph, WeightlessGraph):
        graph = read_graph(graph)
    cm = fileformat.load(sqz, graph_architecture(graph))
    weights = {k: t.dense() if isinstance(t, SharedTensor) else t for k, t in cm.tensors.items()}
    for key, array in weights.items():
        # The rule the torch path applies (weights.safety): NaN or inf would give NaN
        # probabilities. A finite float64 sum proves every value finite, in one pass.
        if array.dtype.kind == "f" and array.size and not np.isfinite(array.sum(dtype=np.float64)):
            raise CompressedFormatError(f"{sqz}: tensor {key!r} has NaN or infinite values")
    # Each entry from the weights file's own description first: the graph's is what its
    # exporter knew.
    described = {**graph.description(), **cm.meta}
    preprocess = described.get("preprocess")
    classes = described.get("classes", None if classes is None else list(classes))
    source = str(sqz) if {"preprocess", "classes"} & set(cm.meta) else graph.source
    return Classifier(graph, weights, preprocess, classes, threads, providers, source)


class Classifier:
    """A weightless graph filled with ``weights`` (state_dict key -> array) in ONNX Runtime.

    Call it on a float32 batch ``(N, 3, H, W)`` for the logits; :meth:`classify` takes
    images. ``preprocess`` and ``classes`` are a model description's entries (checked)."""

    def __init__(
        self,
        graph: WeightlessGraph,
        weights: dict[str, np.ndarray],
        preprocess: object = None,
        classes: object = None,
        threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        source: str | None = None,
    ) -> None:
        import onnxruntime as ort

        self.graph = graph
        missing = sorted(set(graph.weights) - set(weights))
        unused = sorted(set(weights) - set(graph.weights))
        if missing or unused:
            which = f"lacks {missing[0]!r}" if missing else f"has {unused[0]!r}, not in the graph"
            raise GraphError(f"{graph.source}: the weights do not fit: the state_dict {which}")
        # ONNX Runtime reads the weights from these arrays' memory: they live as long as self.
        self._weights = {}
        for name, (shape, dtype) in graph.weights.items():
            array = np.ascontiguousarray(weights[name], dtype=dtype)
            if array.shape != shape:
                raise GraphError(
                    f"{graph.source}: weight {name!r} has shape {array.shape}, the graph "
                    f"needs {shape}"
                )
            self._weights[name] = array
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        values = [ort.OrtValue.ortvalue_from_numpy(a) for a in self._weights.values()]
        options.add_external_initializers(list(self._weights), values)
        self._values = values
        self.runtime = ort.InferenceSession(graph.data, options, providers=list(providers))
        self.input_name = self.runtime.get_inputs()[0].name
        outputs = self.runtime.get_outputs()[0].shape[-1]
        self.num_classes: int | None = outputs if isinstance(outputs, int) else None
        where = source or graph.source
        self.preprocess = None if preprocess is None else Preprocessing(preprocess, where)
        side = self.runtime.get_inputs()[0].shape[-1]
        if self.preprocess is not None and isinstance(side, int) and side != self.preprocess.crop:
            raise ValueError(
                f"{where}: the preprocessing crops {self.preprocess.crop} px, the graph "
                f"{graph.source} takes {side} px"
            )
        self.classes = None if classes is None else _check_classes(classes, self.num_classes, where)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Logits of a preprocessed float32 batch ``(N, 3, H, W)`` (or one image)."""
        x = np.asarray(batch, dtype=np.float32)
        return self.runtime.run(None, {self.input_name: x[None] if x.ndim == 3 else x})[0]

    def classify(
        self, image: Image.Image | str | os.PathLike, k: int = 5
    ) -> list[tuple[int, str | None, float]]:
        """The ``k`` likeliest classes of one image: (index, name or None, probability)."""
        if self.preprocess is None:
            raise ValueError(
                f"{self.graph.source}: neither the .sqz nor the graph describes the "
                "preprocessing; preprocess the image and call the model on the array"
            )
        logits = self(self.preprocess(image))[0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs, kind="stable")[:k]
        names = self.classes
        return [(int(i), names[i] if names else None, float(probs[i])) for i in top]


def _check_classes(classes: object, outputs: int | None, source: str) -> tuple[str, ...]:
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ValueError(f"{source}: the model description's classes are not a list of names")
    if outputs is not None and len(classes) != outputs:
        raise ValueError(
            f"{source}: the model description names {len(classes)} classes but the "
            f"classifier has {outputs} outputs"
        )
    return tuple(classes)
