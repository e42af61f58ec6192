// A decoder of .sqz compressed weights files (format version 3), written from
// docs/sqz-format.md. It applies the checks and limits of the Python reader
// (squeezenet.weights.sqz): every size is validated before anything of that size is
// allocated, so a truncated, corrupt or hostile file raises SqzError, never hangs or
// exhausts memory. Decoded tensors are bit-identical to Python's.

export class SqzError extends Error {}

const MAGIC = [0x89, 0x53, 0x51, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a];
const PREFIX_BYTES = 14; // magic, u16 version, u32 header length
export const VERSIONS = [1, 2, 3];
const MAX_HEADER_BYTES = 4 << 20;
const MAX_TENSORS = 10000;
const MAX_TOTAL_ELEMENTS = 2 ** 27;
const MAX_RAW_ELEMENTS = 2 ** 24;
const MAX_HEADER_DEPTH = 8;
const MAX_ELEMENTS_PER_BYTE = 1024;
const MIN_ELEMENTS_ALLOWED = 2 ** 21;
const MAX_ALPHABET = 2 ** 16;
const HUFFMAN_MAX_LEN = 16;
const ANS_PRECISION = 24; // bits of the rANS model's probabilities
const ANS_SLACK_BITS = 128;
const CODERS = ["ans", "huffman"];
const HEADER_KEYS = ["format", "model", "coder", "tensors", "raw_bytes", "meta"];
const ENTRY_KEYS = {
  shared: ["name", "shape", "encoding", "bytes", "block"],
  raw: ["name", "shape", "encoding", "stored", "dtype"],
};
export const ITEM_BYTES = { float32: 4, float16: 2, int64: 8, int32: 4, uint8: 1, bool: 1 };
const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array, // IEEE half-precision bit patterns
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

const fail = (source, problem) => new SqzError(`${source}: ${problem}`);
const short = (value, n) => String(value).slice(0, n);
const repr = (value) => `'${value}'`; // how Python's messages quote a name
const isInt = (v) => typeof v === "number" && Number.isInteger(v);
const prod = (shape) => shape.reduce((a, b) => a * b, 1);

// ---- checksums and inflating ------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The bytes `data` inflates to (`format`: "deflate" = zlib, "deflate-raw"), or null when
 * they would exceed `limit`: the stream is read chunk by chunk and dropped past it. */
async function inflate(data, format, limit) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream(format));
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---- bytes, varints, Exp-Golomb tables --------------------------------------------------

