"""The design-space sweep (resumable runner) and the paper-style report."""

import csv
import json

import pytest

from squeezenet.explore import run_sweep, sweep_points, unique_trainings
from squeezenet.explore.tables import render_report, shape_findings, table1_rows
from squeezenet.models import build_squeezenet


def test_the_paper_sweep_points():
    points = sweep_points()
    assert [p.sr for p in points if p.experiment == "sr"] == [0.125, 0.25, 0.5, 0.75, 1.0]
    assert [p.pct3x3 for p in points if p.experiment == "pct3x3"] == [
        0.01,
        0.125,
        0.25,
        0.5,
        0.75,
        0.99,
    ]
    assert [p.bypass for p in points if p.experiment == "bypass"] == ["none", "simple", "complex"]
    # sr0.5/pct0.5 is in both sweeps; vanilla bypass is the SR=0.125 point.
    assert len(points) == 14 and len(unique_trainings(points)) == 12
    for p in points:  # every point builds, with the paper's base_e/incr_e/freq
        spec = p.imagenet_spec()
        assert (spec.base_e, spec.incr_e, spec.freq) == (128, 128, 2)
        build_squeezenet(spec)
    with pytest.raises(ValueError, match="unknown experiments \\['depth'\\]"):
        sweep_points(("depth",))


class FakeTrainer:
    """Stands in for the training engine: accuracy grows with SR and pct3x3, then plateaus."""

    def __init__(self, fail_at: int | None = None):
        self.calls: list[dict] = []
        self.fail_at = fail_at

    def __call__(self, overrides: dict) -> dict:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append(overrides)
        a = overrides["model_args"]
        top1 = 0.7 + 0.1 * min(a["sr"], 0.75) + 0.05 * min(a["pct3x3"], 0.5)
        top1 += {"none": 0.0, "simple": 0.02, "complex": 0.01}[a["bypass"]]
        return {
            "params": int(1e6 * a["sr"]),
            "top1": round(top1, 4),
            "val_top1": top1,
            "epochs": overrides["epochs"],
            "minutes": 1.0,
        }


