"""``squeezenet.api``: each command as a function, with the command's defaults and results."""

from __future__ import annotations

import inspect

import pytest
import torch

from helpers import TINY, run_json, save_described, write_tree
from squeezenet import api, create_model
from squeezenet.cli import build_parser

# The flags whose keyword argument has another name.
RENAMED = {"topk": "k", "eval": "eval_dir", "data": "data"}


def _flag_defaults(command: str) -> dict:
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return {RENAMED.get(a.dest, a.dest): a.default for a in sub._actions if a.dest != "help"}


@pytest.mark.parametrize(
    "command, function",
    [
        ("evaluate", api.evaluate),
        ("predict", api.predict),
        ("bench", api.bench),
        ("compress", api.compress),
        ("export", api.export),
    ],
)
def test_each_function_has_its_commands_defaults(command, function):
    flags = _flag_defaults(command)
    params = inspect.signature(function).parameters
    shared = [
        name for name in params if name in flags and params[name].default is not params[name].empty
    ]
    assert len(shared) >= 5
    for name in shared:
        given, flag = params[name].default, flags[name]
        # None: the flag is not given; an empty list says the same.
        assert given == flag or (flag is None and given == ()), f"{command} {name}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    torch.manual_seed(0)
    model = create_model("squeezenet", num_classes=3, **TINY).eval()
    weights = save_described(model, root / "model.pth", name="squeezenet")
    return str(weights), write_tree(root / "data", size=24) / "val"


def test_export_returns_what_the_command_prints(tiny, capsys, tmp_path):
    weights, _ = tiny
    argv = ["export", "-w", weights, "-f", "torchscript", "-o", str(tmp_path / "a.pt"), "--json"]
    printed = run_json(capsys, argv)
    done = api.export(weights, format="torchscript", output=tmp_path / "b.pt")
    assert done.path == tmp_path / "b.pt" and done.files == [done.path]
    assert done.result["bytes"] == done.path.stat().st_size
    # The same but for the file's name (which TorchScript's archive holds: not its size).
    assert {**done.result, "path": printed["path"], "bytes": printed["bytes"]} == printed


def test_evaluate_returns_what_the_command_prints(tiny, capsys):
    weights, data = tiny
    argv = ["evaluate", "-w", weights, "-d", str(data), "--json", "--workers", "0"]
    printed = run_json(capsys, argv)
    assert api.evaluate(data, weights, workers=0) == printed


def test_predict_returns_what_the_command_prints(tiny, capsys):
    weights, data = tiny
    printed = run_json(capsys, ["predict", "-w", weights, str(data / "cat"), "--json", "-k", "2"])
    found = api.predict([str(data / "cat")], weights, k=2)
    assert len(found.files) == 4 and found.left_out == []
    assert list(found.results) == printed
