"""Resolve a weights source, read it without unpickling, and fit it into a model."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..models import DEFAULT_MODEL, build_model, default_input_size
from ..models.params import check_model_args
from .card import ModelCard, attach_card, model_card
from .deep_compression import deep_compression_state_dict
from .errors import WeightsError
from .fetch import check_hash, fetch, is_url
from .info import INFO_KEY, ModelInfo
from .records import _RECORDS, WeightsRecord, get_weights_record
from .safety import check_classifier, check_model_size, check_tensors
from .sqz import fileformat as sqz

if TYPE_CHECKING:
    from ..data.transforms import Preprocess

_ZIP_MAGIC = b"PK\x03\x04"
# torch.save's legacy (pre-zip, torch < 1.6) format: pickle protocol 2, then the magic
# number 0x1950a86a20f9469cfc6c as a 10-byte LONG1. weights_only=True reads it safely too.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
# Pickle-free formats known by their magic bytes (besides .sqz, read with its description);
# others may be added by register_reader.
_READERS_BY_MAGIC: dict[bytes, Callable[[Path], dict[str, torch.Tensor]]] = {}


def register_reader(magic: bytes, reader: Callable[[Path], dict[str, torch.Tensor]]) -> None:
    """Let ``read_state_dict`` open files that start with ``magic``."""
    _READERS_BY_MAGIC[magic] = reader


def resolve_source(source: str | os.PathLike) -> tuple[Path, WeightsRecord | None]:
    """A registered weights name, URL or path -> (local file, its record if registered)."""
    source = str(source)
    if source in _RECORDS:
        record = get_weights_record(source)
        packaged = record.packaged_path()
        if packaged is None:
            assert record.url is not None  # packaged_path() is None only for downloads
            return fetch(record.url, record.sha256), record
        if not packaged.is_file():
            raise WeightsError(
                f"{record.name}: {packaged} is missing from the installed package; "
                "reinstall squeezenet"
            )
        check_hash(packaged, record.sha256)
        return packaged, record
    if is_url(source):
        return fetch(source), None
    path = Path(source)
    if path.is_dir():
        raise WeightsError(f"{source}: is a directory, not a weights file")
    if not path.is_file():
        raise WeightsError(
            f"{source}: no such file, URL or registered weights name "
            f"(registered: {', '.join(sorted(_RECORDS))})"
        )
    return path, None


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], object]:
    """Accept a bare state_dict, a model file holding one and its description (what
    :func:`~squeezenet.weights.save_state_dict` writes), or a training checkpoint holding
    one -> (state_dict, the raw description or None)."""
    info = None
    if isinstance(obj, dict):
        info = obj.get(INFO_KEY) if isinstance(obj.get("state_dict"), dict) else None
        for key in ("model", "state_dict", "model_state_dict"):
            inner = obj.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                obj = inner
                break
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(f"{path}: holds no state_dict (got {type(obj).__name__})")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        # Checkpoints saved from DDP or torch.compile wrappers prefix every key.
        for prefix in ("module.", "_orig_mod."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value
    return state, info


def _is_safetensors(path: Path, head: bytes) -> bool:
    """A ``.safetensors`` name, or the format's layout: a little-endian u64 header length,
    then a JSON header."""
    return path.suffix == ".safetensors" or (len(head) > 8 and head[8:9] == b"{")


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], object]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        state = load_file(path, device="cpu")
        with safe_open(path, framework="pt") as f:
            text = (f.metadata() or {}).get(INFO_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    info = None
    if text is not None:
        try:
            info = json.loads(text)
        except (ValueError, RecursionError):
            raise WeightsError(f"{path}: the model description is not valid JSON") from None
    return _unwrap(state, path)[0], info


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read weights from a torch file (``weights_only=True``), a ``.safetensors`` file, a
    compressed ``.sqz`` file or another registered pickle-free format, or a Deep Compression
    ``.net`` file. Nothing is unpickled but tensors and plain data; errors name the file and
    the problem; expanded, oversized and non-finite tensors are refused (see :mod:`.safety`)."""
    return read_weights(path)[0]


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], ModelInfo | None]:
    """:func:`read_state_dict`, and the model's description when the file carries one
    (:class:`ModelInfo`: written by ``squeezenet train`` and ``compress``; None for plain
    state_dicts such as torchvision's). The description is checked, and its class list
    against the classifier."""
    state, raw = _read_any(Path(path))
    check_tensors(state, str(path))
    if raw is None:
        return state, None
    info = ModelInfo.from_dict(raw, str(path))
    if info.classes is not None:
        with torch.device("meta"):
            probe = info.build()
        key = classifier_key(probe)
        if key in state:
            info.check_outputs(state[key].shape[0], str(path))
    return state, info


