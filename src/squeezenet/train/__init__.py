"""Training and fine-tuning: ``fit(resolve_config(...))`` or ``squeezenet train``.

Modules: ``config`` (TrainConfig, YAML + overrides), ``recipes`` (``paper``,
``cifar10-fast``), ``sources`` (decoding datasets into cached uint8 tensors), ``data``
(batches and tensor augmentation), ``engine`` (one epoch, one evaluation), ``optim``,
``checkpoint``, ``distributed`` (torchrun/DDP), ``logs`` (CSV, TensorBoard, PNG) and
``trainer`` (the run).
"""

from ..engine import TrainingDiverged
from .config import TrainConfig, resolve_config, save_config
from .recipes import RECIPES
from .trainer import fit

__all__ = ["RECIPES", "TrainConfig", "TrainingDiverged", "fit", "resolve_config", "save_config"]
