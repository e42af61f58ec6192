"""Device choice and process-group setup for ``torchrun`` (DDP): gloo on CPU, NCCL on CUDA.

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; a plain ``python -m squeezenet
train`` has none of them and runs as a single process with the same code path. Under
``torchrun --max-restarts N`` it also sets ``TORCHELASTIC_RESTART_COUNT``, which the trainer
reads to resume a restarted job from its last checkpoint.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..devices import check_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """The rank layout torchrun advertises (or a single process)."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistInfo()
    return DistInfo(
        int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ["WORLD_SIZE"])
    )


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU (``local_rank``) when CUDA is present, else the CPU;
    ``cuda``, ``cuda:N`` and ``mps`` must exist here; other names are a ValueError (see
    :func:`squeezenet.devices.check_device`)."""
    kind, index = check_device(spec)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("--device mps: MPS (Apple GPUs) is not available here")
        return torch.device("mps")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError(f"--device {spec}: CUDA is not available here")
    if index is None:
        return torch.device("cuda", local_rank % count)
    if index >= count:
        raise ValueError(
            f"--device {spec}: this machine has {count} CUDA device(s), 0 to {count - 1}"
        )
    return torch.device("cuda", index)


def init(info: DistInfo, device: torch.device) -> None:
    """Join the process group when launched by torchrun with more than one process (or
    ``WORLD_SIZE`` is set at all, so a 1-process NCCL run is exercised too)."""
    if "WORLD_SIZE" not in os.environ or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.is_main and _restarts_may_not_reconnect():
        warnings.warn(
            "torchrun may restart this multi-machine job (--max-restarts), but its agents "
            "share one rendezvous store across attempts, so a restarted process can read a "
            "previous attempt's addresses and fail to connect; launch torchrun with "
            "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 on every machine",
            RuntimeWarning,
            stacklevel=2,
        )
    store = _attempt_store()
    if store is None:
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    else:
        dist.init_process_group(
            backend=backend, store=store, rank=info.rank, world_size=info.world_size
        )


def _restarts_may_not_reconnect() -> bool:
    """Several machines, restarts allowed, and the agents' shared store (see
    :func:`_attempt_store`)."""
    return (
        os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
        and os.environ.get("GROUP_WORLD_SIZE", "1") != "1"
        and os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") != "0"
    )


def _attempt_store() -> dist.Store | None:
    """The store of torchrun's agent, its keys set apart for this attempt; None: let
    ``init_process_group`` find its store as usual.

    The agent keeps one store for every attempt of a job, and torch does not set the
    attempts' keys apart, so after a restart the previous attempt's process-group keys (each
    rank's address) are still there: a restarted rank can read its peer's old address before
    the peer rewrites it, and fail to connect to the dead process (pytorch/pytorch#135712;
    seen with gloo on one machine). Within one machine the
    agent's restart count names the attempt for every rank, so it becomes the prefix. Across
    machines the agents count separately (no common prefix), which is why docs/training.md
    asks multi-machine jobs with restarts for ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` (a new
    store per attempt)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    if os.environ.get("GROUP_WORLD_SIZE", "1") != "1":
        return None
    from torch.distributed.constants import default_pg_timeout

    agent_store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=default_pg_timeout,
    )
    return dist.PrefixStore(f"squeezenet/attempt{restart_count()}/", agent_store)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum numbers across processes (metrics: counts and loss sums), in float64."""
    if not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any (a NaN loss on one rank stops all of them)."""
    if not dist.is_initialized():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def sync_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics), which is what rank 0
    checkpoints; evaluation then scores the same network on every shard."""
    if not dist.is_initialized():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def restart_count() -> int:
    """How many times torchrun's elastic agent has restarted this node's workers (0 outside
    torchrun). Agents count separately: a node whose workers did not fail restarts with a
    count of 0 when another node's failure restarts the job, so callers combine it over ranks
    (:func:`broadcast_flag`)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def broadcast_bytes(payload: bytes | None, device: torch.device) -> bytes | None:
    """Rank 0's ``payload`` (a file's contents, or None) on every rank; the other ranks'
    arguments are ignored. Lets every rank read a file only rank 0's machine holds."""
    if not dist.is_initialized():
        return payload
    # Length first (-1: none), then the bytes, so the receivers can size their buffer.
    size = torch.tensor([-1 if payload is None else len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    n = int(size.item())
    if n <= 0:  # torch.frombuffer refuses an empty buffer
        return None if n < 0 else b""
    if dist.get_rank() == 0:
        assert payload is not None
        buffer = torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(device)
    else:
        buffer = torch.empty(n, dtype=torch.uint8, device=device)
    dist.broadcast(buffer, src=0)
    return payload if dist.get_rank() == 0 else buffer.cpu().numpy().tobytes()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
