"""A dead classifier is detected and explained; fine-tuning defaults are safe."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from helpers import TINY, tiny_config
from squeezenet import create_model
from squeezenet.engine.health import (
    DeadClassifierWarning,
    NotLearningWarning,
    TrainingDiverged,
    dead_classifier,
    not_learning,
)
from squeezenet.train import fit, resolve_config
from squeezenet.train.config import FINETUNE_LR


def test_lr_default_is_the_fine_tuning_rate_when_starting_from_weights(tmp_path):
    assert resolve_config(None, {"data": "d"}).lr == 0.1
    assert resolve_config(None, {"data": "d", "weights": "w.pth"}).lr == FINETUNE_LR == 0.001
    assert resolve_config(None, {"data": "d", "weights": "w.pth", "lr": 0.02}).lr == 0.02
    assert resolve_config(None, {"data": "d", "recipe": "paper", "weights": "w"}).lr == 0.04


def test_dead_classifier_rule():
    assert dead_classifier({"loss": 0.7, "flat_outputs": 1.0}, 3)
    assert dead_classifier({"loss": math.log(3), "flat_outputs": 0.5}, 3)
    assert not dead_classifier({"loss": 0.9, "flat_outputs": 0.99}, 3)


def test_training_warns_about_a_dead_classifier(tree, tmp_path):
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


def test_healthy_training_does_not_warn(tree, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(tiny_config(tree, tmp_path / "run", epochs=1))
    assert not [w for w in caught if issubclass(w.category, DeadClassifierWarning)]


def test_batchnorm_is_on_from_scratch_and_off_when_fine_tuning():
    assert resolve_config(None, {"data": "d"}).batchnorm is True
    assert resolve_config(None, {"data": "d", "weights": "w.pth"}).batchnorm is False
    assert resolve_config(None, {"data": "d", "batchnorm": False}).batchnorm is False
    assert resolve_config(None, {"data": "d", "recipe": "paper"}).batchnorm is False


def test_not_learning_rule():
    assert not_learning(math.log(10) - 0.01, 10)
    assert not not_learning(0.9 * math.log(10), 10)
    assert not not_learning(5.0, 1)


def test_training_stuck_at_the_uniform_loss_warns_and_suggests_batchnorm(tree, tmp_path):
    # A learning rate so small that nothing moves: the loss stays at ln 3.
    cfg = tiny_config(tree, tmp_path / "run", epochs=2, batchnorm=False, lr=1e-9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(cfg)
    stuck = [w for w in caught if issubclass(w.category, NotLearningWarning)]
    assert len(stuck) == 1
    message = str(stuck[0].message)
    assert message.startswith("the network is not learning: after epoch 2 the training loss")
    assert "train with --batchnorm" in message


def test_weights_gone_non_finite_stop_the_run_before_any_best(tree, tmp_path):
    # One step at an absurd rate: the step's own loss is finite, the weights after it are not.
    cfg = tiny_config(
        tree, tmp_path / "run", epochs=1, lr=1e30, max_steps_per_epoch=1, batchnorm=False
    )
    with pytest.raises(TrainingDiverged, match="the validation loss is NaN or infinite after"):
        fit(cfg)
    assert not (tmp_path / "run" / "best.pt").exists()
    assert not (tmp_path / "run" / "model.pth").exists()


def test_fine_tuning_that_is_not_learning_does_not_speak_of_training_from_scratch(tree, tmp_path):
    weights = tmp_path / "start.pth"
    torch.save(create_model("squeezenet_cifar", num_classes=3, **TINY).state_dict(), weights)
    cfg = tiny_config(
        tree, tmp_path / "run", epochs=2, lr=1e-9, batchnorm=None, weights=str(weights)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(cfg)
    stuck = [str(w.message) for w in caught if issubclass(w.category, NotLearningWarning)]
    assert len(stuck) == 1
    assert "from scratch" not in stuck[0] and "Retry with a lower --lr (now 1e-09)" in stuck[0]
