"""The distribution: `python -m build` gives an sdist and a wheel that `twine check` accepts,
and the wheel installs and runs in a clean virtual environment."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reads pyproject.toml with Python 3.11's tomllib")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel built from it (``python -m build``, as for a release), built
    with the setuptools of this environment rather than a downloaded one."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    pytest.importorskip("build", reason="the `test` extra installs build")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_build_gives_an_sdist_and_a_wheel_twine_accepts(dist):
    pytest.importorskip("twine", reason="the `test` extra installs twine")
    files = sorted(dist.iterdir())
    assert [f.name for f in files] == [
        "squeezenet_dc-{v}-py3-none-any.whl".format(v=_project()["version"]),
        "squeezenet_dc-{v}.tar.gz".format(v=_project()["version"]),
    ]
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # The package data the library reads at run time ships in the wheel (built from the sdist).
    names = zipfile.ZipFile(files[0]).namelist()
    for data in (
        "py.typed",
        "data/imagenet_classes.txt",
        "weights/files/",
        "deploy/web/static/sqz.js",  # the page of export -f web
    ):
        assert any(n.startswith(f"squeezenet/{data}") for n in names), data


def test_wheel_installs_and_runs_without_its_dependencies(dist, tmp_path):
    # A clean environment with the wheel alone (no torch, numpy, ...): the command answers
    # --version and --help, as they import no PyTorch.
    wheel = next(dist.glob("*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    done = subprocess.run(
        [venv / "bin/squeezenet", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"squeezenet {_project()['version']}"
    done = subprocess.run(
        [venv / "bin/squeezenet", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "compress" in done.stdout, done.stderr
    # The installed distribution is squeezenet-dc, and it is this checkout's version.
    shown = subprocess.run(
        [venv / "bin/python", "-m", "pip", "show", "squeezenet-dc"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"Version: {_project()['version']}" in shown.stdout, shown.stderr


def test_distribution_name_and_version():
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    from squeezenet import __version__

    project = _project()
    # "squeezenet" on the package index is an unrelated project.
    assert project["name"] == "squeezenet-dc"
    assert project["version"] == __version__
    # An extra that names the project names it by its distribution name.
    for requirements in project["optional-dependencies"].values():
        for requirement in requirements:
            assert not requirement.startswith("squeezenet["), requirement
