"""Distributed evaluation counts each image exactly once, on odd-sized sets too."""

from __future__ import annotations

import os

import pytest
import torch
import torch.multiprocessing as mp

from helpers import free_port
from squeezenet.data.loaders import EvalShard, TensorBatches

N = 45  # odd: two processes cannot get equal shares


def _images_and_labels():
    """Image i is filled with the value i % 3; the label matches it for the first 26 images,
    so a model reading the value back scores exactly 26 of 45."""
    value = torch.arange(N) % 3
    images = value.view(N, 1, 1, 1).expand(N, 3, 4, 4).to(torch.uint8).contiguous()
    labels = torch.where(torch.arange(N) < 26, value, (value + 1) % 3)
    return images, labels


class ReadBack(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.one_hot(x[:, 0, 0, 0].round().long(), 3).float() * 10


@pytest.mark.parametrize("world", [2, 4])
def test_eval_shards_cover_every_image_once(world):
    shards = [list(EvalShard(N, r, world)) for r in range(world)]
    assert sorted(i for s in shards for i in s) == list(range(N))
    images, labels = _images_and_labels()
    seen = []
    for rank in range(world):
        batches = TensorBatches(images, labels, 8, train=False, rank=rank, world_size=world)
        assert batches.num_samples == len(shards[rank])
        seen += [int(v) for x, _ in batches for v in x[:, 0, 0, 0]]
    assert len(seen) == N


def _worker(rank: int, world: int, port: int, dump: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world)
    )
    from squeezenet.engine import NormalizeBatch, evaluate_batches
    from squeezenet.engine import distributed as dist

    torch.set_num_threads(1)
    device = torch.device("cpu")
    dist.init(dist.from_env(), device)
    try:
        images, labels = _images_and_labels()
        batches = TensorBatches(images, labels, 8, train=False, rank=rank, world_size=world)
        std = (1 / 255, 1 / 255, 1 / 255)
        prepare = NormalizeBatch(device, (0, 0, 0), std, channels_last=False)
        out = evaluate_batches(ReadBack(), batches, prepare, device=device)
        torch.save(out, os.path.join(dump, f"eval{rank}.pt"))
    finally:
        dist.shutdown()


def test_two_processes_count_a_45_image_set_once(tmp_path):
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        out = torch.load(tmp_path / f"eval{rank}.pt", weights_only=True)
        assert out["n"] == 45
        assert out["top1"] * out["n"] == pytest.approx(26)