def test_sweep_writes_csv_and_resumes_after_interruption(tmp_path):
    budget = {"recipe": "cifar10-fast", "data": "x.zip", "epochs": 2}
    first = FakeTrainer(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tmp_path, budget, train_fn=first, log=lambda s: None)
    done = json.loads((tmp_path / "results.json").read_text())["trainings"]
    assert len(done) == 3
    second = FakeTrainer()
    rows = run_sweep(tmp_path, budget, train_fn=second, log=lambda s: None)
    assert len(second.calls) == 9  # only the 9 unfinished trainings
    assert {c["output"] for c in second.calls}.isdisjoint(set(done))
    assert all(c["output"].startswith(str(tmp_path / "points")) for c in second.calls)
    assert len(rows) == 14
    with open(tmp_path / "explore.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert {"experiment", "sr", "pct3x3", "bypass", "params", "size_mb", "top1"} <= set(table[0])
    sr1 = next(r for r in table if r["experiment"] == "sr" and float(r["sr"]) == 1.0)
    assert int(sr1["params"]) == 1_000_000
    assert float(sr1["size_mb"]) == pytest.approx(1e6 * 4 / 2**20, abs=1e-4)
    # A third run has nothing left to do.
    third = FakeTrainer()
    run_sweep(tmp_path, budget, train_fn=third, log=lambda s: None)
    assert third.calls == []


def test_sweep_refuses_a_different_budget(tmp_path):
    run_sweep(
        tmp_path, {"epochs": 1}, experiments=("bypass",), train_fn=FakeTrainer(), log=lambda s: None
    )
    with pytest.raises(ValueError, match="different budget"):
        run_sweep(
            tmp_path,
            {"epochs": 2},
            experiments=("bypass",),
            train_fn=FakeTrainer(),
            log=lambda s: None,
        )


def test_point_model_args_reach_the_trainer(tmp_path):
    trainer = FakeTrainer()
    run_sweep(
        tmp_path,
        {"epochs": 1, "model_args": {"dropout": 0.2}},
        experiments=("bypass",),
        train_fn=trainer,
        log=lambda s: None,
    )
    args = [c["model_args"] for c in trainer.calls]
    assert [a["bypass"] for a in args] == ["none", "simple", "complex"]
    assert all(a["dropout"] == 0.2 and a["sr"] == 0.125 and a["base_e"] == 128 for a in args)


def test_table1_matches_the_paper(han_net):
    from squeezenet.weights import read_deep_compression

    rows = table1_rows(read_deep_compression(han_net))
    assert rows[0]["layer"] == "conv1" and rows[0]["output"] == "111x111x96"
    assert rows[-1]["layer"] == "conv10" and rows[-1]["paper_density"] == 0.2
    assert sum(r["params"] for r in rows) == 1_248_424
    # Han's release realises the paper's Table 1 profile to within 1.5 points per layer.
    assert all(abs(r["han_density"] - r["paper_density"]) < 0.015 for r in rows)
    after = sum(
        round((r["params"] - int(r["filter"].split(" x ")[1])) * r["paper_density"])
        + int(r["filter"].split(" x ")[1])
        for r in rows
    )
    assert abs(after - 421_098) < 10  # the paper's "after pruning" total


def test_report_renders_tables_plots_and_findings(tmp_path):
    run_sweep(tmp_path / "sweep", {"epochs": 1}, train_fn=FakeTrainer(), log=lambda s: None)
    results = tmp_path / "results"
    results.mkdir()
    (results / "explore.csv").write_bytes((tmp_path / "sweep" / "explore.csv").read_bytes())
    out = render_report(results, tmp_path / "report" / "README.md")
    text = out.read_text()
    for heading in ("Table 1", "Table 2", "Figure 3", "Bypass"):
        assert heading in text
    assert "| paper (ImageNet val) | SqueezeNet | Deep Compression | 6 bit | 0.47 MB |" in text
    assert (tmp_path / "report" / "figure3_sr.png").stat().st_size > 1000
    assert (tmp_path / "report" / "figure3_pct3x3.png").stat().st_size > 1000
    assert "our order is simple > complex > vanilla" in text
    assert "CIFAR-10 training result" not in text  # no cifar10.json yet
    (results / "cifar10.json").write_text(
        json.dumps(
            {
                "command": "squeezenet train -c x.yaml",
                "top1": 0.883,
                "minutes": 27.0,
                "model": "squeezenet_cifar",
                "top1_scoring": "flip TTA",
                "top1_single_view": 0.8709,
            }
        )
    )
    text = render_report(results, tmp_path / "report" / "README.md").read_text()
    assert (
        "`squeezenet train -c x.yaml`: top-1 0.883 in 27.0 minutes (squeezenet_cifar); "
        "scored by flip TTA; single-view top-1 0.8709."
    ) in text


def test_shape_findings_say_when_we_disagree():
    rows = [
        {"experiment": "bypass", "bypass": b, "top1": t}
        for b, t in (("none", 0.9), ("simple", 0.8), ("complex", 0.85))
    ]
    rows += [
        {"experiment": "sr", "sr": s, "top1": t}
        for s, t in ((0.125, 0.5), (0.25, 0.9), (0.5, 0.9), (0.75, 0.9), (1.0, 0.9))
    ]
    text = "\n".join(shape_findings(rows))
    assert "differs from the paper's simple > complex > vanilla" in text
    assert "best at sr = 0.25; the paper's plateau starts at 0.75, so ours does not agree" in text


def test_train_point_uses_the_training_engine(tmp_path):
    """One real (tiny) training through the engine, then a resumed call that trains nothing."""
    import numpy as np
    from PIL import Image

    from squeezenet.explore.points import SweepPoint
    from squeezenet.explore.runner import train_point

    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        for c in range(2):
            folder = tmp_path / "data" / split / f"c{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = (rng.random((32, 32, 3)) * 100 + 120 * c).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i}.png")
    point = SweepPoint("bypass", 0.125, 0.5, "complex")
    overrides = {
        "recipe": "cifar10-fast",
        "data": str(tmp_path / "data"),
        "epochs": 1,
        "batch_size": 8,
        "progress": False,
        "tensorboard": False,
        "plot": False,
        "output": str(tmp_path / "point"),
        "model_args": point.model_args(),
    }
    result = train_point(overrides)
    assert result["epochs"] == 1 and result["top1_split"] == "val"
    assert 0.0 <= result["top1"] <= 1.0
    # The deployed 2-class network: v1.1-width Fire modules + complex bypass shortcuts.
    from squeezenet import create_model
    from squeezenet.summary import count_params

    expected = count_params(create_model("squeezenet_cifar", num_classes=2, **point.model_args()))
    assert result["params"] == expected
    assert (tmp_path / "point" / "last.pt").is_file()
