"""The exported web page in headless Chromium against ONNX Runtime in Python (docs/results/web.md).

Exports the shipped ImageNet model with ``-f web --runtime-dir``, serves the folder over
loopback HTTP (as is, and cross-origin isolated so that the page may use threads) and
measures: the bytes a visit downloads, the time to the first prediction with a cold and a
warm browser cache, milliseconds per photo in the page against ONNX Runtime Python on the
same graph and weights (the same preprocessed tensor, median of --runs), and the decode time
of the .sqz in JavaScript against Python. Optionally saves a screenshot of the page with a
result. Run:

    python benchmarks/web_page.py --runtime-dir .cache/onnxruntime-web \\
        --photos ../shared/data/imagenet-sample-100 --json docs/results/web.json \\
        --screenshot docs/web.png

Needs Chromium (--chromium, default /usr/bin/chromium) and Playwright (pip install
'squeezenet-dc[browser]'); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import io
import json
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from machine import cpu_info  # benchmarks/machine.py

from squeezenet.cli import main as cli
from squeezenet.lite.preprocess import Preprocessing
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.codec import SharedTensor

SHIPPED = Path(fileformat.__file__).parents[1] / "files" / "squeezenet1_1-dc_in1k.sqz"


class _Handler(http.server.SimpleHTTPRequestHandler):
    isolated = False

    def end_headers(self):
        if self.isolated:  # what a page needs for SharedArrayBuffer, hence threads
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


def _serve(folder: Path, isolated: bool) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = type("Handler", (_Handler,), {"isolated": isolated})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _python_session(folder: Path, threads: int, layout: bool = True):
    """ONNX Runtime (Python) on the page's graph, its weights buffer built from Python's
    decode of the page's .sqz; ``layout=False``: without the layout optimizations (ONNX
    Runtime's blocked NCHWc convolutions, which its WebAssembly build does not have), the
    same im2col + GEMM convolutions as the page's."""
    m = json.loads((folder / "manifest.json").read_text())
    cm = fileformat.from_bytes((folder / "model.sqz").read_bytes())
    buffer = bytearray(m["buffer_bytes"])
    for t in m["tensors"]:
        x = cm.tensors[t["name"]]
        array = np.ascontiguousarray(x.dense() if isinstance(x, SharedTensor) else x, t["dtype"])
        buffer[t["offset"] : t["offset"] + t["length"]] = array.tobytes()
    tmp = Path(tempfile.mkdtemp(prefix="web-bench-"))
    shutil.copy(folder / "model.onnx", tmp)
    (tmp / "weights.bin").write_bytes(bytes(buffer))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if not layout:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    providers = ["CPUExecutionProvider"]
    return ort.InferenceSession(str(tmp / "model.onnx"), options, providers=providers)


