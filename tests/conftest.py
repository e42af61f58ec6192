"""Fixtures: the reference data in ../shared or $SQUEEZENET_SHARED (tests that need it skip
when it is absent), a small image tree, and isolation of RNG state and the dataset cache."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import shared_path, write_tree


@pytest.fixture
def imagenet_sample() -> Path:
    return shared_path("data", "imagenet-sample-100")


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub cache for the test (downloads land in ``hub_dir/checkpoints``)."""
    import torch

    d = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "_hub_dir", str(d))
    return d


@pytest.fixture
def imagenet_dev() -> Path:
    return shared_path("data", "imagenet-dev")


@pytest.fixture
def imagenet_classes() -> Path:
    return shared_path("data", "imagenet_classes.txt")


@pytest.fixture
def tv11_fp16_weights() -> Path:
    return shared_path("weights", "squeezenet1_1-fp16.pth")


@pytest.fixture
def han_net() -> Path:
    return shared_path("weights", "deep-compression", "compressed_SqueezeNet.net")


@pytest.fixture
def cifar10_zip() -> Path:
    return shared_path("data", "cifar10-jpg.zip")


@pytest.fixture
def tree(tmp_path) -> Path:
    """helpers.write_tree's learnable image tree, in ``tmp_path / "data"``."""
    return write_tree(tmp_path / "data")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Datasets decode into a cache of the test's own (``tmp_path / "cache"``), which child
    processes inherit, not into the user's ~/.cache/squeezenet."""
    monkeypatch.setenv("SQUEEZENET_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _isolate_rng():
    """Each test starts from the same seeds and leaves global RNG state as it found it."""
    py, np_state, t = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    random.setstate(py)
    np.random.set_state(np_state)
    torch.set_rng_state(t)


@pytest.fixture
def one_thread():
    """Many small tensor operations: one thread each is faster than two fighting for a core,
    and immune to a busy machine. Use with ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
