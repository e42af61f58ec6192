"""Elastic restarts: a run that torchrun restarts (``--max-restarts``) continues from its
last checkpoint by itself, and never from the checkpoint of a differently configured run."""

from __future__ import annotations

import pytest
import torch

from helpers import (
    TORCHRUN_TRAIN,
    Interrupt,
    run_together,
    stop_after,
    subprocess_env,
    tiny_config,
    torchrun_command,
    train_args,
    two_machines,
)
from squeezenet.train import fit
from squeezenet.train.checkpoint import config_differences, load_checkpoint


def test_a_restarted_run_resumes_from_its_last_checkpoint(tree, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        fit(tiny_config(tree, out, epochs=3), on_epoch_end=stop_after(2))
    ran = []
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    result = fit(tiny_config(tree, out, epochs=3), on_epoch_end=lambda e, m: ran.append(e))
    assert ran == [2]  # only the third epoch ran again
    assert result["epochs"] == 3
    assert f"restarted by torchrun; resuming from {out / 'last.pt'} (epoch 2/3 done)" in (
        capsys.readouterr().out
    )
    assert len((out / "metrics.csv").read_text().splitlines()) == 4


def test_a_first_attempt_ignores_an_old_checkpoint_and_a_restart_without_one_starts_over(
    tree, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        fit(tiny_config(tree, out, epochs=2), on_epoch_end=stop_after(1))
    # Attempt 0 is a new run, whatever the folder holds: it trains from the first epoch.
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    ran = []
    fit(tiny_config(tree, out, epochs=2), on_epoch_end=lambda e, m: ran.append(e))
    assert ran == [0, 1]
    # Restarted before any epoch was saved: nothing to resume, so it starts over.
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    ran.clear()
    fit(tiny_config(tree, tmp_path / "empty", epochs=1), on_epoch_end=lambda e, m: ran.append(e))
    assert ran == [0]
    assert "restarted by torchrun before the first checkpoint; epoch 1 again" in (
        capsys.readouterr().out
    )


def test_the_checkpoint_of_a_differently_configured_run_is_refused(tree, tmp_path, monkeypatch):
    out = tmp_path / "run"
    fit(tiny_config(tree, out, epochs=1, lr=0.05))
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    with pytest.raises(ValueError, match=r"differently configured run \(lr: 0\.05 -> 0\.02\)"):
        fit(tiny_config(tree, out, epochs=1, lr=0.02))
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT")
    # An explicit --resume is held to the same rule ...
    with pytest.raises(ValueError, match=r"epochs: 1 -> 2.*another --output"):
        fit(tiny_config(tree, out, epochs=2, resume=True))
    # ... while settings that do not change what is computed may differ.
    result = fit(tiny_config(tree, out, epochs=1, resume=True, eval_test=False, plot=True))
    assert result["epochs"] == 1


def test_config_differences_compare_what_a_run_computes():
    saved = {"lr": 0.05, "mean": [0.5, 0.5, 0.5], "model_args": {"pool_before": [0]}, "seed": 0}
    same = {"lr": 0.05, "mean": (0.5, 0.5, 0.5), "model_args": {"pool_before": (0,)}, "seed": 0}
    assert config_differences(saved, same) == []
    # Run-only settings and settings an older checkpoint did not record are not compared.
    assert config_differences(saved, {**same, "threads": 2, "device": "cuda", "new": 1}) == []
    assert config_differences(saved, {**same, "seed": 1}) == ["seed: 0 -> 1"]


def _train_args(tree, out) -> list[str]:
    return train_args(
        tree, "--output", out, "--epochs", 3, "--batch-size", 4, "--lr", 0.05,
        "--schedule", "onecycle", "--batchnorm", "--label-smoothing", 0.1, "--amp", "off",
        "--threads", 1, "--deterministic",
    )  # fmt: skip


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_restarts_and_ends_as_an_uninterrupted_run(tree, tmp_path):
    """torchrun --max-restarts 1: rank 1 dies in the middle of epoch 2 on the first attempt;
    the restarted job resumes from epoch 1's checkpoint by itself and ends bit for bit where a
    run that was never interrupted ends (dropout, shuffling, augmentation, momentum).

    Once on one machine (2 processes), once on two (1 process each, as docs/training.md
    launches them, each with an output folder of its own): there rank 1's machine never holds
    last.pt, and its agent alone counts the restart."""
    env = subprocess_env(OMP_NUM_THREADS="1")
    kill = {"SQUEEZENET_TEST_KILL": "1:1:1"}
    one_machine = ["--standalone", "--nproc-per-node", "2", TORCHRUN_TRAIN]
    straight = torchrun_command(*one_machine, *_train_args(tree, tmp_path / "a"))
    killed = torchrun_command(
        "--max-restarts", "1", *one_machine, *_train_args(tree, tmp_path / "b")
    )
    machines = two_machines("killed", 1, lambda n: _train_args(tree, tmp_path / f"node{n}"))
    two_machines_env = {
        **env,
        **kill,
        "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1",
        "SQUEEZENET_TEST_DUMP": str(tmp_path),
    }
    # Three independent jobs side by side; only the first runs uninterrupted.
    results = run_together(
        [straight, killed, *machines],
        [env, {**env, **kill}, two_machines_env, two_machines_env],
        tmp_path / "logs",
        timeout=480,
    )
    for code, log in results:
        assert code == 0, log[-3000:]
    log_a, log_b, log_nodes = results[0][1], results[1][1], results[2][1] + results[3][1]
    assert "resuming" not in log_a
    for log in (log_b, log_nodes):
        assert log.count("test: rank 1 dies in epoch 2") == 1
    assert f"resuming from {tmp_path / 'b' / 'last.pt'} (epoch 1/3 done)" in log_b
    # The restart trained epochs 2 and 3 only, not the saved epoch 1 again.
    for log in (log_b, log_nodes):
        assert [log.count(f"epoch {e}/3:") for e in (1, 2, 3)] == [1, 1, 1]
    # Rank 0 and its files stay on one machine; the other never had an output folder.
    written = [tmp_path / f"node{n}" for n in range(2) if (tmp_path / f"node{n}").exists()]
    assert len(written) == 1, written
    assert f"resuming from {written[0] / 'last.pt'} (epoch 1/3 done)" in log_nodes
    for run in (tmp_path / "b", written[0]):
        for name in ("model.pth", "last.pt"):
            a = torch.load(tmp_path / "a" / name, weights_only=True)
            b = torch.load(run / name, weights_only=True)
            a, b = (a["model"], b["model"]) if name == "last.pt" else (a, b)
            assert a.keys() == b.keys()
            for k in a:
                assert torch.equal(a[k], b[k]), (run, name, k)
        assert load_checkpoint(run / "last.pt")["epoch"] == 3
        assert len((run / "metrics.csv").read_text().splitlines()) == 4
    # Rank 1 resumed the optimizer's momentum too (DDP would resynchronise only the
    # weights): both ranks end with the same final weights.
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
