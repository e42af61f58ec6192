"""What a model file says about itself, as timm's ``pretrained_cfg`` and torchvision's
weights ``meta`` do: the architecture (registered name and metaparameters), the class names
and the preprocessing it was trained and validated with. ``squeezenet train`` writes it into
``model.pth``, ``compress`` carries it into ``.sqz`` files, and every command that reads a
model takes its architecture, classes and preprocessing from it, so none has to be repeated.

A file's description is untrusted data: it is checked against an allow-list of keys, types
and sizes, like a compressed file's header (see :mod:`.sqz.modeldesc`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..data.transforms import Preprocess
from .errors import WeightsError
from .infocheck import check_preprocess
from .safety import MAX_CLASSES
from .sqz.modeldesc import build_described, check_model_desc

#: The key under which ``.pth`` and ``.safetensors`` files hold the description.
INFO_KEY = "squeezenet"
#: The longest class name and preprocessing label accepted (ImageNet's longest: 120).
MAX_NAME_CHARS = 1000


@dataclass(frozen=True)
class ModelInfo:
    """``model``: ``{"name": registered name, "spec": SqueezeNetSpec fields}`` (or ``"kwargs"``
    for other models), as in a compressed file's header; ``classes``: one name per output, in
    index order; ``preprocess``: how images become the model's input."""

    model: dict
    classes: tuple[str, ...] | None = None
    preprocess: Preprocess | None = None

    @property
    def name(self) -> str:
        return self.model["name"]

    def to_dict(self) -> dict:
        return {"model": self.model, **self.extras()}

    def extras(self) -> dict:
        """The class names and preprocessing alone: what a compressed file's metadata holds
        beside its header's architecture."""
        out: dict = {}
        if self.classes is not None:
            out["classes"] = list(self.classes)
        if self.preprocess is not None:
            p = self.preprocess
            out["preprocess"] = {
                "name": p.name,
                "resize": p.resize,
                "crop": p.crop,
                "mean": list(p.mean),
                "std": list(p.std),
                "bgr": p.bgr,
                "scale": p.scale,
            }
        return out

    @classmethod
    def from_dict(cls, d: object, source: str) -> ModelInfo:
        """Check an untrusted description; errors name ``source`` and the problem."""

        def fail(problem: str) -> WeightsError:
            return WeightsError(f"{source}: the model description is invalid ({problem})")

        if not isinstance(d, dict):
            raise fail(f"an object is expected, got {type(d).__name__}")
        extra = sorted(set(d) - {"model", "classes", "preprocess"})
        if extra:
            raise fail(f"unknown key {str(extra[0])[:40]!r}")
        check_model_desc(d.get("model"), source, WeightsError)
        classes = d.get("classes")
        if classes is not None:
            if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES:
                raise fail(f"'classes' must be a list of 1 to {MAX_CLASSES:,} names")
            for c in classes:
                if not isinstance(c, str) or not 0 < len(c) <= MAX_NAME_CHARS:
                    raise fail(f"class name {str(c)[:40]!r} is not a name of 1 to 1000 characters")
                if not c.isprintable():  # an escape sequence, or a newline forging a row
                    raise fail(f"class name {c[:40]!r} holds control characters")
            classes = tuple(classes)
        pre = d.get("preprocess")
        return cls(d["model"], classes, None if pre is None else _preprocess(pre, fail))

    def build(self, num_classes: int | None = None, **overrides) -> nn.Module:
        """The described architecture with fresh parameters (``overrides`` as ``--model-arg``)."""
        if num_classes is not None:
            overrides["num_classes"] = num_classes
        return build_described(self.model, **overrides)

    def check_outputs(self, outputs: int, source: str) -> None:
        """Refuse a description whose class list does not match the classifier's outputs."""
        if self.classes is not None and len(self.classes) != outputs:
            raise WeightsError(
                f"{source}: the model description names {len(self.classes)} classes but "
                f"the classifier has {outputs} outputs"
            )


def _preprocess(d: object, fail) -> Preprocess:
    return Preprocess(**check_preprocess(d, fail))
