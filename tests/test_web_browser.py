"""The page of ``squeezenet export -f web`` in a real browser: headless Chromium from the OS
packages, driven by Playwright (no browser download), the page served over loopback HTTP.
Skipped, with the reason, without Chromium, Playwright or an onnxruntime-web install
($SQUEEZENET_ORT_WEB, else .cache/onnxruntime-web, where .ci/run puts it)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import shutil
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import SHARED
from squeezenet.cli import main
from squeezenet.deploy.web.runtime import RuntimeDirError, find_package
from squeezenet.weights.sqz import fileformat
from squeezenet.weights.sqz.codec import SharedTensor
from web_helpers import ORT_WEB, manifest, tensor_hashes, user_classes_sqz

pytestmark = pytest.mark.browser
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SHIPPED = Path(fileformat.__file__).parents[1] / "files" / "squeezenet1_1-dc_in1k.sqz"
PHOTOS = SHARED / "data" / "imagenet-sample-100"


def _chromium() -> str:
    for path in (os.environ.get("SQUEEZENET_CHROMIUM"), "/usr/bin/chromium"):
        if path and Path(path).is_file():
            return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("no Chromium (apt-get install chromium, or set $SQUEEZENET_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright: pip install 'squeezenet-dc[browser]'"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
        # --disable-dev-shm-usage: containers often have a tiny /dev/shm.
        b = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield b
        b.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The served root: shipped/ (the ImageNet page) and files tests add; its base URL."""
    try:
        find_package(ORT_WEB)
    except RuntimeDirError as e:
        pytest.skip(f"no onnxruntime-web ({e}; or set $SQUEEZENET_ORT_WEB)")
    root = tmp_path_factory.mktemp("site")
    argv = ["export", "-w", "squeezenet1_1.dc_in1k", "-f", "web", "-o", str(root / "shipped")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--runtime-dir", str(ORT_WEB)]) == 0
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def page(browser, site):
    """The shipped model's page, loaded and ready."""
    root, base = site
    p = browser.new_page()
    p.goto(base + "shipped/index.html")
    p.evaluate("window.squeezenetWeb.ready")
    yield p
    p.close()


def _decode_in_page(page, url: str, shapes: dict) -> dict:
    return page.evaluate(
        "([url, shapes]) => window.squeezenetWeb.decodeHashes(url, shapes)", [url, shapes]
    )["hashes"]


def test_the_page_decodes_every_tensor_as_python(page, site):
    root, base = site
    shapes = {t["name"]: t["shape"] for t in manifest(root / "shipped")["tensors"]}
    # The page serves the shipped version-1 file rewritten as version 3: the same tensors.
    assert _decode_in_page(page, base + "shipped/model.sqz", shapes) == tensor_hashes(
        SHIPPED.read_bytes()
    )
    for coder in ("ans", "huffman"):
        sqz = user_classes_sqz(root / f"pets-{coder}.sqz", coder)
        theirs = fileformat.load(sqz).state_dict()
        pet_shapes = {k: list(v.shape) for k, v in theirs.items()}
        assert _decode_in_page(page, base + sqz.name, pet_shapes) == tensor_hashes(
            sqz.read_bytes()
        ), coder


def _random_file(rng: np.random.Generator, coder: str) -> tuple[bytes, dict]:
    """A .sqz of random shared tensors (sparse, dense, empty, constant, kernel-sparse, with
    long gaps) and raw tensors of every stored type."""
    tensors: dict = {}
    raw_dtypes = {}

    def shared(name, shape, density, levels):
        values = rng.normal(size=levels).astype(np.float32)
        a = values[rng.integers(0, levels, shape)]
        a[rng.random(shape) > density] = 0
        tensors[name] = SharedTensor.from_dense(a, name)

    shared("dense", (7, 5, 3, 3), 1.0, 200)
    shared("sparse", (300, 40), rng.uniform(0.001, 0.05), 30)
    shared("empty", (4, 4), 0.0, 3)
    shared("constant", (9, 11), 0.6, 1)
    shared("wide", (1, 70000), 0.0005, 5000)
    kernels = np.zeros((6, 4, 3, 3), np.float32)
    kept = rng.random((6, 4)) < 0.4
    kernels[kept] = rng.choice(rng.normal(size=16).astype(np.float32), (int(kept.sum()), 3, 3))
    tensors["kernels"] = SharedTensor.from_dense(kernels, "kernels")
    for stored, array in (
        ("float16", rng.normal(size=(33,)).astype(np.float32)),
        ("float32", rng.normal(size=(2, 17)).astype(np.float32)),
        ("int64", rng.integers(-(2**40), 2**40, (5,))),
        ("int32", rng.integers(-(2**31), 2**31 - 1, (3, 3)).astype(np.int32)),
        ("uint8", rng.integers(0, 256, (12,)).astype(np.uint8)),
        ("bool", rng.random(8) < 0.5),
    ):
        tensors[f"raw_{stored}"] = array
        raw_dtypes[f"raw_{stored}"] = stored
    cm = fileformat.CompressedModel({"name": "random"}, tensors, coder, {}, raw_dtypes)
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    return fileformat.to_bytes(cm), shapes


@pytest.mark.parametrize("coder", ["ans", "huffman"])
def test_random_tensors_decode_as_python(page, site, coder):
    root, base = site
    rng = np.random.default_rng(43 + len(coder))
    for i in range(3):
        data, shapes = _random_file(rng, coder)
        (root / f"random-{coder}-{i}.sqz").write_bytes(data)
        theirs = _decode_in_page(page, f"{base}random-{coder}-{i}.sqz", shapes)
        assert theirs == tensor_hashes(data, shapes), (coder, i)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[: len(d) // 2], "model.sqz: checksum mismatch"),
        (lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], "model.sqz: checksum mismatch"),
        (lambda d: b"PK\x03\x04" + d[4:], "model.sqz: not a squeezenet compressed file"),
        # A valid checksum over a damaged section: the entropy decoder's own checks.
        (
            lambda d: _with_crc(d[:2000] + bytes([d[2000] ^ 0x10]) + d[2001:-4]),
            "model.sqz: tensor features.",
        ),
    ],
)
def test_a_corrupt_sqz_shows_its_error(browser, site, damage, message):
    root, base = site
    folder = root / f"corrupt-{len(list(root.glob('corrupt-*')))}"
    shutil.copytree(root / "shipped", folder, ignore=shutil.ignore_patterns("ort"))
    (folder / "ort").symlink_to(root / "shipped" / "ort")
    (folder / "model.sqz").write_bytes(damage((folder / "model.sqz").read_bytes()))
    p = browser.new_page()
    try:
        p.goto(f"{base}{folder.name}/index.html")
        p.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert p.text_content("#error").startswith(message), p.text_content("#error")
        assert p.text_content("#status") == "The model could not be loaded."
    finally:
        p.close()


