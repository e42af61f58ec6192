"""Images: thin and oversized ones are refused before decoding, a bad image never takes the
good results of its batch with it (predict, evaluate), broken links inside a folder are named
and counted, and file names print on one line."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from squeezenet.cli import main
from squeezenet.data import ImageError, get_preprocess, load_transformed

WNIDS = ("n01440764", "n02102040")  # ImageNet class folders (tench, springer)


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A PNG of a few hundred bytes whose header declares ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("L", (4, 4), 128).save(buf, "PNG")
    data = buf.getvalue()
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(data[:8] + chunk + data[33:])
    return path


def _photos(folder: Path, n: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        out.append(folder / f"good{i}.png")
        Image.new("RGB", (40, 30), (40 * i, 90, 200)).save(out[-1])
    return out


@pytest.mark.parametrize("size", [(1, 67_108_864), (20_000, 3)])
def test_thin_images_are_refused_before_decoding(tmp_path, size):
    path = _png_declaring(tmp_path / "thin.png", *size)
    with pytest.raises(ImageError, match=rf"thin.png: {size[0]} x {size[1]}: the sides' ratio"):
        load_transformed(path, get_preprocess("torchvision"))


def test_a_resize_too_large_is_an_image_error_naming_the_file(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (31 * 200, 200)).save(path)
    # (the CLI caps --image-size at 1024, under this limit; the library takes any crop)
    big = get_preprocess("torchvision").with_crop(2048)
    with pytest.raises(ImageError, match="strip.png: cannot be preprocessed .*over the limit"):
        load_transformed(path, big)


def test_predict_keeps_the_good_images_of_a_batch(tmp_path, capsys):
    good = _photos(tmp_path)
    thin = _png_declaring(tmp_path / "thin.png", 1, 67_108_864)
    argv = ["predict", "--json", "-k", "1", str(good[0]), str(thin), str(good[1])]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert [r["image"] for r in json.loads(out)] == [str(good[0]), str(good[1])]
    assert f"skipped {thin}: 1 x 67108864: the sides' ratio" in err
    assert "1 of 3 images could not be read" in err


def test_evaluate_scores_the_other_images(tmp_path, capsys):
    for c in WNIDS:
        _photos(tmp_path / "data" / c)
    _png_declaring(tmp_path / "data" / WNIDS[0] / "thin.png", 67_108_864, 1)
    argv = ["evaluate", "-d", str(tmp_path / "data"), "--json", "--no-progress"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (result["n"], result["skipped"]) == (4, 1)
    assert "thin.png: 67108864 x 1: the sides' ratio" in err


def test_predict_and_evaluate_accept_device(tmp_path, capsys):
    good = _photos(tmp_path / "data" / WNIDS[0]) + _photos(tmp_path / "data" / WNIDS[1])
    assert main(["predict", "--device", "cpu", "--json", str(good[0])]) == 0
    argv = ["evaluate", "--device", "cpu", "-d", str(tmp_path / "data"), "--json"]
    assert main([*argv, "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["n"] == 4


def test_newlines_in_file_names_are_escaped(tmp_path, capsys):
    odd = tmp_path / "two\nlines.png"
    Image.new("RGB", (40, 30)).save(odd, format="PNG")
    assert main(["predict", "-k", "1", str(odd)]) == 0
    assert f"{tmp_path}/two\\nlines.png\n" in capsys.readouterr().out


def test_broken_links_in_a_folder_are_named_and_counted(tmp_path, capsys):
    folder = tmp_path / "photos"
    good = _photos(folder, 1)
    (folder / "gone.jpg").symlink_to(folder / "missing.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    assert main(["predict", "--json", "-k", "1", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert [r["image"] for r in json.loads(out)] == [str(good[0])]
    for name in ("gone.jpg", "loop.jpg"):
        assert f"skipped {folder / name}: a symbolic link to nothing" in err
    assert "2 of 3 images could not be read" in err


def test_evaluate_names_and_counts_broken_links(tmp_path, capsys):
    for c in WNIDS:
        _photos(tmp_path / "data" / c)
    gone = tmp_path / "data" / WNIDS[1] / "gone.jpg"
    gone.symlink_to(tmp_path / "missing.jpg")
    argv = ["evaluate", "-d", str(tmp_path / "data"), "--json", "--no-progress"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert (json.loads(out)["n"], json.loads(out)["skipped"]) == (4, 1)  # one count
    assert f"skipped {gone}: a symbolic link to nothing" in err
    assert "1 of 5 files could not be read or labelled" in err


def test_png_chunk_longer_than_the_file_is_refused_before_reading():
    # 73 bytes whose IDAT chunk declares 2 GiB: PIL would allocate that to read the rest.
    path = Path(__file__).with_name("data") / "fuzz-regressions" / "image" / "idat-length-2gib.png"
    with pytest.raises(
        ImageError, match="idat-length-2gib.png: PNG chunk 'IDAT' declares 2,147,483,632 bytes"
    ):
        load_transformed(path, get_preprocess("torchvision"))


def test_many_pixels_from_a_tiny_file_are_refused_before_decoding():
    # 64 bytes of GIF declaring 27,148 x 2,304 pixels (under the pixel limit, sides' ratio
    # under 32): decoding it took 250 MB. Found by fuzzing.
    path = Path(__file__).with_name("data") / "fuzz-regressions" / "image"
    path = path / "gif-27148x2304-in-64-bytes.gif"
    with pytest.raises(
        ImageError,
        match="gif-27148x2304-in-64-bytes.gif: 27148 x 2304 pixels from a file of 64 bytes",
    ):
        load_transformed(path, get_preprocess("torchvision"))


def test_evaluate_leaves_out_a_stray_folder_and_an_unknown_file_name(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for i, photo in enumerate(_photos(tmp_path / "p", 3)):
        photo.rename(data / f"{WNIDS[i % 2]}_{i}.jpg")
    (data / "n99999999_x.jpg").write_bytes((data / f"{WNIDS[0]}_0.jpg").read_bytes())
    (data / ".ipynb_checkpoints").mkdir()
    argv = ["evaluate", "-d", str(data), "--json", "--no-progress", "--workers", "0"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert (json.loads(out)["n"], json.loads(out)["skipped"]) == (3, 2)
    assert f"skipped {data / '.ipynb_checkpoints'}: a folder that is not a class in" in err
    assert f"skipped {data / 'n99999999_x.jpg'}: file-name prefix 'n99999999' is not" in err
    assert "2 of 5 files could not be read or labelled" in err
    assert main([*argv, "--strict"]) == 2


def test_predict_skips_a_fifo_and_prints_the_good_result(tmp_path, capsys):
    import os

    from helpers import time_limit

    good = _photos(tmp_path, 1)[0]
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    with time_limit(20, "predict waited on the FIFO"):
        assert main(["predict", "--json", "-k", "1", str(good), str(fifo)]) == 1
    out, err = capsys.readouterr()
    assert [r["image"] for r in json.loads(out)] == [str(good)]
    assert f"skipped {fifo}: not a regular file (a FIFO, device or socket); not read" in err