def _times_ms(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _median_ms(fn, runs: int) -> float:
    _times_ms(fn, 3)  # warm-up
    return statistics.median(_times_ms(fn, runs))


def _interleaved(page, runners, tensor, rounds: int, per_round: int) -> list[float]:
    """Median ms per photo of the page and of each ONNX Runtime Python runner, measured in
    alternating rounds so that all see the same machine load."""
    listed = tensor.ravel().tolist()
    page.evaluate(_PAGE_RUNS, [5, listed])  # warm-up
    times: list[list[float]] = [[] for _ in range(1 + len(runners))]
    for s in runners:
        s.run(None, {"input": tensor[None]})
    for _ in range(rounds):
        times[0] += page.evaluate(_PAGE_RUNS, [per_round, listed])
        for s, ms in zip(runners, times[1:]):
            ms += _times_ms(lambda s=s: s.run(None, {"input": tensor[None]}), per_round)
    return [statistics.median(ms) for ms in times]


_PAGE_RUNS = """async ([n, tensor]) => {
    window.benchInput ??= new Float32Array(tensor);
    const ms = [];
    for (let i = 0; i < n; i++) {
        ms.push((await window.squeezenetWeb.classifyTensor(window.benchInput)).ms);
    }
    return ms;
}"""

_PAGE_DECODE = """async ([n, shapes]) => {
    const ms = [];
    for (let i = 0; i < n; i++) {
        ms.push((await window.squeezenetWeb.decodeHashes('model.sqz', shapes)).ms);
    }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(n / 2)];
}"""


def _first_prediction(context, url: str, photo: str) -> dict:
    """Open the page, classify one photo; times from the navigation's start (ms)."""
    page = context.new_page()
    page.goto(url)
    info = page.evaluate("window.squeezenetWeb.ready")
    result = page.evaluate(f"window.squeezenetWeb.classifyUrl({json.dumps(photo)})")
    done = page.evaluate("performance.now()")
    runtime = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => /ort[-.]/.test(e.name))"
        ".map(e => [e.name.split('/').pop(), e.transferSize])"
    )
    page.close()
    return {
        "first_prediction_ms": round(done, 1),
        "model_ready_ms": round(info["timings"]["load_ms"], 1),
        "decode_ms": round(info["timings"]["decode_ms"], 1),
        "top1": result["top"][0],
        "runtime_transfer_bytes": dict(runtime),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--runtime-dir", type=Path, default=Path(".cache/onnxruntime-web"))
    p.add_argument("--photos", type=Path, required=True, help="imagenet-sample-100 or similar")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--screenshot", type=Path, default=None)
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="web-bench-"))
    folder = work / "page"
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        argv = ["export", "-w", "squeezenet1_1.dc_in1k", "-f", "web", "-o", str(folder)]
        assert cli([*argv, "--runtime-dir", str(args.runtime_dir)]) == 0
    export_s = time.perf_counter() - t0
    shutil.copytree(args.photos, folder / "photos")
    photos = sorted(p.name for p in (folder / "photos").glob("*.JPEG"))
    m = json.loads((folder / "manifest.json").read_text())
    sizes = {f.name: f.stat().st_size for f in folder.iterdir() if f.is_file()}
    ort_sizes = {f.name: f.stat().st_size for f in (folder / "ort").iterdir()}
    ort_gzip = {
        name: len(gzip.compress((folder / "ort" / name).read_bytes(), 9)) for name in ort_sizes
    }
    page_files = ("index.html", "app.js", "sqz.js", "preprocess.js", "manifest.json")
    downloads = {
        "model.sqz": sizes["model.sqz"],
        "model.onnx": sizes["model.onnx"],
        "page (html, js, manifest)": sum(sizes[n] for n in page_files),
        "runtime": sum(ort_sizes.values()),
        "runtime_gzip": sum(ort_gzip.values()),
    }

    pre = Preprocessing(m["preprocess"])
    tensor = pre(folder / "photos" / photos[0]).astype(np.float32)
    runners = {
        threads: [_python_session(folder, threads, layout) for layout in (True, False)]
        for threads in (1, 2)
    }
    shapes = {t["name"]: t["shape"] for t in m["tensors"]}
    data = (folder / "model.sqz").read_bytes()

    def python_decode():
        cm = fileformat.from_bytes(data, "model.sqz")
        for t in cm.tensors.values():
            if isinstance(t, SharedTensor):
                t.dense()

    python_decode_ms = _median_ms(python_decode, 9)

    results: dict = {"runs": args.runs, "export_s": round(export_s, 1)}
    version = subprocess.run([args.chromium, "--version"], capture_output=True, text=True)
    results["chromium"] = version.stdout.strip()
    with sync_playwright() as pw:
        for isolated in (False, True):
            server, base = _serve(folder, isolated)
            # A persistent profile: a disk cache as a browser has (the 15 MB runtime does not
            # stay in an incognito context's memory cache).
            context = pw.chromium.launch_persistent_context(
                str(work / f"profile-{isolated}"),
                executable_path=args.chromium,
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            cold = _first_prediction(context, base + "index.html", "photos/" + photos[0])
            warm = _first_prediction(context, base + "index.html", "photos/" + photos[0])
            page = context.new_page()
            page.goto(base + "index.html")
            page.evaluate("window.squeezenetWeb.ready")
            threads = page.evaluate("self.crossOriginIsolated ? ort.env.wasm.numThreads : 1")
            rounds = max(1, args.runs // 10)
            page_ms, python_ms, plain_ms = _interleaved(page, runners[threads], tensor, rounds, 10)
            js_decode_ms = page.evaluate(_PAGE_DECODE, [9, shapes])
            key = "isolated" if isolated else "plain"
            results[key] = {
                "threads": threads,
                "cold": cold,
                "warm": warm,
                "page_ms_per_photo": round(page_ms, 2),
                "python_ms_per_photo": round(python_ms, 2),
                "ratio": round(page_ms / python_ms, 2),
                "python_no_layout_ms_per_photo": round(plain_ms, 2),
                "ratio_no_layout": round(page_ms / plain_ms, 2),
                "js_decode_ms": round(js_decode_ms, 1),
            }
            if args.screenshot and not isolated:
                page.set_viewport_size({"width": 820, "height": 900})
                page.set_input_files("#file", str(folder / "photos" / _screenshot_photo(photos)))
                page.wait_for_function("document.getElementById('top5').children.length > 0")
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.screenshot), full_page=True)
            page.close()
            context.close()
            server.shutdown()
    results.update(
        downloads=downloads,
        runtime_files=ort_sizes,
        runtime_files_gzip=ort_gzip,
        runtime_version=m["runtime"]["version"],
        python_decode_ms=round(python_decode_ms, 1),
        onnxruntime_python=ort.__version__,
        cpu=cpu_info()[0],
        python=platform.python_version(),
    )
    shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


def _screenshot_photo(photos: list[str]) -> str:
    """A photo the shipped model gets right with confidence (a zebra)."""
    return next((p for p in photos if "zebra" in p), photos[0])


if __name__ == "__main__":
    main()