class ByteReader {
  constructor(bytes, what) {
    this.bytes = bytes;
    this.pos = 0;
    this.what = what;
  }
  get remaining() {
    return this.bytes.length - this.pos;
  }
  fail(problem) {
    return new SqzError(`${this.what}: ${problem}`);
  }
  raw(n) {
    if (n < 0 || n > this.remaining) {
      throw this.fail(`truncated (needs ${n} bytes at offset ${this.pos}, ${this.remaining} left)`);
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  varint(limit = 2 ** 62) {
    let value = 0;
    let scale = 1;
    let shift = 0;
    for (;;) {
      const byte = this.raw(1)[0];
      value += (byte & 0x7f) * scale; // exact below 2**53; larger values fail the limit
      if (!(byte & 0x80)) break;
      shift += 7;
      scale *= 128;
      if (shift > 63) throw this.fail("malformed varint (more than 9 bytes)");
    }
    if (value > limit) throw this.fail(`declared size ${value} exceeds the limit ${limit}`);
    return value;
  }
  blob(limit) {
    const n = this.varint(limit === undefined ? this.remaining : Math.min(limit, this.remaining));
    return this.raw(n);
  }
  expectEnd() {
    if (this.remaining) throw this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}

/** `count` non-negative integers of one Exp-Golomb table (a blob: order k, then the codes
 * MSB first), each at most `limit`. */
function decodeUints(r, count, limit) {
  const blob = r.blob();
  if (count === 0) return new Float64Array(0);
  if (!blob.length) throw r.fail("empty integer table");
  const k = blob[0];
  if (k > 40) throw r.fail(`bad Exp-Golomb order ${k}`);
  const nBits = 8 * (blob.length - 1);
  const bit = (p) => (blob[1 + (p >> 3)] >> (7 - (p & 7))) & 1;
  const starts = new Float64Array(count);
  const widths = new Float64Array(count);
  let p = 0;
  let next = 0; // the first 1 bit at or after p (searched forward once overall)
  let maxWidth = 0;
  for (let i = 0; i < count; i++) {
    if (p > nBits) throw r.fail("truncated integer table");
    if (next < p) next = p;
    while (next < nBits && !bit(next)) next++;
    const w = next - p + k + 1;
    starts[i] = next;
    widths[i] = w;
    if (w > maxWidth) maxWidth = w;
    p = next + w;
  }
  if (p > nBits) throw r.fail("truncated integer table");
  if (maxWidth > 41) throw r.fail("corrupt integer table");
  const values = new Float64Array(count);
  const offset = 2 ** k;
  for (let i = 0; i < count; i++) {
    let v = 0;
    for (let j = 0; j < widths[i]; j++) v = v * 2 + bit(starts[i] + j);
    values[i] = v - offset;
  }
  for (let i = 0; i < count; i++) {
    if (values[i] > limit) throw r.fail(`table value ${values[i]} exceeds the limit ${limit}`);
  }
  return values;
}

// ---- entropy coders ---------------------------------------------------------------------

/** The rANS model's cumulative table: constriction's "fast" quantization of the exact
 * counts (ContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast, 24-bit
 * precision), computed in the same float64 operations. */
function ansCdf(counts, n) {
  const size = counts.length;
  const probs = new Float64Array(size);
  for (let i = 0; i < size; i++) probs[i] = counts[i] / n;
  let normalization = 0;
  for (let i = 0; i < size; i++) normalization += probs[i];
  const freeWeight = 2 ** ANS_PRECISION - size;
  const scale = freeWeight / normalization;
  const cdf = new Uint32Array(size + 1);
  let cumulative = 0;
  for (let i = 0; i < size; i++) {
    cdf[i] = Math.min(Math.trunc(cumulative * scale), 0xffffffff) + i;
    cumulative += probs[i];
  }
  cdf[size] = 2 ** ANS_PRECISION;
  return cdf;
}

/** constriction's AnsCoder (32-bit words, 64-bit state) decoding `n` symbols: the words
 * are a stack read from the end; the state is kept as two 32-bit halves in doubles, with
 * every product split so that it stays exact. null when the payload is malformed. */
function ansDecode(payload, counts, n) {
  if (payload.length % 4) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  let top = payload.length / 4;
  const word = () => view.getUint32(4 * --top, true);
  let hi = 0;
  let lo = 0;
  if (top > 0) {
    lo = word();
    if (lo === 0) return null; // compressed data never ends in a zero word
    if (top > 0) {
      hi = lo;
      lo = word();
    }
  }
  const cdf = ansCdf(counts, n);
  const last = counts.length - 1;
  const mask = 2 ** ANS_PRECISION - 1;
  // start[b]: the last symbol whose cdf entry is <= b * 2**12, so that the symbol of a
  // quantile in bucket b lies in start[b]..start[b + 1] (a speed-up, not a change of result).
  const BUCKET_BITS = 12;
  const buckets = 2 ** (ANS_PRECISION - BUCKET_BITS);
  const start = new Int32Array(buckets + 1);
  for (let q = 0, sym = 0; q < buckets; q++) {
    while (sym < last && cdf[sym + 1] <= q << BUCKET_BITS) sym++;
    start[q] = sym;
  }
  start[buckets] = last;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const quantile = lo & mask;
    const bucket = quantile >>> BUCKET_BITS;
    let a = start[bucket]; // the last symbol whose cdf entry is <= quantile
    let b = start[bucket + 1];
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      if (cdf[mid] <= quantile) a = mid;
      else b = mid - 1;
    }
    out[i] = a;
    const prob = cdf[a + 1] - cdf[a];
    // state = hi * 2**32 + lo; state >> 24 = sh * 2**16 + sl, split so that every product
    // and sum below stays under 2**53 (exact in a double). `>>> 0` takes a value mod 2**32.
    const sh = hi >>> 8;
    const sl = ((hi & 0xff) << 8) | (lo >>> 24);
    const prodHi = sh * prob; // below 2**48
    const prodLo16 = (prodHi >>> 0) & 0xffff;
    const t = prodLo16 * 65536 + sl * prob + (quantile - cdf[a]);
    lo = t >>> 0;
    hi = (prodHi - prodLo16) / 65536 + (t - lo) / 4294967296;
    if (hi === 0 && top > 0) {
      hi = lo;
      lo = word();
    }
  }
  return out;
}

/** Refuse counts the payload cannot hold: n symbols of a static model cost at least their
 * empirical entropy in bits. */
function checkAnsPayload(r, counts, payloadBytes) {
  let n = 0;
  for (const c of counts) n += c;
  let infoBits = 0;
  for (const c of counts) if (c > 0) infoBits += c * Math.log2(n / c);
  if (infoBits > 8 * payloadBytes + ANS_SLACK_BITS) {
    throw r.fail(
      `${n} symbols declared, more than the ${payloadBytes}-byte payload holds ` +
        `(their counts need ${Math.round(infoBits / 8).toLocaleString("en-US")} bytes)`,
    );
  }
}

function huffmanProblem(lengths) {
  let kraft = 0;
  for (const l of lengths) {
    if (l < 0 || l > HUFFMAN_MAX_LEN) return `code lengths outside 0..${HUFFMAN_MAX_LEN}`;
    if (l > 0) kraft += 2 ** -l;
  }
  return kraft > 1 ? "code lengths violate the Kraft inequality" : null;
}

/** Canonical Huffman decoding with a 2**16-entry table; null when the data runs out or
 * meets a code that is not assigned. */
function huffmanDecode(payload, lengths, n) {
  const used = [];
  for (let s = 0; s < lengths.length; s++) if (lengths[s] > 0) used.push(s);
  used.sort((x, y) => lengths[x] - lengths[y] || x - y);
  const symLut = new Int32Array(1 << HUFFMAN_MAX_LEN);
  const lenLut = new Uint8Array(1 << HUFFMAN_MAX_LEN);
  let code = 0;
  let prevLen = 0;
  for (const s of used) {
    code *= 2 ** (lengths[s] - prevLen);
    prevLen = lengths[s];
    const shift = HUFFMAN_MAX_LEN - lengths[s];
    const lo = code * 2 ** shift;
    symLut.fill(s, lo, lo + 2 ** shift);
    lenLut.fill(lengths[s], lo, lo + 2 ** shift);
    code += 1;
  }
  const nBits = 8 * payload.length;
  const byte = (i) => (i < payload.length ? payload[i] : 0);
  const window = (p) => {
    const b = p >> 3;
    const v24 = (byte(b) << 16) | (byte(b + 1) << 8) | byte(b + 2);
    return (v24 >>> (8 - (p & 7))) & 0xffff;
  };
  const out = new Int32Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (pos >= nBits) return null;
    const w = window(pos);
    if (!lenLut[w]) return null;
    out[i] = symLut[w];
    pos += lenLut[w];
  }
  return pos > nBits ? null : out;
}

