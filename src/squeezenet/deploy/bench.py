"""Side-by-side speed of inference backends: batch-1 latency and batch-N throughput.

Every backend runs in the same process, in interleaved rounds (the order rotates each round),
so a burst of load from elsewhere hits all of them rather than one; figures are medians over
all rounds. torchvision's own eager ``squeezenet1_1`` (same weights) is the baseline row.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from .backends import (
    BACKENDS,
    ExportedModel,
    check_backend_names,
    load_backend,
    prepare_artifacts,
)

BASELINE = "torchvision"


def _proc_status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB -> MiB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure_in_child(factory: Callable[[], Callable], x: torch.Tensor, conn) -> None:
    try:
        # The forked child must not re-enter the parent's OpenMP pool (libgomp hangs after
        # fork); torch runs single-threaded here, which changes time, not memory.
        torch.set_num_threads(1)
        # Hand the inherited heap's free pages back to the kernel: otherwise the backend's
        # allocations reuse them without any RSS growth and its memory goes uncounted.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        rss0 = _proc_status_mb("VmRSS")
        if not _reset_peak_rss() or rss0 is None:
            conn.send(None)
            return
        factory()(x)
        peak = _proc_status_mb("VmHWM")
        conn.send(None if peak is None else peak - rss0)
    except Exception:  # noqa: BLE001 -- any failure means "not measured", not a crash
        conn.send(None)


def _peak_memory_mib(
    factory: Callable[[], Callable], x: torch.Tensor, timeout: float = 120.0
) -> float | None:
    """Peak-RSS growth of building the backend and running ``x`` once, measured in a forked
    child so that every backend starts from the same heap (in one process, memory freed by
    an earlier backend would be reused by the next and hide its cost). None where fork or
    /proc is unavailable."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods() or _proc_status_mb("VmRSS") is None:
        return None
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_measure_in_child, args=(factory, x, send), daemon=True)
    child.start()
    value = recv.recv() if recv.poll(timeout) else None
    child.join(5)
    if child.is_alive():
        child.kill()
        child.join()
    return None if value is None else round(value, 1)


def _torchvision_baseline(model: nn.Module) -> nn.Module | None:
    """torchvision's squeezenet1_1 holding ``model``'s weights, or None if they don't fit."""
    from torchvision.models import squeezenet1_1

    num_classes = getattr(getattr(model, "spec", None), "num_classes", 1000)
    tv = squeezenet1_1(num_classes=num_classes)
    try:
        tv.load_state_dict(model.state_dict(), strict=True)
    except RuntimeError:
        return None
    return tv.eval()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_bench(
    model: nn.Module | ExportedModel,
    names: list[str],
    input_size: int = 224,
    threads: int = 2,
    rounds: int = 10,
    iters: int = 20,
    batch: int = 32,
    calibration: torch.Tensor | None = None,
    progress: bool = True,
    files: Sequence[ExportedModel] = (),
) -> list[dict]:
    """Time each named backend (plus the torchvision baseline when ``model`` has
    squeezenet1_1's layout; an exported file runs as it is, with no baseline) and each
    exported file in ``files`` in its own runtime, all in the same rounds. Returns one
    row per backend or file and batch size (1 and ``batch``):
    ``backend, precision, batch, median_ms, p90_ms, images_per_s, peak_mem_mib, speedup``
    (a file's ``backend`` is ``runtime:file name``).

    ``peak_mem_mib``: growth of peak RSS while the backend is built (weights included) and
    runs one ``batch`` (runtime arenas, activations), in a forked child; ``None`` off Linux.
    """
    if isinstance(model, ExportedModel):
        for name in names:
            model.check_backend(name)
    else:
        check_backend_names(names, calibration)
    for f in files:
        f.check_backend(f.backends[0])
        if f.input_size not in (None, input_size):
            raise ValueError(f"{f.path}: its graph takes {f.input_size} px, not {input_size}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_bench(
            model, names, files, input_size, threads, rounds, iters, batch, calibration, progress
        )
    finally:
        torch.set_num_threads(previous_threads)


def _run_bench(
    model,
    names,
    files,
    input_size,
    threads,
    rounds,
    iters,
    batch,
    calibration,
    progress,
    settle_s: float = 0.05,
) -> list[dict]:
    exported = isinstance(model, ExportedModel)
    if exported:
        in_channels = model.input_shape[1] or 3
    else:
        model = model.eval()
        in_channels = getattr(getattr(model, "spec", None), "in_channels", 3)
    gen = torch.Generator().manual_seed(0)
    x1 = torch.randn(1, in_channels, input_size, input_size, generator=gen)
    xb = torch.randn(batch, in_channels, input_size, input_size, generator=gen)

    entries: list[tuple[str, str, Callable]] = []
    peaks: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="squeezenet-bench-") as workdir:
        # An exported file is timed as it is; a module is exported for the runtimes first.
        artifacts = (
            {}
            if exported
            else prepare_artifacts(names, model, Path(workdir), input_size, calibration)
        )
        factories = _factories(model, names, files, artifacts, threads)
        # All children fork before any runtime starts its thread pool in this process.
        for name, _, factory in factories:
            peaks[name] = _peak_memory_mib(functools.partial(factory, True), xb)
        for name, precision, factory in factories:
            fn = factory(False)
            fn(xb)  # first run: arenas, kernel selection; not timed
            entries.append((name, precision, fn))
    times = _time_rounds(entries, x1, xb, rounds, iters, progress, settle_s)
    return _rows(entries, times, peaks, batch, threads, input_size)


