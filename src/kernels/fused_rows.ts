// fbgemm's fused row-wise quantized tables: every row of a float32 table (R, E) becomes
// bytes holding its quantized values followed by that row's scale and bias, so one row read
// brings everything its lookup needs. The two layouts PyTorch prepacks for
// quantized embedding bags (torch.ops.quantized.embedding_bag_byte_prepack and
// embedding_bag_4bit_prepack, which call fbgemm's FloatToFused8BitRowwiseQuantizedSBFloat and
// FloatToFusedNBitRowwiseQuantizedSBHalf in a build with fbgemm, and PyTorch's own loops with
// the formulas of fbgemm's *Ref functions in a build without):
//
//   int8  [E × uint8][float32 scale][float32 bias]            row stride E + 8 bytes
//   int4  [ceil(E/2) bytes][fp16 scale][fp16 bias]            row stride ceil(E/2) + 4 bytes
//         element e in byte e>>1, even e in the low nibble, odd e in the high one
//
// and every element dequantizes as x̂ = f32(f32(q · scale) + bias). All multi-byte values are
// little-endian.
//
// Quantization here repeats fbgemm's reference loops (QuantUtils.cc, the *Ref functions)
// step for step in float32:
//   int8: range = max − min, scale = range / 255, bias = min,
//         q = lrintf((x − min) · (255 / (range + 1e-8)))           (the 1e-8 is fbgemm's)
//   int4: bias = fp16(min) and min := bias first (so the stored bias is the one quantized
//         against); range = max − min; scale = fp16(range / 15), 1 when range = 0, when the
//         fp16 scale is 0 or its reciprocal overflows; q = clamp(lrintf((x − min) / scale'),
//         0, 15) with 1/scale' formed once in float32.
// lrintf rounds to nearest, ties to even. A row of equal values v gives q = 0 and
// dequantizes exactly to v in int8 (scale 0). In int4 its range is v − fp16(v): 0 when v is
// an fp16 value (scale 1, q = 0, x̂ = v exactly); otherwise a sliver, negative when fp16
// rounds v up (and then so is the scale), so q comes out near 15 and x̂ = 15·scale + fp16(v)
// lands near v.
//
// test/kernels/fused_rows_torch.test.ts checks this against bytes torch 1.13 prepacked
// (test/fixtures/quantized/make.py; Debian's build, without fbgemm, so PyTorch's fallback
// loops): equal bit for bit, int8 at E = 1, 2, 7, 8, 16, 34 and int4 at E = 8, 16, 34, over
// exact .5 ties, constant rows (fp16 rounding them up and down), zero rows, negative, large
// (±30000) and tiny (10⁻⁶) ranges and an int4 min that is not an fp16 value; dequantizeRows
// equals torch's unpack ops bit for bit on them. Not compared: fbgemm's own (vectorized)
// kernels, and int4 at odd E (torch's 4-bit prepack refuses odd E; ours writes the
// ceil(E/2)-byte row above). An int4 row beyond fp16 is refused here (QuantizeError); torch
// writes it with an infinite scale, which no lookup can use.
//
// Error bound (per element; docs/tricks.md derives it): int8 |x − x̂| ≤ scale/2 + 1e-8 (the
// epsilon makes (x − min)·inverse slightly short of (x − min)/scale), plus float32 rounding;
// int4 |x − x̂| ≤ scale/2 + |min − fp16(min)| + 15·|range/15 − scale| (the fp16 roundings of
// bias and scale), plus float32 rounding.
//
// Glossary: R rows, E row length (embedding dim), q a quantized value, fp16 IEEE binary16.

import { float32ToHalf, halfToFloat32 } from "./half.ts";

/** Bits per quantized value. */
export type QuantBits = 4 | 8;

/** Bytes of one fused row: the values, then scale and bias. */
export function fusedRowBytes(bits: QuantBits, E: number): number {
  return valueBytes(bits, E) + (bits === 8 ? 8 : 4);
}

/** Bytes of a row's quantized values (where its scale starts). */
export function valueBytes(bits: QuantBits, E: number): number {
  return bits === 8 ? E : (E + 1) >> 1;
}

/** lrintf under the default rounding mode: to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A table that cannot be quantized (a value that is not finite, or out of fp16's range for int4). */
export class QuantizeError extends Error {
  override name = "QuantizeError";
}

/**
 * The fused rows (R × fusedRowBytes(bits, E) bytes) of a float32 table (R, E), written into
 * `out` from byte `outOff` (default: a new array). `what` names the table in errors.
 */
