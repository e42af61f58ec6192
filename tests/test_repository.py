"""The repository speaks to users: the package needs no development checkout, and the
documentation, code and tests carry no development narrative."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".sh", ".txt", ".csv"}

# Words that narrate how the project was developed rather than what it does.
NARRATIVE = re.compile(
    r"\bsession[ _-]?\d|\bsessions\b"  # "session 2", "session2_attempts"
    r"|\b(H100|H200|A100|V100|RTX ?\d{4}|GeForce)\b"  # the GPU a run happened to use
    r"|\.devdata|\bscratch folder"
    r"|(?<![\w.~])/(work|home|Users|mnt|scratch)/"  # absolute paths of a machine
    r"|\b\d\d:\d\d(:\d\d)? ?UTC\b"
    r"|\bearlier sweep\b|\bprototype\b",
    re.IGNORECASE,
)


def _files(*folders: str):
    for folder in folders:
        path = ROOT / folder
        if path.is_file():
            yield path
            continue
        for f in sorted(path.rglob("*")):
            if f.suffix in TEXT and f.is_file() and f.name != Path(__file__).name:
                yield f


def test_package_never_reads_the_development_checkout():
    if not (ROOT / "src" / "squeezenet").is_dir():
        pytest.skip("not run from a source checkout")
    offending = [
        f"{f.relative_to(ROOT)}: {line.strip()}"
        for f in _files("src", "configs")
        for line in f.read_text(encoding="utf-8").splitlines()
        if "../shared" in line or "SQUEEZENET_SHARED" in line
    ]
    assert offending == []


def test_no_development_narrative():
    if not (ROOT / "README.md").is_file():
        pytest.skip("not run from a source checkout")
    folders = ("README.md", "CHANGELOG.md", "docs", "src", "configs", "scripts", "benchmarks")
    hits = [
        f"{f.relative_to(ROOT)}:{n}: {m.group(0)!r}"
        for f in _files(*folders, "tests")
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        for m in [NARRATIVE.search(line)]
        if m
    ]
    assert hits == []


def _documented_commands():
    """Every ``squeezenet ...`` command in the code blocks of README.md and docs/ (with
    ``\\`` continuations joined; ``torchrun ... -m squeezenet`` included)."""
    for f in _files("README.md", "docs"):
        if f.suffix != ".md":
            continue
        in_block, pending = False, ""
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block, pending = not in_block, ""
                continue
            if not in_block:
                continue
            line = pending + line.split("  #")[0].strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line.startswith("squeezenet ") or " -m squeezenet " in line:
                command = line.split("squeezenet ", 1)[1]
                if "[" not in command and "..." not in command:  # not a synopsis
                    yield f"{f.relative_to(ROOT)}: squeezenet {command}", command


def test_documented_commands_parse():
    import shlex

    from squeezenet.cli import build_parser

    if not (ROOT / "README.md").is_file():
        pytest.skip("not run from a source checkout")
    commands = list(_documented_commands())
    assert len(commands) > 20
    parser = build_parser()
    for where, command in commands:
        # A shell variable ("$PROFILE") stands for a value the text explains; flags
        # check their values as they parse, so it is read as 1, which every type accepts.
        command = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "1", command)
        try:
            parser.parse_args(shlex.split(command))
        except SystemExit:
            pytest.fail(f"{where} does not parse")
