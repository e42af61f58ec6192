"""DDP on the CPU (gloo): two processes train a few steps and must end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from helpers import TINY, free_port, tiny_config, write_tree


def _worker(rank: int, world: int, port: int, tree: str, out: str, dump: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        SQUEEZENET_CACHE=os.path.join(dump, "cache"),
    )
    from squeezenet.train import fit

    cfg = tiny_config(tree, out, epochs=2, batch_size=4, max_steps_per_epoch=3)
    result = fit(cfg)
    torch.save(
        {
            "state": result["model"].state_dict(),
            "val": result["best_val_top1"],
            "test": result.get("test_top1"),
        },
        os.path.join(dump, f"rank{rank}.pt"),
    )


def test_two_cpu_processes_end_with_identical_weights(tmp_path):
    tree = write_tree(tmp_path / "data")
    mp.spawn(
        _worker,
        args=(2, free_port(), str(tree), str(tmp_path / "run"), str(tmp_path)),
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
def test_torchrun_cli_two_processes(tmp_path):
    """The documented command line: torchrun --nproc-per-node 2 -m squeezenet train."""
    tree = write_tree(tmp_path / "data")
    out = tmp_path / "run"
    env = {**os.environ, "SQUEEZENET_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(free_port()),
        "-m",
        "squeezenet",
        "train",
        "--data",
        str(tree),
        "--output",
        str(out),
        "--model",
        "squeezenet_cifar",
        "--image-size",
        "16",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--amp",
        "off",
        "--no-progress",
        "--no-tensorboard",
        "--no-plot",
    ]
    for k, v in TINY.items():
        cmd += ["--model-arg", f"{k}={v}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 process(es)" in proc.stdout + proc.stderr
    assert (out / "model.pth").is_file()
    assert len((out / "metrics.csv").read_text().splitlines()) == 2