export function quantizeRows(
  bits: QuantBits,
  table: Float32Array,
  R: number,
  E: number,
  what: string,
  out: Uint8Array = new Uint8Array(R * fusedRowBytes(bits, E)),
  outOff = 0,
): Uint8Array {
  if (bits !== 8 && bits !== 4) throw new QuantizeError(`${what}: quantize to 8 or 4 bits, got ${String(bits)}`);
  if (table.length < R * E)
    throw new QuantizeError(`${what}: ${R} rows of ${E} need ${R * E} values, the table has ${table.length}`);
  const rb = fusedRowBytes(bits, E);
  if (out.length < outOff + R * rb)
    throw new QuantizeError(
      `${what}: the fused rows need ${R * rb} bytes from ${outOff}, the output has ${out.length}`,
    );
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const f = Math.fround;
  const qb = valueBytes(bits, E);
  for (let r = 0; r < R; r++) {
    const x0 = r * E;
    const o = outOff + r * rb;
    let min = Infinity;
    let max = -Infinity;
    for (let e = 0; e < E; e++) {
      const x = table[x0 + e];
      if (!Number.isFinite(x))
        throw new QuantizeError(`${what}: row ${r} holds ${x} at column ${e}; only finite values quantize`);
      if (x < min) min = x;
      if (x > max) max = x;
    }
    if (E === 0) min = max = 0;
    if (bits === 8) {
      const range = f(max - min);
      view.setFloat32(o + qb, f(range / 255), true);
      view.setFloat32(o + qb + 4, min, true);
      const inverse = f(255 / f(range + f(1e-8)));
      for (let e = 0; e < E; e++) {
        const q = roundHalfEven(f(f(table[x0 + e] - min) * inverse));
        out[o + e] = Math.max(0, Math.min(255, q)); // never clamps: (x − min)·inverse ≤ 255 (1 + 2^-23)
      }
      continue;
    }
    const biasBits = float32ToHalf(min);
    const lo = halfToFloat32(biasBits); // min rounded to fp16: what dequantization adds back
    const range = f(max - lo);
    let scale = halfToFloat32(float32ToHalf(range === 0 ? 1 : f(range / 15)));
    if (scale === 0) scale = 1;
    let inverse = f(1 / scale);
    if (!Number.isFinite(inverse)) {
      scale = 1;
      inverse = 1;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(scale))
      throw new QuantizeError(
        `${what}: row ${r} spans [${min}, ${max}], beyond fp16's ±65504, where int4 rows keep their scale and bias`,
      );
    view.setUint16(o + qb, float32ToHalf(scale), true);
    view.setUint16(o + qb + 2, biasBits, true);
    out.fill(0, o, o + qb);
    for (let e = 0; e < E; e++) {
      const q = Math.max(0, Math.min(15, roundHalfEven(f(f(table[x0 + e] - lo) * inverse))));
      out[o + (e >> 1)] |= q << ((e & 1) * 4);
    }
  }
  return out;
}

/** A row's scale and bias as float32 values, from the fused row starting at byte `row`. */
export function rowScaleBias(bits: QuantBits, fused: Uint8Array, row: number, E: number): [number, number] {
  const view = new DataView(fused.buffer, fused.byteOffset, fused.byteLength);
  const at = row + valueBytes(bits, E);
  if (bits === 8) return [view.getFloat32(at, true), view.getFloat32(at + 4, true)];
  return [halfToFloat32(view.getUint16(at, true)), halfToFloat32(view.getUint16(at + 2, true))];
}

/** The quantized value of element e of the fused row starting at byte `row`. */
export function rowValue(bits: QuantBits, fused: Uint8Array, row: number, e: number): number {
  if (bits === 8) return fused[row + e];
  return (fused[row + (e >> 1)] >> ((e & 1) * 4)) & 15;
}

/** The float32 table (R, E) the fused rows stand for: x̂ = f32(f32(q · scale) + bias). */
export function dequantizeRows(bits: QuantBits, fused: Uint8Array, R: number, E: number): Float32Array {
  const rb = fusedRowBytes(bits, E);
  const out = new Float32Array(R * E);
  for (let r = 0; r < R; r++) {
    const [scale, bias] = rowScaleBias(bits, fused, r * rb, E);
    for (let e = 0; e < E; e++)
      out[r * E + e] = Math.fround(Math.fround(rowValue(bits, fused, r * rb, e) * scale) + bias);
  }
  return out;
}