/** `n` symbols below `alphabet`: the stream's model (counts or code lengths), then its
 * payload. */
function decodeSymbols(r, alphabet, n, coder) {
  if (coder === "ans") {
    const counts = decodeUints(r, alphabet, n);
    let total = 0;
    for (const c of counts) total += c;
    if (total !== n) throw r.fail(`symbol counts sum to ${total}, expected ${n}`);
    const payload = r.blob();
    const used = [];
    for (let s = 0; s < alphabet; s++) if (counts[s] > 0) used.push(s);
    if (used.length <= 1) return new Int32Array(n).fill(used.length ? used[0] : 0);
    checkAnsPayload(
      r,
      used.map((s) => counts[s]),
      payload.length,
    );
    const out = ansDecode(payload, counts, n);
    // The exact counts double as an integrity check on the payload.
    const seen = new Float64Array(alphabet);
    if (out) for (const s of out) seen[s] += 1;
    if (!out || seen.some((c, s) => c !== counts[s])) throw r.fail("corrupt ANS payload");
    return out;
  }
  if (coder === "huffman") {
    const lengths = decodeUints(r, alphabet, HUFFMAN_MAX_LEN);
    const problem = huffmanProblem(lengths);
    if (problem) throw r.fail(problem);
    const payload = r.blob();
    const used = [];
    let shortest = Infinity;
    for (let s = 0; s < alphabet; s++) {
      if (lengths[s] > 0) {
        used.push(s);
        shortest = Math.min(shortest, lengths[s]);
      }
    }
    if (used.length <= 1) {
      if (n && !used.length) throw r.fail("symbols declared but no Huffman codes");
      return new Int32Array(n).fill(used.length ? used[0] : 0);
    }
    if (n * shortest > 8 * payload.length) {
      throw r.fail(`${n} symbols declared, more than the ${payload.length}-byte payload holds`);
    }
    const out = huffmanDecode(payload, lengths, n);
    if (!out) throw r.fail("corrupt Huffman payload");
    return out;
  }
  throw r.fail(`unknown coder '${coder}'`);
}

