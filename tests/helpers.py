"""Helpers shared by test modules (test modules do not import each other): the ../shared
reference data, tiny SqueezeNets, an image tree they can learn, and torchrun launches."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from squeezenet import create_model
from squeezenet.data.transforms import Preprocess
from squeezenet.train import resolve_config
from squeezenet.weights import ModelInfo, save_state_dict
from squeezenet.weights.sqz.modeldesc import describe_model

_DEFAULT_SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SHARED = Path(os.environ.get("SQUEEZENET_SHARED", _DEFAULT_SHARED))


def shared_path(*parts: str) -> Path:
    """A path inside ../shared (or $SQUEEZENET_SHARED); the test is skipped if it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not found: {path} (set SQUEEZENET_SHARED)")
    return path


@contextlib.contextmanager
def time_limit(seconds: int, what: str = "still running"):
    """Turn a hang into a failure: TimeoutError("<what> after <seconds> s") once ``seconds``
    have passed (SIGALRM, so in the main thread only)."""

    def stop(*_):
        raise TimeoutError(f"{what} after {seconds} s")

    signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment for a child Python process, with the squeezenet package these tests
    import (a checkout's ``src/`` or the installed one) first on its path, and ``extra``."""
    import squeezenet

    package_root = str(Path(squeezenet.__file__).resolve().parents[1])
    path = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), **extra}


def torchrun_command(*args) -> list[str]:
    """``torchrun <args>`` through this Python (the ``torchrun`` script may not be on PATH)."""
    return [sys.executable, "-m", "torch.distributed.run", *map(str, args)]


# ``squeezenet train`` with two test-only additions (see its docstring).
TORCHRUN_TRAIN = Path(__file__).with_name("torchrun_train.py")


def two_machines(rdzv_id: str, max_restarts: int, args_for) -> list[list[str]]:
    """torchrun commands for two machines of one process each that meet at a c10d rendezvous,
    127.0.0.1 standing in for the first (as docs/training.md launches them); machine ``n`` runs
    TORCHRUN_TRAIN with the arguments ``args_for(n)``."""
    launch = [
        "--nnodes", 2, "--nproc-per-node", 1, "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", rdzv_id,
        "--max-restarts", max_restarts, TORCHRUN_TRAIN,
    ]  # fmt: skip
    return [torchrun_command(*launch, *args_for(n)) for n in range(2)]


def run_together(commands, envs, logs: Path, timeout: float) -> list[tuple[int, str]]:
    """Start ``commands`` (each with its environment in ``envs``) at once, as several
    machines would, wait for all of them, and return each one's exit status and output
    (stdout and stderr, through files so that no pipe fills up).

    On a timeout, or any other failure here, each command still running and its child
    processes get SIGTERM (a torchrun agent then stops its workers), and SIGKILL 20 s later:
    no process outlives the test, whatever the outcome."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    outputs = [logs / f"launch{i}.log" for i in range(len(commands))]
    try:
        for cmd, env, output in zip(commands, envs, outputs):
            with open(output, "w", encoding="utf-8") as f:
                procs.append(
                    subprocess.Popen(
                        cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        deadline = time.monotonic() + timeout
        for proc in procs:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        _stop(procs)
        tails = "\n".join(
            f"--- {o.name}:\n{o.read_text(encoding='utf-8')[-1500:]}" for o in outputs
        )
        raise AssertionError(f"still running after {timeout} s; stopped\n{tails}") from None
    finally:
        _stop(procs)
    return [(p.returncode, o.read_text(encoding="utf-8")) for p, o in zip(procs, outputs)]


def _stop(procs: list[subprocess.Popen]) -> None:
    running = [p for p in procs if p.poll() is None]
    # torchrun starts each worker in a session of its own, so they are found by parentage.
    family = {p.pid: [p.pid, *_descendants(p.pid)] for p in running}
    for p in running:
        _signal(family[p.pid], signal.SIGTERM)
    for p in running:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _signal(family[p.pid], signal.SIGKILL)
            p.wait()


def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (Linux /proc; none found elsewhere)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces, so split after its ")".
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def tiny_model(num_classes: int | None = 7, weights=None):
    """squeezenet1_1 at base_e = incr_e = 16: a 25k-parameter model."""
    return create_model("squeezenet1_1", weights, num_classes, base_e=16, incr_e=16)


# Preprocessing no preset has: only a model file's description can supply it.
CUSTOM_PRE = Preprocess("custom", 73, 64, (0.5, 0.4, 0.3), (0.2, 0.2, 0.25), False, 1 / 255)


def model_info(model, classes=("cat", "dog", "frog"), name="squeezenet1_1", preprocess=CUSTOM_PRE):
    """The description a model file of ``model`` carries (architecture, classes,
    preprocessing)."""
    return ModelInfo(describe_model(model, name), tuple(classes), preprocess)


def save_described(model, path, classes=("cat", "dog", "frog"), name="squeezenet1_1"):
    """``model``'s state_dict saved at ``path`` with its description (:func:`model_info`)."""
    return save_state_dict(model.state_dict(), path, model_info(model, classes, name))


