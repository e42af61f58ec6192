"""The demo end to end (slow: trains a network) and its quick building blocks."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn", reason="the demo needs the 'demo' extra (scikit-learn)")


def test_digits_data_split_and_model_fit():
    from squeezenet.demo import DIGITS_SPEC, SIZE, load_digits_tensors
    from squeezenet.models.squeezenet import build_squeezenet

    xtr, ytr, xte, yte = load_digits_tensors(0)
    assert len(xtr) + len(xte) == 1797 and len(xte) == 450
    assert xtr.shape[1:] == (1, SIZE, SIZE)
    assert sorted(set(yte.tolist())) == list(range(10))
    model = build_squeezenet(DIGITS_SPEC)
    assert sum(p.numel() for p in model.parameters()) == 92_266
    assert model(xte[:2]).shape == (2, 10)


@pytest.mark.slow
def test_demo_trains_compresses_and_the_file_scores_the_same(tmp_path):
    from squeezenet.cli import main

    assert main(["demo", "--output", str(tmp_path), "--epochs", "40"]) == 0
    r = json.loads((tmp_path / "report.json").read_text())
    first, last = r["stages"][0], r["stages"][-1]
    assert first["score"] >= 0.95  # digits are easy: a working pipeline trains well
    assert r["reloaded_accuracy"] == last["score"]  # the file holds the scored model
    assert last["score"] >= first["score"] - 0.02
    assert first["bytes"] == 4 * 92_266 and first["stored_as"] == "dense"
    assert [s["stored_as"] for s in r["stages"]][-1] == "file"
    assert r["stages"][-1]["bytes"] == r["file_bytes"] == (tmp_path / "model.sqz").stat().st_size
    sizes = [s["bytes"] for s in r["stages"]]
    assert sizes == sorted(sizes, reverse=True)  # every stage stores less than the one before
    assert first["bytes"] / r["file_bytes"] >= 10
    assert (tmp_path / "plot.png").stat().st_size > 1000