// ---- shared (pruned, weight-shared) tensors ---------------------------------------------

/** Codebook keys (order-preserving uint32 images of float32 values) back to floats. */
function keysToFloats(keys) {
  const bits = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] >>> 0;
    bits[i] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  }
  return new Float32Array(bits.buffer);
}

/** One shared tensor's section, as a dense Float32Array. */
function decodeShared(data, shape, coder, what, block) {
  const r = new ByteReader(data, what);
  const numel = prod(shape);
  if (block < 1 || numel % block) {
    throw r.fail(`block size ${block} does not divide the tensor's ${numel} elements`);
  }
  const n = r.varint(numel);
  if (n % block) throw r.fail(`${n} non-zeros are not whole blocks of ${block}`);
  const k = r.varint(Math.min(n, MAX_ALPHABET));
  if ((k === 0) !== (n === 0)) throw r.fail(`${n} non-zeros but a codebook of ${k} values`);
  let codebook = new Float32Array(0);
  if (k) {
    const deltas = decodeUints(r, k, 0xffffffff);
    const keys = new Float64Array(k);
    let key = 0;
    for (let i = 0; i < k; i++) {
      key += deltas[i] + (i ? 1 : 0);
      keys[i] = key;
    }
    if (keys[k - 1] > 0xffffffff) throw r.fail("codebook keys out of range");
    codebook = keysToFloats(keys);
    if (codebook.some((v) => v === 0 || !Number.isFinite(v))) {
      throw r.fail("codebook has zero, NaN or infinite values");
    }
  }
  const dense = new Float32Array(numel);
  if (n) {
    const units = numel / block;
    const nUnits = n / block;
    const escape = r.varint(Math.max(units, 1));
    if (escape < 1) throw r.fail("escape threshold must be positive");
    // Each escape skips >= 1 position, so a valid stream is at most `units` symbols long.
    const m = r.varint(units);
    if (m < nUnits) throw r.fail(`${m} gap symbols for ${nUnits} non-zero blocks`);
    if (escape + 1 > MAX_ALPHABET + 1) {
      throw r.fail(`gap alphabet of ${escape + 1} symbols is too large`);
    }
    const gaps = decodeSymbols(r, escape + 1, m, coder);
    let entries = 0;
    for (const g of gaps) if (g !== escape) entries++;
    if (entries !== nUnits) {
      throw r.fail(`gap stream holds ${entries} entries, expected ${nUnits}`);
    }
    const positions = new Float64Array(nUnits);
    let end = 0;
    let j = 0;
    for (const g of gaps) {
      if (g === escape) end += escape;
      else {
        end += g + 1;
        positions[j++] = end - 1;
      }
    }
    if (positions[nUnits - 1] >= units) {
      throw r.fail(`positions run past the tensor's ${numel} elements`);
    }
    const indices = decodeSymbols(r, k, n, coder);
    for (let u = 0, i = 0; u < nUnits; u++) {
      for (let b = 0; b < block; b++, i++) dense[positions[u] * block + b] = codebook[indices[i]];
    }
  }
  r.expectEnd();
  return dense;
}

// ---- raw tensors --------------------------------------------------------------------------

/** float16 bit patterns to float32 values (exact). */
export function halfToFloat(bits) {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1024 + frac) * 2 ** (exp - 25);
  }
  return out;
}

