// IEEE 754 binary16 (F16) and bfloat16 (BF16) to and from float32, one value at a time.
// Up: exact, since every half and every bfloat16 is a float32. Down: rounded to nearest, ties
// to even (IEEE 754's default, what PyTorch's .half() and .bfloat16() do), on the float32 bit
// pattern, so no double rounding. NaN stays NaN in both directions (its payload is not kept).
// One home for both users: F16/BF16 tensors in files (src/io/dtype.ts) and the fp16 scale and
// bias of int4 quantized rows (fused_rows.ts), so it lives in the lowest layer.
//
// Glossary: h a 16-bit pattern (sign 1, exponent 5, mantissa 10 for F16; sign 1,
// exponent 8, mantissa 7 for BF16); e a biased exponent.

/** The float32 value of the half-precision bit pattern h (subnormals, ±0, ±inf, NaN kept). */
export function halfToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24; // zero and subnormals: man · 2^-24
  if (exp === 0x1f) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

const BF16_SCRATCH = new Uint32Array(1);
const BF16_VIEW = new Float32Array(BF16_SCRATCH.buffer);

/** The float32 value of the bfloat16 bit pattern h: h is the top 16 bits of a float32. */
export function bfloat16ToFloat32(h: number): number {
  BF16_SCRATCH[0] = (h & 0xffff) << 16;
  return BF16_VIEW[0];
}

const F32_SCRATCH = new Float32Array(1);
const F32_BITS = new Uint32Array(F32_SCRATCH.buffer);

/** The bit pattern of float32 x (ToFloat32 first: a double is rounded to float32). */
function float32Bits(x: number): number {
  F32_SCRATCH[0] = x;
  return F32_BITS[0];
}

/**
 * The half-precision bit pattern nearest float32 x, ties to even (IEEE 754's default):
 * magnitudes from 65520 (halfway between 65504, the largest half, and 2^16) round to ±inf,
 * below 2^-25 to ±0, and in between to a subnormal; a NaN stays a (quiet) NaN.
 */
export function float32ToHalf(x: number): number {
  const bits = float32Bits(x);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const man = bits & 0x7fffff;
  if (exp === 0xff) return man === 0 ? sign | 0x7c00 : sign | 0x7e00 | (man >>> 13);
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e < -10) return sign; // below 2^-25: rounds to zero
  // Drop the low `shift` bits of the significand, rounding to nearest, ties to even. A normal
  // keeps the exponent above its 10 mantissa bits, so a carry out of the mantissa moves into
  // the exponent (up to inf), as it should; a subnormal counts units of 2^-24, which is the
  // 24-bit significand (implicit 1 included) shifted right by 14 - e.
  const significand = e > 0 ? man : man | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  let kept = e > 0 ? (e << 10) | (man >>> 13) : significand >>> shift;
  const dropped = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (dropped > halfway || (dropped === halfway && (kept & 1) === 1)) kept += 1;
  return sign | kept;
}

/** The bfloat16 bit pattern nearest float32 x (its top 16 bits, rounded to nearest, ties to
 *  even; past the largest bfloat16 to ±inf); a NaN stays a (quiet) NaN. */
export function float32ToBfloat16(x: number): number {
  const bits = float32Bits(x);
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}
