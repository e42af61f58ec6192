"""Write failures are one-line errors naming the path the user gave, and the last good
checkpoint or output stays intact. (Tests put a file where a folder is expected or make the
write itself fail: a read-only folder does not stop root.)"""

from __future__ import annotations

import pytest
import torch

from helpers import tiny_config
from squeezenet.cli import main
from squeezenet.files import OutputError
from squeezenet.train import checkpoint, fit
from squeezenet.train.checkpoint import load_checkpoint
from squeezenet.weights.sqz import fileformat
from test_untrusted_weights import GOOD


def test_train_out_that_cannot_be_a_folder_is_refused_at_once(tree, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "run"
    args = ["train", "--data", str(tree), "--output", str(out), "--epochs", "1", "--no-progress"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"squeezenet train: error: {out}: cannot create the run folder: a file is in the way"
    )


def test_checkpoint_write_failing_mid_run_names_the_path_and_keeps_the_last_good_one(
    tree, tmp_path, monkeypatch
):
    out = tmp_path / "run"
    real = torch.save
    calls = []

    def failing_save(obj, f, *args, **kwargs):
        calls.append(obj.get("epoch") if isinstance(obj, dict) else None)
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", failing_save)
    with pytest.raises(OutputError) as info:
        fit(tiny_config(tree, out, epochs=3))
    assert str(info.value) == (
        f"{out / 'last.pt'}: cannot write the checkpoint: PytorchStreamWriter failed writing "
        "file data/0: file write failed (the previous version is kept)"
    )
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.parametrize("where", ["file/out.pth", "file/sub/out.pth"])
def test_decompress_into_a_blocked_folder_names_the_folder(tmp_path, capsys, where):
    src = tmp_path / "model.sqz"
    src.write_bytes(GOOD)
    (tmp_path / "file").write_text("x")
    out = tmp_path / where
    assert main(["decompress", str(src), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"squeezenet decompress: error: {out.parent}: cannot create the output folder: "
        "a file is in the way"
    )


def test_decompress_write_failure_keeps_the_previous_output(tmp_path, capsys, monkeypatch):
    src = tmp_path / "model.sqz"
    src.write_bytes(GOOD)
    out = tmp_path / "out.pth"
    out.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(torch, "save", fail)
    assert main(["decompress", str(src), "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"squeezenet decompress: error: {out}: cannot write the file: Permission denied "
        "(the previous version is kept)"
    )
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.sqz", "out.pth"]


def test_compressed_file_into_a_missing_folder_names_the_path(tmp_path):
    cm = fileformat.from_bytes(GOOD)
    target = tmp_path / "missing" / "m.sqz"
    with pytest.raises(OutputError, match=rf"^{target}: cannot write the file: No such file"):
        fileformat.save(cm, target)