/** numpy's astype for the pairs a file can hold; the exact conversions only. */
function convert(array, stored, dtype, what) {
  if (stored === dtype) return array;
  if (dtype === "float32") {
    if (stored === "float16") return halfToFloat(array);
    if (stored !== "int64") return Float32Array.from(array, (v) => Math.fround(v));
  }
  if (dtype === "int64" && stored !== "float16" && stored !== "float32") {
    return BigInt64Array.from(array, (v) => BigInt(v));
  }
  if (dtype === "bool" && stored === "uint8") return Uint8Array.from(array, (v) => (v ? 1 : 0));
  throw new SqzError(`${what}: stored as ${stored}, wanted as ${dtype}: not supported here`);
}

/** The raw tensors, in header order, from the inflated raw section. */
function readRaw(plain, entries, count) {
  const out = new Map();
  let pos = 0;
  for (const e of entries) {
    const n = prod(e.shape);
    const item = ITEM_BYTES[e.stored];
    // Byte planes: every element's lowest byte, then the next, ...
    const planes = plain.subarray(pos, pos + n * item);
    pos += n * item;
    const bytes = new Uint8Array(n * item);
    for (let b = 0; b < item; b++) {
      for (let i = 0; i < n; i++) bytes[i * item + b] = planes[b * n + i];
    }
    const stored = new ARRAYS[e.stored](bytes.buffer);
    out.set(e.name, convert(stored, e.stored, e.dtype, `tensor ${repr(e.name)}`));
  }
  return out;
}

// ---- the header -------------------------------------------------------------------------

