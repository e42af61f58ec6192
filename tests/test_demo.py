"""The demo end to end (slow: trains a network) and its quick building blocks."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn", reason="the demo needs the 'demo' extra (scikit-learn)")

README = Path(__file__).resolve().parents[1] / "README.md"


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


def test_reproducible_fixes_threads_and_gives_the_callers_settings_back():
    from squeezenet.demo import DEMO_THREADS, reproducible

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with reproducible():
        assert torch.get_num_threads() == DEMO_THREADS
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    with pytest.raises(RuntimeError), reproducible():
        raise RuntimeError  # an error inside restores them too
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of ``squeezenet demo`` (about 40 s): its folder and what it printed."""
    from squeezenet.cli import main

    out = tmp_path_factory.mktemp("demo")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--output", str(out), "--epochs", "40", "--no-progress"]) == 0
    return out, printed.getvalue()


@pytest.mark.slow
def test_demo_trains_compresses_and_the_file_scores_the_same(demo):
    tmp_path, _ = demo
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


def _readme_figures() -> dict[str, dict[str, str]]:
    """The demo's figures as README quotes them, by the CPU capability they are for."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    main = re.search(
        r"([\d,]+) bytes of fp32 weights -> a ([\d,]+)-byte file \(([\d.]+x) smaller\), "
        r"test accuracy ([\d.]+%) -> ([\d.]+%) on (\d+) test digits",
        text,
    )
    avx2 = re.search(
        r"held to AVX2 kernels, the same CPU printed ([\d,]+) bytes, ([\d.]+%) -> ([\d.]+%)", text
    )
    assert main and avx2, "README no longer quotes the demo's figures in the expected words"
    fp32, file, ratio, before, after, images = main.groups()
    return {
        "AVX512": dict(fp32=fp32, file=file, ratio=ratio, before=before, after=after, n=images),
        "AVX2": dict(zip(("file", "before", "after"), avx2.groups())),
    }


@pytest.mark.slow
def test_readme_quotes_the_figures_the_demo_prints(demo):
    _, printed = demo
    first = re.search(
        r"uncompressed: ([\d,]+) bytes \(fp32 weights\), test accuracy ([\d.]+%) on (\d+) images",
        printed,
    )
    last = re.search(
        r"compressed: +([\d,]+) bytes \(([\d.]+x) smaller\), test accuracy ([\d.]+%)", printed
    )
    assert first and last, printed
    fp32, before, images = first.groups()
    file, ratio, after = last.groups()
    shown = dict(fp32=fp32, file=file, ratio=ratio, before=before, after=after, n=images)
    capability = torch.backends.cpu.get_cpu_capability()
    quoted = _readme_figures().get(capability)
    if quoted is None:
        pytest.skip(
            f"README quotes the demo's figures for AVX512 and AVX2 kernels, not {capability}"
        )
    assert {k: shown[k] for k in quoted} == quoted
