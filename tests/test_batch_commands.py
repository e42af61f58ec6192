"""Batch commands keep what they finished: results stream out as they are computed, an
unreadable image is named and skipped (or stops the run under --strict), and out-of-range
arguments are usage errors."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from squeezenet.cli import main
from squeezenet.cli.argtypes import CPUS
from squeezenet.data import ImageError, load_image
from squeezenet.data.images import MAX_IMAGE_PIXELS


def _images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:02d}.png")


def _png_header_only(path, width, height):
    """A few-hundred-byte PNG that declares ``width`` x ``height`` pixels."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


PREDICT = ["predict", "-m", "squeezenet_cifar", "--json"]


def test_predict_skips_a_bad_image_and_keeps_the_rest(tmp_path, capsys):
    _images(tmp_path / "photos", 40)
    bad = tmp_path / "photos" / "img20_bad.png"
    bad.write_bytes(b"not a png")
    assert main([*PREDICT, "-b", "16", str(tmp_path / "photos")]) == 1
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert len(results) == 40
    assert str(bad) not in {r["image"] for r in results}
    err = captured.err.splitlines()
    skipped = [line for line in err if "skipped" in line]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"squeezenet predict: skipped {bad}: not a readable image")
    assert err[-1] == (
        "squeezenet predict: error: 1 of 41 images could not be read (named above); "
        "the others were classified"
    )


def test_predict_strict_stops_but_keeps_the_finished_batches(tmp_path, capsys):
    _images(tmp_path / "photos", 10)
    bad = tmp_path / "photos" / "img05_bad.png"
    bad.write_bytes(b"not a png")
    assert main([*PREDICT, "--strict", "-b", "4", str(tmp_path / "photos")]) == 2
    captured = capsys.readouterr()
    results = json.loads(captured.out)  # still a complete JSON list
    assert [r["image"].rsplit("/", 1)[-1] for r in results] == [f"img0{i}.png" for i in range(4)]
    assert captured.err.splitlines()[-1] == (
        f"squeezenet predict: error: {bad}: not a readable image "
        f"(cannot identify image file '{bad}')"
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluate_skips_names_and_counts_bad_images(tmp_path, capsys, workers):
    _images(tmp_path / "data" / "a", 5, seed=1)
    _images(tmp_path / "data" / "b", 5, seed=2)
    bad = tmp_path / "data" / "b" / "img02_bad.png"
    bad.write_bytes(b"broken")
    args = ["evaluate", "-m", "squeezenet_cifar", "-d", str(tmp_path / "data"), "--json"]
    assert main([*args, "--workers", str(workers), "-b", "4"]) == 1
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert (result["n"], result["skipped"]) == (10, 1)
    err = captured.err.splitlines()
    skipped = [line for line in err if "skipped" in line]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"squeezenet evaluate: skipped {bad}: not a readable image")
    assert err[-1] == (
        "squeezenet evaluate: error: 1 of 11 files could not be read or labelled (named above) and "
        "are not in the scores"
    )
    assert "Traceback" not in captured.err

    assert main([*args, "--workers", str(workers), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"squeezenet evaluate: error: {bad}: not a readable image "
        f"(cannot identify image file '{bad}')"
    )


def test_decompression_bomb_is_an_image_error_naming_the_file(tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    assert bomb.stat().st_size < 1000
    with pytest.raises(ImageError, match=r"bomb.png: (30000 x 30000: )?the image is over the"):
        load_image(bomb)
    big = tmp_path / "big.png"
    _png_header_only(big, 8193, 8192)  # just over the limit, under PIL's own thresholds
    assert 8193 * 8192 > MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"big.png: 8193 x 8192: the image is over the limit"):
        load_image(big)
    assert main([*PREDICT, str(bomb)]) == 1
    assert f"skipped {bomb}: " in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["-b", "0"], "argument -b/--batch-size: must be a positive integer, got 0"),
        (["-k", "0"], "argument -k/--topk: must be a positive integer, got 0"),
        (["-k", "-3"], "argument -k/--topk: must be a positive integer, got -3"),
        (["-k", "x"], "argument -k/--topk: invalid integer 'x'"),
    ],
)
def test_out_of_range_arguments_are_usage_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main(["predict", *args, str(tmp_path / "a.png")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ")
    assert message in err


def test_negative_worker_count_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "-d", str(tmp_path), "--workers", "-1"])
    assert info.value.code == 2
    assert f"argument --workers: must be in [0, {CPUS}] (this machine's CPUs), got -1" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--epochs", "0", "must be a positive integer, got 0"),
        ("--batch-size", "-2", "must be a positive integer, got -2"),
        ("--workers", "-1", f"must be in [0, {CPUS}] (this machine's CPUs), got -1"),
        ("--image-size", "0", "must be a positive integer, got 0"),
    ],
)
def test_train_counts_out_of_range_are_usage_errors(capsys, flag, value, message):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "d", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {message}" in err or f"/{flag}: {message}" in err