function checkNesting(header, source) {
  const stack = [[header, 1]];
  while (stack.length) {
    const [obj, depth] = stack.pop();
    if (obj !== null && typeof obj === "object") {
      if (depth > MAX_HEADER_DEPTH) {
        throw fail(source, `header nests deeper than ${MAX_HEADER_DEPTH} levels`);
      }
      for (const child of Object.values(obj)) stack.push([child, depth + 1]);
    }
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function checkEntry(e, version) {
  let ok =
    isObject(e) &&
    typeof e.name === "string" &&
    Array.isArray(e.shape) &&
    e.shape.length <= 8 &&
    // No zero-size dimension: (10**9, 0) holds nothing yet declares 10**9 classes.
    e.shape.every((d) => isInt(d) && d >= 1 && d < 2 ** 31);
  if (ok && e.encoding === "shared") {
    ok = isInt(e.bytes) && e.bytes >= 0;
    if ("block" in e) ok = ok && version >= 2 && isInt(e.block) && e.block >= 1 && e.block <= 1024;
  } else if (ok) {
    ok =
      e.encoding === "raw" &&
      typeof e.stored === "string" &&
      typeof e.dtype === "string" &&
      e.stored in ITEM_BYTES &&
      e.dtype in ITEM_BYTES;
  }
  return ok;
}

function checkHeader(h, source, version, expected, fileSize) {
  if (!isObject(h) || h.format !== "squeezenet-compressed") {
    throw fail(source, "header is not a squeezenet-compressed header");
  }
  // Keys this reader does not know are refused: a newer writer's field that changes the
  // meaning of the data must not be silently dropped.
  const unknown = Object.keys(h)
    .filter((k) => !HEADER_KEYS.includes(k))
    .sort();
  if (unknown.length) throw fail(source, `unknown header key ${repr(short(unknown[0], 40))}`);
  if (!CODERS.includes(h.coder)) throw fail(source, `unknown coder ${JSON.stringify(h.coder)}`);
  // The architecture is the graph's: the header's model only has to be well formed.
  if (!isObject(h.model) || typeof h.model.name !== "string") {
    throw fail(source, "the header's model is invalid (an object with a 'name' is expected)");
  }
  if (!Array.isArray(h.tensors) || h.tensors.length > MAX_TENSORS) {
    throw fail(source, "header has no valid tensor list");
  }
  let total = 0;
  for (const e of h.tensors) {
    if (!checkEntry(e, version)) {
      throw fail(source, `malformed tensor entry ${short(JSON.stringify(e), 80)}`);
    }
    const extra = Object.keys(e)
      .filter((k) => !ENTRY_KEYS[e.encoding].includes(k))
      .sort();
    if (extra.length) {
      throw fail(
        source,
        `tensor ${repr(short(e.name, 40))}: unknown key ${repr(short(extra[0], 40))}`,
      );
    }
    total += prod(e.shape);
    if (total > MAX_TOTAL_ELEMENTS) {
      throw fail(source, `declares more than ${MAX_TOTAL_ELEMENTS} elements in all`);
    }
  }
  if (!isInt(h.raw_bytes) || h.raw_bytes < 0) throw fail(source, "header has no valid raw_bytes");
  checkAgainstModel(h, expected, source, fileSize);
}

/** Every declared shape must be one the graph holds, and the total within what a file of
 * this size can justify: checked before any section is decoded. */
function checkAgainstModel(h, expected, source, fileSize) {
  const declared = new Map();
  for (const e of h.tensors) {
    if (declared.has(e.name)) throw fail(source, `tensor ${repr(short(e.name, 40))} is listed twice`);
    declared.set(e.name, e.shape);
  }
  const against = "the graph";
  const tuple = (s) => `(${s.join(", ")}${s.length === 1 ? "," : ""})`;
  for (const [name, shape] of declared) {
    if (!(name in expected)) throw fail(source, `tensor ${repr(short(name, 40))} is not in ${against}`);
    const want = expected[name];
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
      throw fail(
        source,
        `tensor ${repr(name)} has shape ${tuple(shape)}, ${against} needs ${tuple(want)}`,
      );
    }
  }
  const missing = Object.keys(expected)
    .filter((k) => !declared.has(k))
    .sort();
  if (missing.length) throw fail(source, `tensor ${repr(missing[0])} of ${against} is missing`);
  let total = 0;
  for (const shape of declared.values()) total += prod(shape);
  const allowed = Math.max(MIN_ELEMENTS_ALLOWED, MAX_ELEMENTS_PER_BYTE * fileSize);
  if (total > allowed) {
    throw fail(
      source,
      `declares ${total.toLocaleString("en-US")} weights in ${fileSize.toLocaleString("en-US")} ` +
        `bytes (at most ${MAX_ELEMENTS_PER_BYTE} per byte of file are accepted)`,
    );
  }
}

/** JSON as Python's json module reads it: NaN, Infinity and -Infinity are accepted (as
 * null here: no field that the format checks may hold them), an integer of more than 4300
 * digits is refused, and a number written as a float (2.0, 1e3) stays a float: it comes
 * back as a Number object, which arithmetic accepts and the integer checks refuse. */
function parseJson(text) {
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else {
      for (const word of ["NaN", "Infinity", "-Infinity"]) {
        if (text.startsWith(word, i)) {
          out += text.slice(from, i) + "null";
          i += word.length - 1;
          from = i + 1;
          break;
        }
      }
    }
  }
  return JSON.parse(out + text.slice(from), (key, value, context) => {
    const digits = typeof value === "number" && context?.source?.match(/^-?(\d+)$/)?.[1];
    if (digits && digits.length > 4300) {
      throw new Error(`an integer of ${digits.length} digits (at most 4300 are read)`);
    }
    if (Number.isInteger(value) && /[.eE]/.test(context?.source ?? "")) {
      return new Number(value); // eslint-disable-line no-new-wrappers
    }
    return value;
  });
}

async function readHeader(data, source, expected) {
  if (data.length < PREFIX_BYTES + 4) {
    throw fail(source, `truncated (${data.length} bytes is shorter than the fixed header)`);
  }
  if (MAGIC.some((b, i) => data[i] !== b)) {
    throw fail(source, "not a squeezenet compressed file (bad magic bytes)");
  }
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  const version = view.getUint16(8, true);
  const headerLen = view.getUint32(10, true);
  if (!VERSIONS.includes(version)) {
    throw fail(
      source,
      `unsupported format version ${version} (this reader knows versions ${VERSIONS.join(", ")})`,
    );
  }
  if (crc32(data.subarray(0, data.length - 4)) !== view.getUint32(data.length - 4, true)) {
    throw fail(source, "checksum mismatch (the file is truncated or corrupted)");
  }
  if (headerLen > Math.min(MAX_HEADER_BYTES, data.length - PREFIX_BYTES - 4)) {
    throw fail(source, `declared header size ${headerLen} exceeds the file`);
  }
  let header;
  try {
    const text = await inflate(
      data.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLen),
      "deflate",
      MAX_HEADER_BYTES,
    );
    if (text === null) throw fail(source, "header inflates past the size limit");
    header = parseJson(new TextDecoder("utf-8", { fatal: true }).decode(text));
  } catch (e) {
    if (e instanceof SqzError) throw e;
    throw fail(source, `unreadable header (${short(e.message, 200)})`);
  }
  checkNesting(header, source);
  checkHeader(header, source, version, expected, data.length);
  return { header, offset: PREFIX_BYTES + headerLen, version };
}

