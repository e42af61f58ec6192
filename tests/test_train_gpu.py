"""The CUDA path: AMP (fp16 + GradScaler, bf16), torch.compile, NCCL DDP through torchrun.
Run on a GPU machine with ``pytest -m gpu tests/test_train_gpu.py``."""

from __future__ import annotations

import math
import subprocess

import pytest
import torch

from helpers import free_port, subprocess_env, tiny_config, torchrun_command, train_args

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_amp_training_and_resume(tree, tmp_path, amp):
    from squeezenet.train import fit
    from squeezenet.train.checkpoint import load_checkpoint

    out = tmp_path / amp
    result = fit(tiny_config(tree, out, device="cuda", amp=amp, epochs=2, deterministic=False))
    assert next(result["model"].parameters()).is_cuda
    ckpt = load_checkpoint(out / "last.pt")
    if amp == "fp16":
        assert ckpt["scaler"] is not None and ckpt["scaler"]["scale"] > 0  # GradScaler state
    else:
        assert ckpt["scaler"] is None
    resumed = fit(
        tiny_config(tree, out, device="cuda", amp=amp, epochs=3, resume=True, deterministic=False)
    )
    assert resumed["epochs"] == 3
    assert all(
        torch.isfinite(v).all()
        for v in resumed["model"].state_dict().values()
        if v.is_floating_point()
    )


def test_cuda_compile(tree, tmp_path):
    from squeezenet.train import fit

    result = fit(
        tiny_config(
            tree,
            tmp_path / "c",
            device="cuda",
            amp="bf16",
            compile=True,
            epochs=2,
            deterministic=False,
        )
    )
    assert result["best_val_top1"] > 0


@pytest.mark.parametrize("nproc", [1, 2])
def test_torchrun_nccl(tree, tmp_path, nproc):
    if nproc > torch.cuda.device_count():
        pytest.skip(f"needs {nproc} GPUs")
    out = tmp_path / "run"
    flags = ["--output", out, "--epochs", 2, "--batch-size", 4, "--amp", "fp16", "--batchnorm"]
    cmd = torchrun_command(
        "--nproc-per-node", nproc, "--master-port", free_port(), "-m", "squeezenet", "train",
        *train_args(tree, *flags),
    )  # fmt: skip
    proc = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert f"device cuda:0, amp fp16, {nproc} process(es)" in log
    assert (out / "model.pth").is_file()


def test_cifar_recipe_step_throughput_on_gpu(capsys):
    """Not an assertion on speed: prints images/s of the cifar10-fast step for the report."""
    import time

    from squeezenet import create_model
    from squeezenet.data.loaders import TensorBatches
    from squeezenet.engine import EpochSettings, NormalizeBatch, Step, train_one_epoch
    from squeezenet.models.batchnorm import add_batchnorm

    device = torch.device("cuda")
    model = add_batchnorm(create_model("squeezenet_cifar")).to(device)
    model = model.to(memory_format=torch.channels_last)
    n, bs = 256 * 60, 256
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (n,))
    batches = TensorBatches(x, y, bs, train=True, crop_padding=4, flip=True, pin_memory=True)
    prepare = NormalizeBatch(device, (0.5,) * 3, (0.25,) * 3, channels_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    for epoch in range(2):
        batches.set_epoch(epoch)
        torch.cuda.synchronize()
        t = time.perf_counter()
        settings = EpochSettings(device, amp="bf16", label_smoothing=0.1)
        m = train_one_epoch(model, batches, prepare, Step(opt, sched, scaler=scaler), settings, 0)
        torch.cuda.synchronize()
        rate = n / (time.perf_counter() - t)
    with capsys.disabled():
        print(
            f"\n[gpu] {torch.cuda.get_device_name()}: squeezenet_cifar bf16 train step "
            f"{rate:.0f} img/s (batch {bs}, CPU-side augmentation included)"
        )
    assert math.isfinite(m["train_loss"]) and 0 < m["train_loss"] < 10, m
