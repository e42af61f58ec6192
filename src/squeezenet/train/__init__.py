"""Training and fine-tuning: ``fit(resolve_config(...))`` or ``squeezenet train``.

Modules: ``config`` (TrainConfig, YAML + overrides), ``recipes`` (``paper``,
``cifar10-fast``), ``checkpoint``, ``logs`` (CSV, TensorBoard, PNG) and ``trainer`` (the
run). The batches come from ``squeezenet.data.loaders``; the step, the epoch, evaluation,
lr schedules and DDP from ``squeezenet.engine``.
"""

from ..engine.health import TrainingDiverged
from .config import ConfiguredData, TrainConfig, resolve_config, resolve_data, save_config
from .defaults import FINETUNE_PHOTOS
from .recipes import RECIPES, get_recipe
from .trainer import fit, train