// ---- the file ------------------------------------------------------------------------------

/**
 * Decode a whole .sqz file.
 * @param {Uint8Array} data the file's bytes
 * @param {Object<string, number[]>} expected each tensor's shape (the graph's weights)
 * @param {string} source how messages name the file
 * @returns {Promise<{version, model, coder, meta, tensors: Map<string, {shape, dtype, data}>}>}
 *   `data` is a Float32Array (or the typed array of the tensor's dtype).
 */
export async function decodeSqz(data, expected, source = "compressed file") {
  const { header, offset: start, version } = await readHeader(data, source, expected);
  const bodyEnd = data.length - 4;
  let offset = start;
  let sections = 0;
  for (const e of header.tensors) if (e.encoding === "shared") sections += e.bytes;
  if (offset + sections + header.raw_bytes !== bodyEnd) {
    throw fail(source, "section sizes do not add up to the file size");
  }
  const tensors = new Map();
  const rawEntries = [];
  for (const e of header.tensors) {
    if (e.encoding === "shared") {
      const section = data.subarray(offset, offset + e.bytes);
      offset += e.bytes;
      const what = `${source}: tensor ${e.name}`;
      const dense = decodeShared(section, e.shape, header.coder, what, e.block ?? 1);
      tensors.set(e.name, { shape: e.shape, dtype: "float32", data: dense });
    } else {
      tensors.set(e.name, null); // filled below, keeps header order
      rawEntries.push(e);
    }
  }
  let rawCount = 0;
  let rawBytes = 0;
  for (const e of rawEntries) {
    rawCount += prod(e.shape);
    rawBytes += prod(e.shape) * ITEM_BYTES[e.stored];
  }
  if (rawCount > MAX_RAW_ELEMENTS) {
    throw fail(source, `declares more than ${MAX_RAW_ELEMENTS} raw elements`);
  }
  if (version < 3) {
    throw fail(
      source,
      `format version ${version} keeps its raw tensors in LZMA, which browsers cannot ` +
        "inflate; `squeezenet export -f web` rewrites it as version 3",
    );
  }
  let plain;
  try {
    plain = await inflate(data.subarray(offset, bodyEnd), "deflate-raw", rawBytes);
  } catch (e) {
    throw fail(source, `corrupt raw-tensor section (${short(e.message, 200)})`);
  }
  if (plain === null) {
    throw fail(source, `raw-tensor section holds more than the expected ${rawBytes} bytes`);
  }
  if (plain.length !== rawBytes) {
    throw fail(source, `raw-tensor section holds ${plain.length} bytes, expected ${rawBytes}`);
  }
  for (const [name, array] of readRaw(plain, rawEntries, rawCount)) {
    const e = rawEntries.find((x) => x.name === name);
    tensors.set(name, { shape: e.shape, dtype: e.dtype, data: array });
  }
  for (const [name, t] of tensors) {
    // NaN or inf would make NaN probabilities (the rule of the Python side, too); a finite
    // sum proves every value finite, in one pass.
    if (t.data instanceof Float32Array) {
      let sum = 0;
      for (let i = 0; i < t.data.length; i++) sum += t.data[i];
      if (!Number.isFinite(sum)) {
        throw fail(source, `tensor ${repr(name)} has NaN or infinite values`);
      }
    }
  }
  const meta = isObject(header.meta) ? header.meta : {};
  return { version, model: header.model, coder: header.coder, meta, tensors };
}