def run_json(capsys, argv: list[str]):
    """``squeezenet ARGV`` (which must succeed) and the JSON it printed."""
    from squeezenet.cli import main

    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def described_tree(root, classes=("cat", "dog", "frog")) -> dict:
    """A described tiny model ``pth`` (classes and :data:`CUSTOM_PRE`) and a labelled image
    tree of the same classes: ``tree`` its val split (3 images a class), ``calibration`` its
    train split (4 a class)."""
    torch.manual_seed(0)
    model = tiny_model(len(classes)).eval()
    pth = save_described(model, Path(root) / "m.pth", classes)
    tree = write_tree(Path(root) / "tree", classes, per_class=(4, 3), size=40)
    return {"pth": pth, "tree": tree / "val", "calibration": tree / "train"}


def export_checked(pth, fmt: str, out, images, *flags: str) -> dict:
    """``squeezenet export`` of ``pth`` to ``out`` in ``fmt`` (plus ``flags``), checked against
    PyTorch on ``images``; returns its ``--json`` report (read here, so that module-scoped
    fixtures, which have no capsys, can use it)."""
    from squeezenet.cli import main

    argv = ["export", "-w", str(pth), "-f", fmt, "-o", str(out), "--json", *flags]
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        assert main([*argv, "--check-images", str(images)]) == 0
    return json.loads(report.getvalue())


def eager_on_tree(pth, tree):
    """Every image of ``tree`` preprocessed as ``pth``'s description says (:data:`CUSTOM_PRE`),
    as one batch, and the model's eager logits for it."""
    from squeezenet.data import load_image

    model = create_model(weights=str(pth)).eval()
    batch = torch.stack([CUSTOM_PRE(load_image(p)) for p in sorted(Path(tree).rglob("*.png"))])
    with torch.inference_mode():
        return batch, model(batch)


# squeezenet_cifar overrides for a model that trains in seconds (tiny_config, train_args).
TINY = {
    "stem_channels": 8,
    "base_e": 16,
    "incr_e": 0,
    "num_fire": 2,
    "pool_before": [0],
    "dropout": 0.2,
}
CLASSES = ["cat", "dog", "frog"]


def write_tree(root, classes=CLASSES, per_class=(12, 4), size=16, seed=0, splits=("train", "val")):
    """``splits`` (train/ and val/) of small PNGs whose colour depends on the class
    (learnable), ``per_class`` images of each class in each."""
    rng = np.random.default_rng(seed)
    for split, n in zip(splits, per_class):
        for c, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                base = np.zeros((size, size, 3))
                base[..., c % 3] = 160
                img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{i:03d}.png")
    return root


def tiny_config(tree, out, **kw):
    settings = dict(
        data=str(tree),
        output=str(out),
        model="squeezenet_cifar",
        model_args=TINY,
        image_size=16,
        batch_size=6,
        epochs=3,
        lr=0.05,
        schedule="onecycle",
        weight_decay=5e-4,
        batchnorm=True,
        amp="off",
        progress=False,
        tensorboard=False,
        plot=False,
        threads=1,
        deterministic=True,
        crop_padding=2,
        label_smoothing=0.1,
    )
    settings.update(kw)
    return resolve_config(None, settings)


class Interrupt(Exception):
    """What stop_after raises: a run that ends early, as if the machine went away."""


def stop_after(epochs: int):
    """An ``on_epoch_end`` callback for fit() that interrupts the run after ``epochs`` epochs."""

    def stop(epoch, metrics):
        if epoch + 1 == epochs:
            raise Interrupt

    return stop


def train_args(tree, *flags) -> list[str]:
    """``squeezenet train`` arguments for TINY on ``tree`` at 16x16 without progress bars,
    TensorBoard or plots, then ``flags``."""
    args = ["--data", str(tree), "--model", "squeezenet_cifar", "--image-size", "16"]
    args += ["--no-progress", "--no-tensorboard", "--no-plot", *map(str, flags)]
    for k, v in TINY.items():
        args += ["--model-arg", f"{k}={v}"]
    return args
