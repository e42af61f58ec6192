// The page: download the model (manifest.json names its files), decode its weights, start
// ONNX Runtime Web on them, then classify the photos the user chooses, drops or takes.
// Every failure ends as a message in the page (#error), never as a blank page.

import { decodeSqz, halfToFloat, ITEM_BYTES } from "./sqz.js";
import { resizedSize, rgbOf, toTensor } from "./preprocess.js";

// Photos above this many pixels are scaled down by the browser's own decoder first (their
// RGBA copy alone would take hundreds of MB); below it the page resizes exactly as Pillow.
const MAX_EXACT_PIXELS = 4096 * 4096;

const $ = (id) => document.getElementById(id);
const number = (n) => Math.round(n).toLocaleString("en-US");
const state = { downloads: {}, timings: {} };

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
}

function setStatus(text) {
  $("status").textContent = text;
}

// Anything not handled below still reaches the page (unless a message is shown already).
const unexpected = (message) => $("error").hidden && showError(`Unexpected error: ${message}`);
window.addEventListener("error", (e) => unexpected(e.message));
window.addEventListener("unhandledrejection", (e) => unexpected(e.reason?.message ?? e.reason));

async function download(file, what) {
  let response;
  try {
    response = await fetch(file);
  } catch (e) {
    throw new Error(`Could not download ${what} (${file}): ${e.message}`);
  }
  if (!response.ok) throw new Error(`Could not download ${what} (${file}): HTTP ${response.status}`);
  const data = new Uint8Array(await response.arrayBuffer());
  state.downloads[file] = data.length;
  return data;
}

/** Put one tensor's values at its place in the buffer the graph's weights read from. */
function place(buffer, t, array) {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  if (bytes.length !== t.length) {
    throw new Error(`tensor '${t.name}': ${bytes.length} bytes decoded, the graph needs ${t.length}`);
  }
  buffer.set(bytes, t.offset);
}

/** The weights buffer, from the .sqz (decoded here) or the float16 file. */
async function loadWeights(manifest) {
  const buffer = new Uint8Array(manifest.buffer_bytes);
  const file = manifest.weights.file;
  const data = await download(file, "the model's weights");
  setStatus("Decoding the weights…");
  const t0 = performance.now();
  let meta = {};
  if (manifest.weights.format === "sqz") {
    const expected = Object.fromEntries(manifest.tensors.map((t) => [t.name, t.shape]));
    const decoded = await decodeSqz(data, expected, file);
    for (const t of manifest.tensors) {
      const d = decoded.tensors.get(t.name);
      if (d.dtype !== t.dtype) {
        throw new Error(`${file}: tensor '${t.name}' is ${d.dtype}, the graph needs ${t.dtype}`);
      }
      place(buffer, t, d.data);
    }
    meta = decoded.meta;
  } else {
    for (const t of manifest.tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const stored = data.subarray(t.at, t.at + n * ITEM_BYTES[t.stored]);
      if (stored.length !== n * ITEM_BYTES[t.stored]) throw new Error(`${file} is truncated`);
      const values =
        t.stored === "float16" ? halfToFloat(new Uint16Array(data.buffer, t.at, n)) : stored;
      place(buffer, t, values);
    }
  }
  state.timings.decode_ms = performance.now() - t0;
  return { buffer, meta };
}

async function startRuntime(manifest, graph, buffer) {
  if (typeof ort === "undefined") {
    const where = manifest.runtime.local ? manifest.runtime.src : `${manifest.runtime.src} (offline?)`;
    throw new Error(
      `ONNX Runtime Web did not load from ${where}. Export with --runtime-dir for a page ` +
        "that carries its own copy.",
    );
  }
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
  ort.env.wasm.numThreads = self.crossOriginIsolated
    ? Math.min(4, navigator.hardwareConcurrency || 1)
    : 1;
  ort.env.wasm.wasmPaths = new URL(manifest.runtime.wasm_base, location.href).href;
  return ort.InferenceSession.create(graph, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
    freeDimensionOverrides: { batch: 1 }, // one photo at a time: shapes fixed at load
    externalData: [{ path: manifest.graph.buffer, data: buffer }],
  });
}