def _read_any(path: Path) -> tuple[dict[str, torch.Tensor], object]:
    try:
        with open(path, "rb") as f:
            head = f.read(max(9, len(_LEGACY_TORCH_MAGIC)))
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror})") from None
    if not head:
        raise WeightsError(f"{path}: the file is empty")
    if head.startswith(sqz.MAGIC):
        return sqz.read_weights(path)
    for magic, reader in _READERS_BY_MAGIC.items():
        if head.startswith(magic):
            return reader(path), None
    if _is_safetensors(path, head):
        return _read_safetensors(path)
    if head.startswith(_ZIP_MAGIC) or head[: len(_LEGACY_TORCH_MAGIC)] == _LEGACY_TORCH_MAGIC:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, foreign pickle, ...
            raise WeightsError(f"{path}: not a readable PyTorch weights file ({e})") from None
        return _unwrap(obj, path)
    if path.suffix == ".net":
        return deep_compression_state_dict(path), None
    if path.suffix.lower() in (".onnx", ".xml"):
        # Exported graphs hold no state_dict to read back; the runtimes run them as they are.
        raise WeightsError(
            f"{path}: an exported model, not PyTorch weights (`squeezenet predict`, "
            "`evaluate` and `bench` run it as -w; this needs the weights it was exported from)"
        )
    raise WeightsError(
        f"{path}: unrecognised weights format (not a PyTorch zip file, a safetensors "
        "file, a compressed squeezenet file or a Deep Compression .net file)"
    )


