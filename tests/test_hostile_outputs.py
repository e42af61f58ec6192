"""Outputs: permissions follow the umask whatever the writer, and the temporaries of writes
killed mid-way are removed by the next write of the same file."""

from __future__ import annotations

import os

import torch

from squeezenet.files import write_bytes
from squeezenet.weights.saving import save_state_dict


def test_safetensors_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        for name in ("w.safetensors", "w.pth"):
            save_state_dict({"a": torch.ones(2)}, tmp_path / name)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    finally:
        os.umask(old)


def test_temporaries_of_killed_writes_are_removed(tmp_path):
    # What a write killed mid-way leaves: its temporary, named after a process that is gone.
    dead = 2**22 + 12345  # above the largest pid Linux hands out (4,194,304)
    stale = tmp_path / f".model.{dead}.abcd_123.pth"
    stale.write_bytes(b"half")
    other = tmp_path / f".other.{dead}.abcd_123.pth"  # another file's: left alone
    other.write_bytes(b"half")
    mine = tmp_path / f".model.{os.getpid()}.abcd_123.pth"  # a write in progress: kept
    mine.write_bytes(b"half")
    write_bytes(tmp_path / "model.pth", b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [other.name, mine.name, "model.pth"]
    )
    assert (tmp_path / "model.pth").read_bytes() == b"whole"
