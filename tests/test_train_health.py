"""A dead classifier is detected and explained; fine-tuning defaults are safe."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from helpers import TINY, tiny_config, write_tree
from squeezenet import create_model
from squeezenet.train import fit, resolve_config
from squeezenet.train.config import FINETUNE_LR
from squeezenet.train.engine import DeadClassifierWarning, dead_classifier


def test_lr_default_is_the_fine_tuning_rate_when_starting_from_weights(tmp_path):
    assert resolve_config(None, {"data": "d"}).lr == 0.1
    assert resolve_config(None, {"data": "d", "weights": "w.pth"}).lr == FINETUNE_LR == 0.001
    assert resolve_config(None, {"data": "d", "weights": "w.pth", "lr": 0.02}).lr == 0.02
    assert resolve_config(None, {"data": "d", "recipe": "paper", "weights": "w"}).lr == 0.04


def test_dead_classifier_rule():
    assert dead_classifier({"loss": 0.7, "flat_outputs": 1.0}, 3)
    assert dead_classifier({"loss": math.log(3), "flat_outputs": 0.5}, 3)
    assert not dead_classifier({"loss": 0.9, "flat_outputs": 0.99}, 3)


def test_training_warns_about_a_dead_classifier(tmp_path):
    tree = write_tree(tmp_path / "data")
    model = create_model("squeezenet_cifar", num_classes=3, **TINY)
    state = model.state_dict()
    state["classifier.1.bias"] = torch.full((3,), -1e4)  # conv10 + ReLU: 0 for every input
    weights = tmp_path / "dead.pth"
    torch.save(state, weights)
    cfg = tiny_config(tree, tmp_path / "run", epochs=2, batchnorm=False, weights=str(weights))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(cfg)
    dead = [w for w in caught if issubclass(w.category, DeadClassifierWarning)]
    assert len(dead) == 1  # once per run, not per epoch
    message = str(dead[0].message)
    assert message.startswith("the classifier is dead after epoch 1: it gives every class the same")
    assert f"ln 3 = {math.log(3):.4f}" in message
    assert "lr 0.05" in message and "retry with a lower --lr" in message
    assert result["best_val_top1"] == pytest.approx(1 / 3)


def test_healthy_training_does_not_warn(tmp_path):
    tree = write_tree(tmp_path / "data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(tiny_config(tree, tmp_path / "run", epochs=1))
    assert not [w for w in caught if issubclass(w.category, DeadClassifierWarning)]
