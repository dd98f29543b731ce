// F16 and BF16 to and from float32: every half and every bfloat16 upcast against bit patterns
// built here by a different method; the downcasts against hand-computed patterns (ties,
// subnormals, overflow) and, on random float32s, against a nearest-value search in float64.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32 } from "../../src/kernels/half.ts";
import { downcastToHalfs, halfsToFloat32 } from "../../src/io/dtype.ts";
import { assertThrows } from "../../src/testing/index.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => ((f32[0] = x), u32[0] as number);
const valueOf = (bits: number): number => ((u32[0] = bits), f32[0] as number);

/** The float32 bit pattern of half h, by moving its fields (a subnormal normalised by shifting). */
function halfBitsAsFloat32(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0;
  if (exp === 0) {
    if (man === 0) return sign >>> 0;
    exp = 1;
    while ((man & 0x400) === 0) {
      man <<= 1;
      exp -= 1;
    }
    man &= 0x3ff;
  }
  return (sign | ((exp - 15 + 127) << 23) | (man << 13)) >>> 0;
}

test("halfToFloat32: all 65536 halfs equal the float32 of their fields moved bit by bit (NaN stays NaN)", () => {
  for (let h = 0; h < 65536; h++) {
    const got = halfToFloat32(h);
    const want = halfBitsAsFloat32(h);
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
      if (!Number.isNaN(got)) assert.unreachable(`half 0x${h.toString(16)} is a NaN, got ${got}`);
    } else if (bitsOf(got) !== want) {
      assert.unreachable(
        `half 0x${h.toString(16)}: got float32 bits 0x${bitsOf(got).toString(16)}, want 0x${want.toString(16)}`,
      );
    }
  }
});

test("halfToFloat32: hand-computed values", () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0400, 2 ** -14],
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x3555, 0.333251953125],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0000, 0],
  ];
  for (const [h, v] of cases) assert.is(halfToFloat32(h), v, `0x${h.toString(16)}`);
  assert.ok(Object.is(halfToFloat32(0x8000), -0), "0x8000 is -0");
});

test("bfloat16ToFloat32: all 65536 patterns are the top half of a float32", () => {
  for (let h = 0; h < 65536; h++) {
    const got = bfloat16ToFloat32(h);
    const isNaN = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    if (isNaN ? !Number.isNaN(got) : bitsOf(got) !== h * 65536)
      assert.unreachable(`bfloat16 0x${h.toString(16)}: got ${got}`);
  }
  assert.is(bfloat16ToFloat32(0x3f80), 1);
  assert.is(bfloat16ToFloat32(0xc049), -3.140625);
});

test("halfsToFloat32 (the table and the shift) agree with the scalar upcasts on all 65536 patterns", () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const f16 = halfsToFloat32("F16", all);
  const bf16 = halfsToFloat32("BF16", all);
  for (let h = 0; h < 65536; h++) {
    if (!Object.is(f16[h], Math.fround(halfToFloat32(h)))) assert.unreachable(`F16 0x${h.toString(16)}`);
    if (!Object.is(bf16[h], bfloat16ToFloat32(h))) assert.unreachable(`BF16 0x${h.toString(16)}`);
  }
});

test("float32ToHalf: hand-computed patterns, round to nearest, ties to even", () => {
  const cases: [number, number, string][] = [
    [1, 0x3c00, "one"],
    [-2, 0xc000, "minus two"],
    [65504, 0x7bff, "largest half"],
    [65519, 0x7bff, "just below the overflow midpoint"],
    [65520, 0x7c00, "the midpoint 65520 ties to even: inf"],
    [1 + 2 ** -11, 0x3c00, "halfway between 0x3c00 and 0x3c01: to the even 0x3c00"],
    [1 + 3 * 2 ** -11, 0x3c02, "halfway between 0x3c01 and 0x3c02: to the even 0x3c02"],
    [1 + 2 ** -11 + 2 ** -23, 0x3c01, "just above halfway: up"],
    [Math.fround(0.1), 0x2e66, "0.1"],
    [2 ** -14, 0x0400, "smallest normal"],
    [1023.5 * 2 ** -24, 0x0400, "halfway between the largest subnormal and the smallest normal: to the even normal"],
    [1022.5 * 2 ** -24, 0x03fe, "halfway between subnormals 0x3fe and 0x3ff: to the even one"],
    [2 ** -24, 0x0001, "smallest subnormal"],
    [3 * 2 ** -25, 0x0002, "1.5 units of 2^-24: to the even 2"],
    [2 ** -25, 0x0000, "half the smallest subnormal: ties to the even 0"],
    [valueOf(bitsOf(2 ** -25) + 1), 0x0001, "just above half the smallest subnormal: up"],
    [2 ** -26, 0x0000, "a quarter of the smallest subnormal"],
    [1e-30, 0x0000, "far below"],
    [-1e-30, 0x8000, "far below, negative: -0"],
    [-0, 0x8000, "-0"],
    [Infinity, 0x7c00, "inf"],
    [-Infinity, 0xfc00, "-inf"],
    [1e10, 0x7c00, "overflow"],
  ];
  for (const [x, h, why] of cases)
    assert.is(float32ToHalf(x), h, `${x} (${why}): got 0x${float32ToHalf(x).toString(16)}, want 0x${h.toString(16)}`);
  assert.ok(Number.isNaN(halfToFloat32(float32ToHalf(Number.NaN))), "NaN stays NaN");
});

