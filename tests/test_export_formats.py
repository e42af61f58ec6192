"""The format table walked: every format exports a tiny model, loads back through the tool
and matches PyTorch; every reference in the tables names a function."""

import pytest
import torch

from squeezenet.deploy.formats import EXPORT_FORMATS, RUNTIMES, missing_extra, resolve

pytestmark = pytest.mark.usefixtures("one_thread")

#: A 32-px, 10-class SqueezeNet: the smallest registered model, quick to export everywhere.
TINY = "squeezenet_cifar"


@pytest.fixture(scope="module")
def tiny():
    from squeezenet import create_model

    torch.manual_seed(0)
    return create_model(TINY).eval()


def test_every_reference_in_the_tables_names_a_function():
    refs = [r.load for r in RUNTIMES.values()]
    for f in EXPORT_FORMATS.values():
        refs += [ref for ref in (f.export, f.read, f.check) if ref]
        if f.runtimes or f.check:
            refs.append(f.loader)
        assert all(r in RUNTIMES for r in f.runtimes), f.name
    for ref in refs:
        assert callable(resolve(ref)), ref


def test_every_runtime_is_a_backend_in_table_order():
    from squeezenet.deploy.backends import BACKENDS

    names = [n for n in BACKENDS if BACKENDS[n].runtime is not None]
    expected = []
    for r in RUNTIMES.values():
        expected += [r.name, f"{r.name}-int8"] if r.int8_help else [r.name]
    assert names == expected
    assert [n for n in BACKENDS if BACKENDS[n].exported_only] == [
        r.name for r in RUNTIMES.values() if not r.int8_help
    ]


@pytest.mark.parametrize("name", list(EXPORT_FORMATS))
def test_each_format_exports_loads_back_and_matches_pytorch(name, tiny, tmp_path):
    """Through ``squeezenet.api.export`` (which runs the file in the runtime that checks its
    format), then as ``predict -w FILE`` and ``bench`` open it, in each installed runtime."""
    from squeezenet import api
    from squeezenet.deploy.backends import open_exported

    missing = missing_extra(name)
    if missing:
        pytest.skip(missing)
    fmt = EXPORT_FORMATS[name]
    weights = tmp_path / "tiny.pth"
    torch.save(tiny.state_dict(), weights)
    done = api.export(weights, TINY, format=name, output=tmp_path / f"tiny{fmt.suffix}")
    # The web page's weights travel as float16: its logits are a few 1e-3 off.
    tolerance = 1e-2 if done.result["precision"] == "fp16" else 1e-4
    assert done.result["max_abs_diff"] < tolerance and done.files
    assert all(f.is_file() for f in done.files)
    if not fmt.reads:
        return
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = tiny(x)
    opened = open_exported(done.path)  # what `predict -w FILE` and `bench` run
    assert (opened.format, opened.num_outputs, opened.precision) == (name, 10, "fp32")
    for runtime in [r for r in fmt.runtimes if _installed(r)]:
        assert torch.allclose(opened.runner(runtime)(x), expected, atol=1e-4), runtime


def _installed(runtime: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(RUNTIMES[runtime].module) is not None
