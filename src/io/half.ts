// IEEE 754 binary16 (F16) and bfloat16 (BF16) to float32, exactly: every half and every
// bfloat16 value is representable in float32, so the upcast never rounds.
//
// Glossary: h a 16-bit pattern (sign 1, exponent 5, mantissa 10 for F16; sign 1,
// exponent 8, mantissa 7 for BF16).

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
  return BF16_VIEW[0] as number;
}
