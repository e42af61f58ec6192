"""What a model from :func:`~squeezenet.create_model` knows about itself: one typed record
attached once, as timm attaches ``pretrained_cfg``, so that every command picks the right
preprocessing and class names without reading the file again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.transforms import Preprocess
from ..models import DEFAULT_MODEL, default_input_size
from .info import ModelInfo
from .records import WeightsRecord, get_weights_record

#: The attribute of a model that holds its card.
ATTRIBUTE = "card"


@dataclass(frozen=True)
class ModelCard:
    """``architecture``: the registered model name; ``weights``: the registered weights name,
    if the weights were registered ones; ``classes``: one name per output, if the file names
    them; ``preprocess``: the preprocessing the weights state they were trained with (None
    when they say nothing); ``source``: the file the weights were read from; ``description``:
    the file's own description (:class:`ModelInfo`), to save beside the weights again;
    ``fixed_size``: the one input side the model takes (an exported graph's), if any."""

    architecture: str
    weights: str | None = None
    classes: tuple[str, ...] | None = None
    preprocess: Preprocess | None = None
    source: Path | None = None
    description: ModelInfo | None = None
    fixed_size: int | None = None

    @property
    def record(self) -> WeightsRecord | None:
        """The registry's record of the weights, for registered weights."""
        return get_weights_record(self.weights) if self.weights is not None else None


def attach_card(model: object, card: ModelCard) -> None:
    """Attach ``card`` to ``model`` (an ``nn.Module``: any attribute value is stored as is)."""
    # setattr, not `model.card = ...`: torch types Module.__setattr__'s value Tensor | Module.
    setattr(model, ATTRIBUTE, card)


def model_card(model: object) -> ModelCard | None:
    """The card of a model from :func:`~squeezenet.create_model` (or of an exported file
    opened as a model); None for a model built another way."""
    card = getattr(model, ATTRIBUTE, None)
    return card if isinstance(card, ModelCard) else None


def input_size(model: object, stated: int | None = None) -> int:
    """The side of the square input ``model`` runs at: ``stated`` (``--image-size``) when
    given, else the side its graph fixes, else the side its weights were trained at (their
    preprocessing's crop), else its architecture's input size."""
    if stated is not None:
        return stated
    card = model_card(model)
    if card is None:
        return default_input_size(DEFAULT_MODEL)
    if card.fixed_size:
        return card.fixed_size
    if card.preprocess is not None:
        return card.preprocess.crop
    return default_input_size(card.architecture)