async function load() {
  const t0 = performance.now();
  setStatus("Downloading the model…");
  const manifestBytes = await download("manifest.json", "the page's manifest");
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  const [graph, weights] = await Promise.all([
    download(manifest.graph.file, "the model's graph"),
    loadWeights(manifest),
  ]);
  setStatus("Starting ONNX Runtime…");
  const session = await startRuntime(manifest, graph, weights.buffer);
  // The export wrote the preprocessing (the .sqz's, else the model's); class names come from
  // the .sqz itself when it has them, so that a model.sqz swapped in names its own.
  const preprocess = manifest.preprocess;
  const classes = Array.isArray(weights.meta.classes) ? weights.meta.classes : manifest.classes;
  if (!preprocess) throw new Error("The model describes no preprocessing: the page cannot feed it photos.");
  state.timings.load_ms = performance.now() - t0;
  const model = { manifest, session, preprocess, classes };
  showBytes(manifest);
  setStatus("Ready: choose a photo, drop one here, or use the camera.");
  $("controls").hidden = false;
  return model;
}

function showBytes(manifest) {
  const runtime = performance
    .getEntriesByType("resource")
    .filter((e) => /ort[-.]/.test(e.name))
    .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0);
  const weights = state.downloads[manifest.weights.file];
  const graph = state.downloads[manifest.graph.file];
  state.runtime_bytes = runtime;
  $("bytes").textContent =
    `Downloaded: the model ${number(weights)} bytes (${manifest.weights.file}), its graph ` +
    `${number(graph)} bytes, ONNX Runtime Web ${manifest.runtime.version} ` +
    `${runtime ? `${number(runtime)} bytes` : "(from the cache)"}. ` +
    `Weights decoded in ${number(state.timings.decode_ms)} ms.`;
}

/** Logits of one preprocessed image (Float32Array, 3 x crop x crop) and the time it took. */
async function run(model, tensor) {
  const crop = model.preprocess.crop;
  const input = new ort.Tensor("float32", tensor, [1, 3, crop, crop]);
  const t0 = performance.now();
  const outputs = await model.session.run({ [model.session.inputNames[0]]: input });
  const ms = performance.now() - t0;
  return { logits: outputs[model.session.outputNames[0]].data, ms };
}

/** The k likeliest classes: [index, name, probability], softmax in float64. */
function topK(model, logits, k = 5) {
  const max = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  const order = exps.map((_, i) => i).sort((a, b) => exps[b] - exps[a] || a - b);
  return order.slice(0, k).map((i) => [i, model.classes ? model.classes[i] : null, exps[i] / total]);
}

function loadImage(blob, name) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(blob);
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      resolve(img);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error(`${name} is not an image this browser can read (JPEG, PNG, WebP, GIF, ...).`));
    };
    img.src = url;
  });
}

/** A photo -> the model's input, with the note to show (empty when it went as usual). */
async function imageTensor(model, blob, name) {
  const img = await loadImage(blob, name);
  const p = model.preprocess;
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  if (!w || !h) throw new Error(`${name} has no pixels.`);
  try {
    resizedSize(w, h, p.resize);
  } catch (e) {
    throw new Error(`${name} (${w} x ${h}): ${e.message}.`);
  }
  let note = "";
  const options = { colorSpaceConversion: "none", premultiplyAlpha: "none" };
  let [bw, bh] = [w, h];
  if (w * h > MAX_EXACT_PIXELS) {
    const factor = (4 * p.resize) / Math.min(w, h);
    [bw, bh] = [Math.max(1, Math.round(w * factor)), Math.max(1, Math.round(h * factor))];
    Object.assign(options, { resizeWidth: bw, resizeHeight: bh, resizeQuality: "high" });
    note =
      `${name} is ${w} x ${h} (${(w * h / 1e6).toFixed(0)} megapixels): the browser scaled it to ` +
      `${bw} x ${bh} first, so the result may differ slightly from squeezenet predict's.`;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, options);
  } catch (e) {
    throw new Error(`${name} (${w} x ${h}) could not be decoded: ${e.message}`);
  }
  const canvas = new OffscreenCanvas(bw, bh);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const pixels = ctx.getImageData(0, 0, bw, bh).data;
  const preview = $("preview");
  const s = Math.min(1, 320 / Math.max(bw, bh));
  preview.width = Math.round(bw * s);
  preview.height = Math.round(bh * s);
  preview.getContext("2d").drawImage(bitmap, 0, 0, preview.width, preview.height);
  preview.hidden = false;
  bitmap.close();
  return { tensor: toTensor(rgbOf(pixels, bw * bh), bw, bh, p), note };
}

