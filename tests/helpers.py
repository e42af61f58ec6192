"""Helpers shared by test modules (test modules do not import each other): the ../shared
reference data, a tiny trainable SqueezeNet and an image tree it can learn."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from squeezenet.train import resolve_config

_DEFAULT_SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
SHARED = Path(os.environ.get("SQUEEZENET_SHARED", _DEFAULT_SHARED))


def shared_path(*parts: str) -> Path:
    """A path inside ../shared (or $SQUEEZENET_SHARED); the test is skipped if it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not found: {path} (set SQUEEZENET_SHARED)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TINY = {
    "stem_channels": 8,
    "base_e": 16,
    "incr_e": 0,
    "num_fire": 2,
    "pool_before": [0],
    "dropout": 0.2,
}
CLASSES = ["cat", "dog", "frog"]


def write_tree(root, classes=CLASSES, per_class=(12, 4), size=16, seed=0):
    """train/ and val/ of small PNGs whose colour depends on the class (learnable)."""
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "val"), per_class):
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
