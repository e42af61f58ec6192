"""Every sub-command's ``--help`` answers, and its flags and their defaults stay as recorded
in data/cli_options.json, so that a change inside the library leaves the command line as it
was. After changing a flag on purpose, write the record anew:
``PYTHONPATH=src python tests/test_cli_surface.py``."""

import json
from pathlib import Path

import pytest

from squeezenet.cli import COMMANDS, build_parser, main

RECORD = Path(__file__).parent / "data" / "cli_options.json"


def surface() -> dict[str, dict[str, str]]:
    """Per command: each option (its spellings joined by '/', or a positional's name) and
    the repr of its default."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {
        name: {
            "/".join(a.option_strings) or a.dest: repr(a.default)
            for a in sub.choices[name]._actions
            if a.dest != "help"
        }
        for name in COMMANDS
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_help_answers(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: squeezenet {command}")


def test_flags_and_defaults_as_recorded():
    recorded = json.loads(RECORD.read_text())
    now = surface()
    assert list(now) == list(recorded)
    for command in recorded:
        assert now[command] == recorded[command], f"squeezenet {command}: see {__doc__}"


if __name__ == "__main__":
    RECORD.write_text(json.dumps(surface(), indent=1) + "\n")
