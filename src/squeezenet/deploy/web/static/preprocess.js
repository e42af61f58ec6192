// A model's preprocessing in the page: the shorter side resized to `resize` (bilinear),
// the center `crop` square, then (pixels * scale - mean) / std per channel. The resize is a
// port of Pillow's (Resample.c: separable triangle filter, antialiased when shrinking,
// 22-bit fixed-point weights, horizontal pass first), so that the same pixels give the
// same tensor as `squeezenet predict` and squeezenet.lite.

const PRECISION_BITS = 22; // Pillow: 32 - 8 bits per sample - 2
const MAX_RESIZED_PIXELS = 8192 * 8192; // as squeezenet.lite.preprocess

export class ImageSizeError extends Error {}

/** The resized size of a w x h image (torchvision's Resize(resize) on a PIL image). */
export function resizedSize(w, h, resize) {
  const short = Math.max(1, Math.min(w, h));
  const long = Math.max(w, h);
  if (Math.floor((resize * resize * long) / short) > MAX_RESIZED_PIXELS) {
    throw new ImageSizeError(
      `resizing ${w} x ${h} to a shorter side of ${resize} needs more than ` +
        `${MAX_RESIZED_PIXELS.toLocaleString("en-US")} pixels`,
    );
  }
  const newLong = Math.trunc((resize * long) / short);
  return w <= h ? [resize, newLong] : [newLong, resize];
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the triangle filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? pre[x] / ww : pre[x];
      kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

const clip8 = (ss) => {
  const v = Math.floor(ss / (1 << PRECISION_BITS));
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/** Resize RGB pixels (3 bytes each) from sw x sh to dw x dh as Pillow's BILINEAR does. */
export function resizeRGB(src, sw, sh, dw, dh) {
  if (sw === dw && sh === dh) return src;
  const horiz = coefficients(sw, dw);
  const vert = coefficients(sh, dh);
  // The horizontal pass covers only the rows the vertical pass reads.
  const first = vert.bounds[0];
  const last = vert.bounds[dh * 2 - 2] + vert.bounds[dh * 2 - 1];
  let tmp = src;
  let tmpOffset = 0;
  if (dw !== sw) {
    tmp = new Uint8Array(dw * (last - first) * 3);
    tmpOffset = first;
    const { bounds, kk, ksize } = horiz;
    const half = 1 << (PRECISION_BITS - 1);
    for (let y = first; y < last; y++) {
      const row = y * sw * 3;
      const out = (y - first) * dw * 3;
      for (let xx = 0; xx < dw; xx++) {
        const xmin = bounds[xx * 2];
        const xmax = bounds[xx * 2 + 1];
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let x = 0; x < xmax; x++) {
          const k = kk[xx * ksize + x];
          const p = row + (x + xmin) * 3;
          s0 += src[p] * k;
          s1 += src[p + 1] * k;
          s2 += src[p + 2] * k;
        }
        tmp[out + xx * 3] = clip8(s0);
        tmp[out + xx * 3 + 1] = clip8(s1);
        tmp[out + xx * 3 + 2] = clip8(s2);
      }
    }
  }
  if (dh === sh) return tmp;
  const out = new Uint8Array(dw * dh * 3);
  const { bounds, kk, ksize } = vert;
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < dh; yy++) {
    const ymin = bounds[yy * 2] - tmpOffset;
    const ymax = bounds[yy * 2 + 1];
    for (let xx = 0; xx < dw; xx++) {
      let s0 = half;
      let s1 = half;
      let s2 = half;
      for (let y = 0; y < ymax; y++) {
        const k = kk[yy * ksize + y];
        const p = ((y + ymin) * dw + xx) * 3;
        s0 += tmp[p] * k;
        s1 += tmp[p + 1] * k;
        s2 += tmp[p + 2] * k;
      }
      const o = (yy * dw + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** RGBA pixels (an ImageData's) -> RGB, transparent pixels composited onto white. */
export function rgbOf(rgba, count) {
  const rgb = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    const a = rgba[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i * 4 + c];
      rgb[i * 3 + c] = a === 255 ? v : Math.round((v * a + 255 * (255 - a)) / 255);
    }
  }
  return rgb;
}

/** The model input (Float32Array, channels first: 3 x crop x crop) of an RGB image. */
export function toTensor(rgb, width, height, p) {
  const [w, h] = resizedSize(width, height, p.resize);
  const resized = resizeRGB(rgb, width, height, w, h);
  const left = roundHalfEven((w - p.crop) / 2);
  const top = roundHalfEven((h - p.crop) / 2);
  const plane = p.crop * p.crop;
  const out = new Float32Array(3 * plane);
  const f = Math.fround;
  const scale = f(p.scale);
  const mean = p.mean.map(f);
  const std = p.std.map(f);
  for (let c = 0; c < 3; c++) {
    const source = p.bgr ? 2 - c : c;
    for (let y = 0; y < p.crop; y++) {
      for (let x = 0; x < p.crop; x++) {
        const sx = x + left;
        const sy = y + top;
        const inside = sx >= 0 && sy >= 0 && sx < w && sy < h;
        let v = inside ? resized[(sy * w + sx) * 3 + source] : 0;
        // float32 steps in numpy's order: x *= scale; x -= mean; x /= std.
        if (p.scale !== 1) v = f(v * scale);
        out[c * plane + y * p.crop + x] = f(f(v - mean[c]) / std[c]);
      }
    }
  }
  return out;
}
