"""DDP on the CPU (gloo): two processes train a few steps and must end with identical weights."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch
import torch.multiprocessing as mp

from helpers import (
    TINY,
    free_port,
    run_together,
    subprocess_env,
    tiny_config,
    torchrun_command,
    train_args,
    two_machines,
)


def _worker(rank: int, world: int, port: int, tree: str, out: str, dump: str, extra: dict) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    from squeezenet.train import fit

    cfg = tiny_config(tree, out, epochs=2, batch_size=4, max_steps_per_epoch=3, **extra)
    result = fit(cfg)
    torch.save(
        {
            "state": result["model"].state_dict(),
            "val": result["best_val_top1"],
            "test": result.get("test_top1"),
        },
        os.path.join(dump, f"rank{rank}.pt"),
    )


# The second setting also averages recalibrated batch-norm statistics over the processes
# and mixes batches with CutMix on each.
@pytest.mark.parametrize("extra", [{}, {"recalibrate_bn": True, "cutmix": 0.5}])
def test_two_cpu_processes_end_with_identical_weights(tree, tmp_path, extra):
    mp.spawn(
        _worker,
        args=(2, free_port(), str(tree), str(tmp_path / "run"), str(tmp_path), extra),
        nprocs=2,
        join=True,
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["state"].keys() == r1["state"].keys()
    for k in r0["state"]:
        assert torch.equal(r0["state"][k], r1["state"][k]), k
    # Metrics are all-reduced, so every rank reports the same validation accuracy.
    assert r0["val"] == r1["val"]
    # Training happened: the weights moved away from the seed's initialisation.
    torch.manual_seed(0)
    from squeezenet import create_model

    init = create_model("squeezenet_cifar", num_classes=3, **TINY).state_dict()
    assert not torch.equal(init["features.0.weight"], r0["state"]["features.0.weight"])
    # Only rank 0 writes: one metrics file with one row per epoch.
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_torchrun_cli_two_processes(tree, tmp_path):
    """The documented command line: torchrun --nproc-per-node 2 -m squeezenet train."""
    out = tmp_path / "run"
    cmd = torchrun_command(
        "--nproc-per-node", 2, "--master-port", free_port(), "-m", "squeezenet", "train",
        *train_args(tree, "--output", out, "--epochs", 1, "--batch-size", 4, "--amp", "off"),
    )  # fmt: skip
    env = subprocess_env(OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 process(es)" in proc.stdout + proc.stderr
    assert (out / "model.pth").is_file()
    assert len((out / "metrics.csv").read_text().splitlines()) == 2


@pytest.mark.slow
def test_two_nodes_on_localhost_end_with_identical_weights(tree, tmp_path):
    """The documented multi-node launch, with 127.0.0.1 standing in for the first machine:
    two torchrun agents of one process each meet at a c10d rendezvous and train together."""
    env = subprocess_env(SQUEEZENET_TEST_DUMP=str(tmp_path), OMP_NUM_THREADS="1")
    train = train_args(
        tree, "--epochs", 2, "--batch-size", 4, "--max-steps-per-epoch", 3, "--lr", 0.05,
        "--select", "last", "--amp", "off", "--threads", 1, "--deterministic", "--no-batchnorm",
    )  # fmt: skip
    # Each machine has its own output folder here, as it would without a shared filesystem.
    nodes = two_machines("two-nodes", 0, lambda n: [*train, "--output", tmp_path / f"node{n}"])
    results = run_together(nodes, [env, env], tmp_path / "logs", timeout=240)
    for code, output in results:
        assert code == 0, output[-3000:]
    assert "2 process(es)" in results[0][1] + results[1][1]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    # Only global rank 0 writes, on whichever machine it landed: one output folder holds the
    # run, the other was never created.
    written = [tmp_path / f"node{n}" for n in range(2) if (tmp_path / f"node{n}").exists()]
    assert len(written) == 1, written
    assert len((written[0] / "metrics.csv").read_text().splitlines()) == 3
    # model.pth (select: last, no batch norm to fold) is the weights both ranks hold.
    saved = torch.load(written[0] / "model.pth", weights_only=True)
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    # Training happened: the weights moved away from the seed's initialisation.
    torch.manual_seed(0)
    from squeezenet import create_model

    init = create_model("squeezenet_cifar", num_classes=3, **TINY).state_dict()
    assert not torch.equal(init["features.0.weight"], r0["features.0.weight"])
