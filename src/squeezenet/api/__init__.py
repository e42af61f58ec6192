"""The library functions behind the commands, with the commands' defaults: what a notebook
calls where a shell runs ``squeezenet evaluate``. Each command parses its flags into one of
these calls and prints what it returns."""

from ..compress.sensitivity_sweep import sensitivity_sweep
from ..train import train
from .classify import Predictions, predict
from .compression import compress
from .exporting import Exported, export
from .models import model_runner, open_model
from .scores import evaluate
from .timing import Timings, bench