test("float32ToHalf(halfToFloat32(h)) === h for all 63488 non-NaN halfs", () => {
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
    if (float32ToHalf(halfToFloat32(h)) !== h)
      assert.unreachable(
        `0x${h.toString(16)} -> ${halfToFloat32(h)} -> 0x${float32ToHalf(halfToFloat32(h)).toString(16)}`,
      );
  }
});

/** The nearest of the candidates to x in float64, ties to the even pattern (the test's own search). */
function nearestPattern(x: number, candidates: number[], up: (h: number) => number): number {
  let best = candidates[0] as number;
  for (const h of candidates) {
    const d = Math.abs(up(h) - x);
    const db = Math.abs(up(best) - x);
    if (d < db || (d === db && (h & 1) === 0 && (best & 1) === 1)) best = h;
  }
  return best;
}

test("float32ToHalf and float32ToBfloat16 pick the nearest pattern (ties to even) for random finite float32s", () => {
  fc.assert(
    fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -65504, max: 65504 }), (x) => {
      const h = float32ToHalf(x);
      const near = nearestPattern(
        x,
        [h, h - 1, h + 1].filter((c) => c >= 0 && (c & 0x7fff) <= 0x7bff && (c & 0x8000) === (h & 0x8000)),
        halfToFloat32,
      );
      // ±0 both have distance |x| from a tiny x; the sign of x decides, which the filter keeps
      return near === h;
    }),
    { seed: 12, numRuns: 20000 },
  );
  fc.assert(
    fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
      const h = float32ToBfloat16(x);
      if ((h & 0x7fff) === 0x7f80) return Math.abs(x) >= 3.3961514e38; // past the largest bfloat16's midpoint
      const near = nearestPattern(
        x,
        [h, h - 1, h + 1].filter((c) => c >= 0 && (c & 0x7fff) < 0x7f80 && (c & 0x8000) === (h & 0x8000)),
        bfloat16ToFloat32,
      );
      return near === h;
    }),
    { seed: 13, numRuns: 20000 },
  );
});

test("float32ToBfloat16: hand-computed patterns, ties to even, overflow, NaN", () => {
  const cases: [number, number, string][] = [
    [1, 0x3f80, "one"],
    [1 + 2 ** -8, 0x3f80, "halfway between 0x3f80 and 0x3f81: to the even 0x3f80"],
    [1 + 3 * 2 ** -8, 0x3f82, "halfway between 0x3f81 and 0x3f82: to the even 0x3f82"],
    [valueOf(0x40490fdb), 0x4049, "pi: the dropped 0x0fdb is below halfway"],
    [valueOf(0x40498000), 0x404a, "a tie above the odd 0x4049: up to 0x404a"],
    [valueOf(0x40488000), 0x4048, "a tie above the even 0x4048: stays"],
    [valueOf(0x7f7f7fff), 0x7f7f, "just below the largest bfloat16's midpoint"],
    [valueOf(0x7f7fffff), 0x7f80, "the largest float32: inf"],
    [valueOf(0x00000001), 0x0000, "the smallest float32 subnormal: 0"],
    [-0, 0x8000, "-0"],
  ];
  for (const [x, h, why] of cases)
    assert.is(float32ToBfloat16(x), h, `${x} (${why}): got 0x${float32ToBfloat16(x).toString(16)}`);
  assert.ok(Number.isNaN(bfloat16ToFloat32(float32ToBfloat16(Number.NaN))), "NaN stays NaN");
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) continue;
    if (float32ToBfloat16(bfloat16ToFloat32(h)) !== h)
      assert.unreachable(`bfloat16 0x${h.toString(16)} does not round-trip`);
  }
});

test("downcastToHalfs: whole arrays; a finite value past the dtype's range is an error naming tensor, element and value", () => {
  const values = Float32Array.from([1, -2, 65504, 0.1]);
  assert.equal(Array.from(downcastToHalfs("F16", values, "t")), [0x3c00, 0xc000, 0x7bff, 0x2e66]);
  assert.equal(
    Array.from(downcastToHalfs("BF16", values, "t")),
    [0x3f80, 0xc000, 0x4780, 0x3dcd],
    "65504 is 0x477fe000: up to 0x4780; 0.1 is 0x3dcccccd: up to 0x3dcd",
  );
  assertThrows(
    () => downcastToHalfs("F16", Float32Array.from([0, 70000]), 'x.st: tensor "emb_l.0.weight"'),
    /^x\.st: tensor "emb_l\.0\.weight": element 1 is 70000, beyond the largest finite F16 \(65504\); save it as f32 or bf16$/,
  );
  assertThrows(
    () => downcastToHalfs("BF16", Float32Array.from([valueOf(0x7f7fffff)]), "y"),
    /^y: element 0 is .*, beyond the largest finite BF16/,
  );
  assert.equal(
    Array.from(downcastToHalfs("F16", Float32Array.from([Infinity, -Infinity]), "z")),
    [0x7c00, 0xfc00],
    "infinities stay infinities",
  );
});

test.run();