async function classifyBlob(model, blob, name) {
  const t0 = performance.now();
  const { tensor, note } = await imageTensor(model, blob, name);
  const t1 = performance.now();
  const { logits, ms } = await run(model, tensor);
  const top = topK(model, logits);
  return { top, ms, preprocess_ms: t1 - t0, note, index: top[0][0] };
}

function showResult(result, name) {
  const list = $("top5");
  list.replaceChildren(
    ...result.top.map(([i, label, p]) => {
      const li = document.createElement("li");
      li.textContent = `${label ?? `class ${i}`} — ${(100 * p).toFixed(1)}%`;
      return li;
    }),
  );
  $("timing").textContent =
    `${name}: the model took ${result.ms.toFixed(1)} ms (reading and resizing the photo ` +
    `${result.preprocess_ms.toFixed(1)} ms).`;
  $("note").textContent = result.note;
}

async function onPhoto(model, blob, name) {
  $("error").hidden = true;
  try {
    const result = await classifyBlob(model, blob, name);
    showResult(result, name);
  } catch (e) {
    $("top5").replaceChildren();
    $("timing").textContent = "";
    showError(e.message);
  }
}

function wire(model) {
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) onPhoto(model, file, file.name);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) onPhoto(model, file, file.name);
  });
  if (navigator.mediaDevices?.getUserMedia) {
    const camera = $("camera");
    camera.hidden = false;
    camera.addEventListener("click", async () => {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
        const video = $("video");
        video.srcObject = stream;
        video.hidden = false;
        $("snap").hidden = false;
        await video.play();
      } catch (e) {
        showError(`The camera is not available: ${e.message}`);
      }
    });
    $("snap").addEventListener("click", () => {
      const video = $("video");
      const canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0);
      canvas.toBlob((blob) => onPhoto(model, blob, "the camera's photo"), "image/png");
    });
  }
}

async function sha256(array) {
  const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

const ready = load().then(
  (model) => {
    wire(model);
    return model;
  },
  (e) => {
    setStatus("The model could not be loaded.");
    showError(e.message);
    throw e;
  },
);
ready.catch(() => {}); // shown above
const loaded = ready.then(() => ({ timings: state.timings, downloads: state.downloads }));
loaded.catch(() => {});

// For scripted use and the browser tests.
window.squeezenetWeb = {
  ready: loaded,
  async classifyTensor(tensor) {
    const model = await ready;
    const { logits, ms } = await run(model, tensor);
    return { top: topK(model, logits), ms, logits: Array.from(logits) };
  },
  async classifyUrl(url) {
    const model = await ready;
    const blob = await (await fetch(url)).blob();
    return classifyBlob(model, blob, url);
  },
  /** sha256 of every tensor a .sqz decodes to, given the shapes it must have. */
  async decodeHashes(url, expected) {
    const data = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const t0 = performance.now();
    const decoded = await decodeSqz(data, expected, url);
    const ms = performance.now() - t0;
    const hashes = {};
    for (const [name, t] of decoded.tensors) hashes[name] = [t.dtype, await sha256(t.data)];
    return { hashes, ms };
  },
};
