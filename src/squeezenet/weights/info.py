"""What a model file says about itself, as timm's ``pretrained_cfg`` and torchvision's
weights ``meta`` do: the architecture (registered name and metaparameters), the class names
and the preprocessing it was trained and validated with. ``squeezenet train`` writes it into
``model.pth``, ``compress`` carries it into ``.sqz`` files, and every command that reads a
model takes its architecture, classes and preprocessing from it, so none has to be repeated.

A file's description is untrusted data: it is checked against an allow-list of keys, types
and sizes, like a compressed file's header (see :mod:`.sqz.modeldesc`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from ..data.transforms import Preprocess
from .errors import WeightsError
from .safety import MAX_CLASSES
from .sqz.modeldesc import build_described, check_model_desc

#: The key under which ``.pth`` and ``.safetensors`` files hold the description.
INFO_KEY = "squeezenet"
#: The longest class name and preprocessing label accepted (ImageNet's longest: 120).
MAX_NAME_CHARS = 1000
_PREPROCESS_KEYS = ("name", "resize", "crop", "mean", "std", "bgr", "scale")
_MAX_SIDE = 8192  # the image decoder's own limit


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
    if not isinstance(d, dict) or sorted(d) != sorted(_PREPROCESS_KEYS):
        raise fail(f"'preprocess' must hold exactly {', '.join(_PREPROCESS_KEYS)}")
    name, resize, crop, bgr, scale = d["name"], d["resize"], d["crop"], d["bgr"], d["scale"]
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise fail("preprocess 'name' must be a short string")
    for key, side in (("resize", resize), ("crop", crop)):
        if type(side) is not int or not 1 <= side <= _MAX_SIDE:
            raise fail(f"preprocess {key!r} must be an integer in [1, {_MAX_SIDE}]")
    if crop > resize:
        raise fail(f"preprocess crop {crop} is larger than its resize {resize}")
    if type(bgr) is not bool:
        raise fail("preprocess 'bgr' must be true or false")
    stats = []
    for key in ("mean", "std"):
        values = d[key]
        if not (
            isinstance(values, list)
            and len(values) == 3
            and all(_finite(v) for v in values)
            and (key == "mean" or all(v > 0 for v in values))
        ):
            raise fail(f"preprocess {key!r} must be 3 finite numbers" + (", > 0" * (key == "std")))
        a, b, c = (float(v) for v in values)
        stats.append((a, b, c))
    if not _finite(scale) or not scale > 0:
        raise fail("preprocess 'scale' must be a finite number > 0")
    return Preprocess(name, resize, crop, stats[0], stats[1], bgr, float(scale))


def _finite(value: object) -> bool:
    return type(value) in (int, float) and abs(value) < 1e6 and math.isfinite(value)  # type: ignore[arg-type]