#: A factory builds a runner; with ``own`` (the memory child), torch backends copy the
#: model first so that the memory figure counts their weights like the runtimes' figures.
Factory = Callable[[bool], Callable]


def _factories(model, names, files, artifacts, threads) -> list[tuple[str, str, Factory]]:
    """(name, precision, factory) of the baseline (when it fits), each backend and each file."""
    exported = isinstance(model, ExportedModel)

    def baseline(own: bool) -> Callable:
        # Built inside the factory, so that its weights count in the memory figure.
        built = _torchvision_baseline(model)
        assert built is not None  # checked below before this factory is listed
        return _eager(built)

    def backend(n: str) -> Factory:
        def make(own: bool) -> Callable:
            if exported:  # one thread in the memory child: see _file_runner
                return model.runner(n, 1 if own else threads)
            own_model = copy.deepcopy(model) if own and BACKENDS[n].runtime is None else model
            return load_backend(n, own_model, artifacts, threads)

        return make

    factories: list[tuple[str, str, Factory]] = []
    if not exported and _torchvision_baseline(model) is not None:
        factories.append((BASELINE, "fp32", baseline))
    factories += [
        (n, model.precision if exported else BACKENDS[n].precision, backend(n)) for n in names
    ]
    for f in files:
        runner = functools.partial(_file_runner, f, threads)
        factories.append((f"{f.backends[0]}:{f.path.name}", f.precision, runner))
    return factories


def _time_rounds(
    entries, x1, xb, rounds: int, iters: int, progress: bool, settle_s: float
) -> dict[tuple[str, int], list[float]]:
    """Milliseconds per call of each entry at batch 1 and batch ``len(xb)``, in rounds
    whose order rotates."""
    times: dict[tuple[str, int], list[float]] = {
        (e[0], len(x)): [] for e in entries for x in (x1, xb)
    }
    for _, _, fn in entries:  # warm-up, untimed
        for _ in range(3):
            fn(x1)
    batch_iters = max(1, iters // 8)
    bar = tqdm(total=rounds, desc="bench", unit="round", file=sys.stderr, disable=not progress)
    for r in range(rounds):
        for name, _, fn in entries[r % len(entries) :] + entries[: r % len(entries)]:
            for x, k in ((x1, iters), (xb, batch_iters)):
                samples = times[(name, len(x))]
                # The previous runtime's worker threads spin-wait for a while after its last
                # call; let them go idle, then re-warm caches with one untimed call.
                time.sleep(settle_s)
                fn(x)
                for _ in range(k):
                    t0 = time.perf_counter()
                    fn(x)
                    samples.append((time.perf_counter() - t0) * 1e3)
        bar.update(1)
    bar.close()
    return times


def _rows(entries, times, peaks, batch: int, threads: int, input_size: int) -> list[dict]:
    """One row per entry and batch size, its speedup against the baseline's median."""
    rows = []
    for b in (1, batch):
        has_base = (BASELINE, b) in times
        base = statistics.median(times[(BASELINE, b)]) if has_base else None
        for name, precision, _ in entries:
            samples = times[(name, b)]
            median = statistics.median(samples)
            rows.append(
                {
                    "backend": name,
                    "precision": precision,
                    "batch": b,
                    "median_ms": round(median, 3),
                    "p90_ms": round(_percentile(samples, 0.9), 3),
                    "images_per_s": round(b * 1000 / median, 1),
                    "peak_mem_mib": peaks[name],
                    "threads": threads,
                    "input_size": input_size,
                    "samples": len(samples),
                    "speedup": round(base / median, 2) if base else None,
                }
            )
    return rows


def _file_runner(exported: ExportedModel, threads: int, own: bool) -> Callable:
    # In the forked memory child (``own``) one thread, as torch there: an OpenMP runtime
    # (ncnn's libgomp) whose pool the parent has started waits forever for its workers in
    # a child; threads change time, not memory.
    return exported.runner(None, 1 if own else threads)


def _eager(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x)

    return run


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table (also valid Markdown) of :func:`run_bench` rows."""
    header = [
        "backend",
        "precision",
        "batch",
        "median ms",
        "p90 ms",
        "img/s",
        "peak MiB",
        "vs torchvision",
    ]
    lines = [header]
    for r in rows:
        lines.append(
            [
                r["backend"],
                r["precision"],
                str(r["batch"]),
                f"{r['median_ms']:.2f}",
                f"{r['p90_ms']:.2f}",
                f"{r['images_per_s']:.1f}",
                "-" if r["peak_mem_mib"] is None else f"{r['peak_mem_mib']:.0f}",
                "-" if r["speedup"] is None else f"{r['speedup']:.2f}x",
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for j, line in enumerate(lines):
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("| " + " | ".join(cells) + " |")
        if j == 0:
            out.append(
                "|"
                + "|".join(
                    "-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
                )
                + "|"
            )
    return "\n".join(out)