def _upload(page, path: Path) -> tuple[str, str]:
    """Choose ``path`` in the page; (its top-5 text, its error text)."""
    page.evaluate("document.getElementById('top5').replaceChildren()")
    page.set_input_files("#file", str(path))
    page.wait_for_function(
        "document.getElementById('top5').children.length > 0"
        " || !document.getElementById('error').hidden",
        timeout=60_000,
    )
    error = page.text_content("#error") if page.is_visible("#error") else ""
    return page.inner_text("#top5"), error


def test_bad_photos_get_a_message(page, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    assert _upload(page, text) == ("", "notes.txt is not an image this browser can read "
                                   "(JPEG, PNG, WebP, GIF, ...).")  # fmt: skip
    thin = tmp_path / "thin.png"
    Image.new("RGB", (30000, 20), (200, 120, 40)).save(thin)
    top5, error = _upload(page, thin)
    assert top5 == "" and error == (
        "thin.png (30000 x 20): resizing 30000 x 20 to a shorter side of 256 needs more than "
        "67,108,864 pixels."
    )
    # 8000 x 8000: classified, scaled down by the browser first, which the page says.
    huge = tmp_path / "huge.jpg"
    Image.new("RGB", (8000, 8000), (30, 90, 160)).save(huge, quality=50)
    top5, error = _upload(page, huge)
    assert error == "" and len(top5.splitlines()) == 5
    assert page.text_content("#note").startswith("huge.jpg is 8000 x 8000 (64 megapixels)")


def _python_runtime(folder: Path):
    """ONNX Runtime (Python) on a page folder's graph, with the buffer its weights read built
    in Python: from Python's decode of model.sqz, or from weights.fp16.bin."""
    m = manifest(folder)
    buffer = bytearray(m["buffer_bytes"])
    if m["weights"]["format"] == "sqz":
        cm = fileformat.from_bytes((folder / "model.sqz").read_bytes())
        arrays = {k: t.dense() if isinstance(t, SharedTensor) else t for k, t in cm.tensors.items()}
    else:
        blob = (folder / "weights.fp16.bin").read_bytes()
        arrays = {
            t["name"]: np.frombuffer(blob, t["stored"], int(np.prod(t["shape"])), t["at"])
            for t in m["tensors"]
        }
    for t in m["tensors"]:
        array = np.ascontiguousarray(arrays[t["name"]], t["dtype"])
        buffer[t["offset"] : t["offset"] + t["length"]] = array.tobytes()
    where = folder.parent / f"{folder.name}-python"
    where.mkdir()
    shutil.copy(folder / "model.onnx", where)
    (where / "weights.bin").write_bytes(bytes(buffer))
    return ort.InferenceSession(str(where / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def python_side(site):
    """ONNX Runtime (Python) on the page's own files (graph + the buffer its weights read,
    built from Python's decode), the preprocessed photos and their top-1 classes."""
    from squeezenet.lite.preprocess import Preprocessing

    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} is absent (the shared reference data)")
    root, _ = site
    m = manifest(root / "shipped")
    session = _python_runtime(root / "shipped")
    pre = Preprocessing(m["preprocess"])
    photos = sorted(PHOTOS.glob("*.JPEG"))
    inputs = np.stack([pre(p) for p in photos]).astype(np.float32)
    logits = np.concatenate([session.run(None, {"input": b})[0] for b in np.split(inputs, 10)])
    (root / "inputs.bin").write_bytes(inputs.tobytes())
    (root / "photos").symlink_to(PHOTOS)
    return photos, logits.argmax(axis=1).tolist(), inputs.shape


def test_same_tensors_give_the_same_top1_as_onnx_runtime_python(page, python_side):
    photos, top1, shape = python_side
    theirs = page.evaluate(
        """async ([n, size]) => {
            const data = new Float32Array(await (await fetch('/inputs.bin')).arrayBuffer());
            const out = [];
            for (let i = 0; i < n; i++) {
                const x = data.slice(i * size, (i + 1) * size);
                out.push((await window.squeezenetWeb.classifyTensor(x)).top[0][0]);
            }
            return out;
        }""",
        [shape[0], int(np.prod(shape[1:]))],
    )
    assert theirs == top1


def test_the_pages_own_photo_decoding_agrees_on_97_of_100(page, python_side):
    photos, top1, _ = python_side
    theirs = page.evaluate(
        """async (names) => {
            const out = [];
            for (const name of names) {
                out.push((await window.squeezenetWeb.classifyUrl('/photos/' + name)).index);
            }
            return out;
        }""",
        [p.name for p in photos],
    )
    agree = sum(a == b for a, b in zip(theirs, top1))
    assert agree >= 97, f"{agree}/100 agree"


def test_the_shipped_page_shows_a_photo_result(page, site, python_side):
    root, _ = site
    photos, top1, _ = python_side
    top5, error = _upload(page, photos[0])
    assert error == "" and len(top5.splitlines()) == 5
    assert "the model took" in page.text_content("#timing")
    size = manifest(root / "shipped")["weights"]["bytes"]
    assert f"Downloaded: the model {size:,} bytes (model.sqz)" in page.text_content("#bytes")


def test_float16_weights_give_python_s_logits(browser, site):
    """A .pth exported to the page travels as float16; the page widens it as Python does."""
    from helpers import save_described, tiny_model
    from web_helpers import USER_CLASSES

    root, base = site
    pth = save_described(tiny_model(len(USER_CLASSES)).eval(), root / "pets.pth", USER_CLASSES)
    argv = ["export", "-w", str(pth), "-f", "web", "-o", str(root / "pets-fp16")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--runtime-dir", str(ORT_WEB)]) == 0
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)
    ours = _python_runtime(root / "pets-fp16").run(None, {"input": x})[0][0]
    p = browser.new_page()
    try:
        p.goto(base + "pets-fp16/index.html")
        p.evaluate("window.squeezenetWeb.ready")
        theirs = p.evaluate(
            "(x) => window.squeezenetWeb.classifyTensor(new Float32Array(x))", x.ravel().tolist()
        )
    finally:
        p.close()
    assert np.abs(np.array(theirs["logits"]) - ours).max() < 1e-4
    assert [name for _, name, _ in theirs["top"]] == [USER_CLASSES[i] for i in np.argsort(-ours)]


@pytest.mark.parametrize("how", ["cdn unreachable", "runtime tampered with"])
def test_a_runtime_that_does_not_load_shows_why(browser, site, how):
    root, base = site
    folder = root / f"runtime-{how.split()[0]}"
    if how == "cdn unreachable":  # the default page: ONNX Runtime Web from the pinned URL
        argv = ["export", "-w", "squeezenet1_1.dc_in1k", "-f", "web", "-o", str(folder)]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0
    else:  # a local copy that no longer matches the integrity hash in index.html
        shutil.copytree(root / "shipped", folder)
        with open(folder / "ort" / "ort.wasm.min.js", "a") as f:
            f.write("\n// changed\n")
    p = browser.new_page()
    try:
        p.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
        p.goto(f"{base}{folder.name}/index.html")
        p.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert p.text_content("#error").startswith("ONNX Runtime Web did not load from ")
    finally:
        p.close()


def test_the_page_refuses_exactly_what_python_refuses(page, site):
    """Hostile files (structure-aware header edits, flipped bytes with a valid checksum, a
    NaN in the metadata, a 5000-digit integer, a shape of floats): the page's decoder
    accepts a file exactly when Python's reader does, and then decodes the same tensors."""
    import random

    from hostile_weights import VALID_SQZ, hostile_sqz, mutated_sqz_bytes

    root, base = site
    shapes = {k: list(v.shape) for k, v in fileformat.from_bytes(VALID_SQZ).state_dict().items()}
    folder = root / "hostile"
    folder.mkdir()
    files = []
    rng = random.Random(43)
    for i in range(60):
        files.append(folder / f"{i}.sqz")
        (hostile_sqz if i % 2 else mutated_sqz_bytes)(rng, files[-1])
    _, version, n = struct.unpack_from("<8sHI", VALID_SQZ)
    text = zlib.decompress(VALID_SQZ[14 : 14 + n]).decode()
    shape = json.dumps(shapes[next(iter(shapes))], separators=(",", ":"))
    for name, edited in (
        ("nan", text.replace('"meta":{}', '"meta":{"x":NaN}')),
        ("digits", text.replace('"meta":{}', '"meta":{"x":' + "1" * 5000 + "}")),
        ("float", text.replace(shape, shape.replace(",", ".0,"), 1)),  # [64.0, 3.0, ...]
    ):
        assert edited != text
        hb = zlib.compress(edited.encode())
        body = struct.pack("<8sHI", fileformat.MAGIC, version, len(hb)) + hb
        files.append(folder / f"{name}.sqz")
        files[-1].write_bytes(_with_crc(body + VALID_SQZ[14 + n : -4]))
    accepted = []
    for path in files:
        try:
            python = tensor_hashes(path.read_bytes(), shapes)
        except fileformat.CompressedFormatError:
            python = None
        js = page.evaluate(
            """async ([url, shapes]) => {
                try { return await window.squeezenetWeb.decodeHashes(url, shapes); }
                catch (e) { return null; }
            }""",
            [f"{base}hostile/{path.name}", shapes],
        )
        assert (js and js["hashes"]) == python, path.name
        if python is not None:
            accepted.append(path.name)
    assert "nan.sqz" in accepted and len(accepted) >= 2
    assert "digits.sqz" not in accepted and "float.sqz" not in accepted


def _y4m(photo: Path, path: Path, width: int = 640, height: int = 480) -> None:
    """``photo`` as a two-frame YUV4MPEG2 video (4:2:0): what Chromium's fake camera plays."""
    ycc = np.asarray(Image.open(photo).convert("RGB").resize((width, height)).convert("YCbCr"))
    planes = [ycc[..., 0]] + [
        ycc[..., c].reshape(height // 2, 2, width // 2, 2).mean((1, 3)).round().astype(np.uint8)
        for c in (1, 2)
    ]
    frame = b"FRAME\n" + b"".join(p.tobytes() for p in planes)
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + 2 * frame)


@contextlib.contextmanager
def _camera_page(browser, base: str, *flags: str):
    """The shipped page in a Chromium of its own, started with ``flags`` (its fake camera)."""
    other = browser.browser_type.launch(
        executable_path=_chromium(), args=["--no-sandbox", "--disable-dev-shm-usage", *flags]
    )
    try:
        p = other.new_page()
        p.goto(base + "shipped/index.html")
        p.evaluate("window.squeezenetWeb.ready")
        yield p
    finally:
        other.close()


def test_a_camera_photo_is_classified(browser, site, python_side, tmp_path):
    root, base = site
    photos, top1, _ = python_side
    zebra = next(i for i, p in enumerate(photos) if "zebra" in p.name)
    video = tmp_path / "zebra.y4m"
    _y4m(photos[zebra], video)
    flags = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
    with _camera_page(browser, base, *flags, f"--use-file-for-fake-video-capture={video}") as p:
        p.click("#camera")
        p.wait_for_function("document.getElementById('video').videoWidth > 0", timeout=30_000)
        p.click("#snap")
        p.wait_for_function(
            "document.getElementById('top5').children.length > 0"
            " || !document.getElementById('error').hidden",
            timeout=60_000,
        )
        assert p.is_hidden("#error"), p.text_content("#error")
        first = p.inner_text("#top5").splitlines()[0]
        assert p.text_content("#timing").startswith("the camera's photo: the model took")
    assert first.split(" — ")[0] == manifest(root / "shipped")["classes"][top1[zebra]] == "zebra"


@pytest.mark.parametrize(
    "flags, reason",
    [
        (("--use-fake-device-for-media-stream",), "Permission denied"),  # the user said no
        ((), "Requested device not found"),  # no camera at all
    ],
)
def test_a_camera_that_is_refused_or_absent_shows_why(browser, site, flags, reason):
    _, base = site
    with _camera_page(browser, base, *flags) as p:
        p.click("#camera")
        p.wait_for_selector("#error:not([hidden])", timeout=30_000)
        assert p.text_content("#error") == f"The camera is not available: {reason}"
        assert p.is_hidden("#snap") and p.is_hidden("#video")