def _summarise(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise WeightsError naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_summarise(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_summarise(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch: {_summarise(shapes)}")
    if problems:
        raise WeightsError(f"{source}: does not fit the model: " + "; ".join(problems))


def classifier_key(model: nn.Module) -> str:
    """State-dict key of the final classifier weight (conv10 or AlexNet's last Linear)."""
    last = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    return f"{last}.weight"


def create_model(
    name: str | None = None,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    **overrides,
) -> nn.Module:
    """Build a registered model by name, with weights when given (timm-style).

    ``weights`` is a registered weights name (``squeezenet1_1.tv_in1k``), a path, a URL, or a
    compressed file; ``num_classes`` replaces the classifier (when it differs from the weights'
    classes, every layer but the classifier is loaded: fine-tuning). ``name`` may be left out
    when the weights say which model they are (a file written by ``squeezenet train`` or
    ``compress``, or a registered name); else it is ``squeezenet1_1``. Overrides whose value
    is ``None`` are dropped, so CLI flags can pass straight through.
    """
    if weights is None:
        name = name or DEFAULT_MODEL
        model = build_model(name, num_classes=num_classes, **overrides)
        attach_card(model, ModelCard(name))
        return model
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return load_weights(name, weights, num_classes=num_classes, **overrides)


def stated_preprocess(
    record: WeightsRecord | None, path: str | os.PathLike | None, info: ModelInfo | None
) -> Preprocess | None:
    """The preprocessing weights say they were trained with: the one their file describes (a
    model written by ``squeezenet train``), their record's, or ``caffe`` for a Deep Compression
    ``.net`` file; None when they say nothing."""
    from ..data import get_preprocess

    if info is not None and info.preprocess is not None:
        return info.preprocess
    if record is not None:
        return get_preprocess(record.preprocess)
    if path is not None and str(path).endswith(".net"):
        return get_preprocess("caffe")
    return None


def preprocess_for(
    name: str | None, model: object, preset: str | None = None, image_size: int | None = None
) -> Preprocess:
    """The preprocessing ``model`` (registered model ``name``, from :func:`create_model`)
    needs, as torchvision's ``weights.transforms()``: ``preset`` when given, else what its
    weights state (its card's), ``cifar`` for the 32x32 models, else ``torchvision``;
    center-cropped to ``image_size`` when given. Only ``model``'s card is read, so an
    exported model (``deploy.backends.ExportedModel``) works too."""
    from ..data import get_preprocess

    card = model_card(model)
    name = name or (card.architecture if card else None) or DEFAULT_MODEL
    stated = None
    if preset is None:
        stated = card.preprocess if card else None
        # The 32x32 models are trained with CIFAR statistics.
        preset = "cifar" if default_input_size(name) == 32 else "torchvision"
    preprocess = stated or get_preprocess(preset)
    return preprocess.with_crop(image_size) if image_size else preprocess


def model_classes(model: object) -> tuple[str, ...] | None:
    """The class names ``model``'s weights file carries (None when it names none)."""
    card = model_card(model)
    return card.classes if card is not None else None


def num_outputs(model: nn.Module) -> int:
    """How many classes the model's classifier scores (an exported model, which has no
    state_dict, knows its own count)."""
    if not isinstance(model, nn.Module):
        return model.num_outputs
    return model.state_dict()[classifier_key(model)].shape[0]


def load_weights(
    name: str | None,
    source: str | os.PathLike,
    num_classes: int | None = None,
    **overrides,
) -> nn.Module:
    """Build registered model ``name`` with the weights from ``source`` loaded strictly.

    A file that describes its model (:class:`ModelInfo`) builds that architecture, with
    ``overrides`` applied; ``name``, when given, must be the one it describes. The model is
    built with as many classes as the file has; if ``num_classes`` differs, the classifier is
    then replaced with a fresh one (fine-tuning). What the weights say of themselves is kept
    as the model's :class:`ModelCard` (:func:`model_card`; class names dropped when the
    classifier is replaced), so callers can pick the right preprocessing and class names.
    """
    # A registered name for another model is refused before anything is downloaded.
    if (
        name is not None
        and str(source) in _RECORDS
        and get_weights_record(str(source)).model != name
    ):
        other = get_weights_record(str(source))
        raise WeightsError(f"{other.name}: weights for {other.model}, not for {name}")
    path, record = resolve_source(source)
    if record is not None:
        name = name or record.model
        overrides = {**record.model_kwargs, **overrides}
    state, info = read_weights(path)
    if info is not None:
        if name is not None and name != info.name:
            raise WeightsError(
                f"{path}: holds a {info.name} (the file describes its model), not a {name}; "
                "leave out the model name to use the file's"
            )
        name = info.name
        try:
            check_model_args(name, overrides)
        except ValueError as e:
            raise WeightsError(f"{path}: {e}") from None
    name = name or DEFAULT_MODEL

    def build(**kwargs) -> nn.Module:
        if info is not None:
            return info.build(**overrides, **kwargs)
        return build_model(name, **overrides, **kwargs)

    # Every shape is checked against the architecture on the meta device (no memory) before
    # the real model is built: the file only chooses the class count, within a cap.
    with torch.device("meta"):
        probe = build()
    key = classifier_key(probe)
    if key not in state:
        check_state_dict(probe, state, str(path))  # reports the missing key(s)
    file_classes = check_classifier(probe, key, state[key], str(path))
    with torch.device("meta"):
        probe = build(num_classes=file_classes)
    check_model_size(probe, str(path))
    check_state_dict(probe, state, str(path))
    model = build(num_classes=file_classes)
    model.load_state_dict(state, strict=True)
    if num_classes is not None and num_classes != file_classes:
        _reset_classifier(model, num_classes)
        if info is not None:  # the file's class names belong to the classifier replaced
            info = ModelInfo(info.model, None, info.preprocess)
    card = ModelCard(
        architecture=name,
        weights=record.name if record is not None else None,
        classes=info.classes if info is not None else None,
        preprocess=stated_preprocess(record, path, info),
        source=path,
        description=info,
    )
    attach_card(model, card)
    return model


def _reset_classifier(model: nn.Module, num_classes: int) -> None:
    reset = getattr(model, "reset_classifier", None)
    if reset is not None:
        reset(num_classes)
        return
    classifier = model.classifier
    assert isinstance(classifier, nn.Sequential)
    old = classifier[-1]  # AlexNet: the last Linear
    assert isinstance(old, nn.Linear)
    classifier[-1] = nn.Linear(old.in_features, num_classes)
