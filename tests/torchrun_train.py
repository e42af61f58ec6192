"""``squeezenet train`` for tests that launch it with torchrun, with two test-only additions
driven by environment variables (the library has no test hooks):

- ``SQUEEZENET_TEST_DUMP=<dir>``: each rank saves the weights ``fit`` returns (its final
  epoch's) to ``<dir>/rank<RANK>.pt``, since only rank 0 writes the run's files;
- ``SQUEEZENET_TEST_KILL=<epoch>:<step>:<rank>``: on torchrun's first attempt only
  (``TORCHELASTIC_RESTART_COUNT`` 0), that rank dies with exit status 1 just before its
  training batch ``<step>`` of epoch ``<epoch>`` (both 0-based): a worker killed mid-epoch.

Usage: ``torchrun ... tests/torchrun_train.py <squeezenet train arguments>``.
"""

from __future__ import annotations

import os
import sys

import torch

import squeezenet.train
from squeezenet.cli import main
from squeezenet.data.loaders import TensorBatches


def _dump_final_weights(directory: str) -> None:
    fit = squeezenet.train.fit

    def fit_and_dump(cfg, *args, **kwargs):
        result = fit(cfg, *args, **kwargs)
        state = {k: v.detach().cpu() for k, v in result["model"].state_dict().items()}
        torch.save(state, os.path.join(directory, f"rank{os.environ.get('RANK', '0')}.pt"))
        return result

    # The CLI imports fit from squeezenet.train when it runs, so it finds this one.
    squeezenet.train.fit = fit_and_dump


def _die_mid_epoch(spec: str) -> None:
    epoch, step, rank = (int(v) for v in spec.split(":"))
    if os.environ.get("TORCHELASTIC_RESTART_COUNT") != "0" or int(os.environ["RANK"]) != rank:
        return
    batches = TensorBatches.__iter__

    def batches_then_death(self):
        for i, batch in enumerate(batches(self)):
            if self.train and self.epoch == epoch and i == step:
                print(f"test: rank {rank} dies in epoch {epoch + 1}", file=sys.stderr, flush=True)
                os._exit(1)  # no cleanup, no exception: as a killed process
            yield batch

    TensorBatches.__iter__ = batches_then_death  # type: ignore[method-assign]


if __name__ == "__main__":
    if "SQUEEZENET_TEST_DUMP" in os.environ:
        _dump_final_weights(os.environ["SQUEEZENET_TEST_DUMP"])
    if "SQUEEZENET_TEST_KILL" in os.environ:
        _die_mid_epoch(os.environ["SQUEEZENET_TEST_KILL"])
    sys.exit(main(["train", *sys.argv[1:]]))
