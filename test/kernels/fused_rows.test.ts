// fbgemm's fused row-wise quantization (src/kernels/fused_rows.ts; its fp16 conversions are
// src/kernels/half.ts's, tested in test/io/half.test.ts): the bytes of rows worked out by hand from fbgemm's formulas (layout, nibble order, fp16 scale and
// bias, the range-0 case), and, as a property over random tables, quantize → dequantize
// within the error bound the file head states (docs/tricks.md derives it).
//
// Glossary: R rows, E row length, s a row's scale, β its bias, x̂ a dequantized value.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  dequantizeRows,
  fusedRowBytes,
  QuantizeError,
  quantizeRows,
  rowScaleBias,
  roundHalfEven,
  type QuantBits,
} from "../../src/kernels/fused_rows.ts";
import { float32ToHalf, halfToFloat32 } from "../../src/kernels/half.ts";
import { values } from "./placement.ts";

test("roundHalfEven: lrintf's ties to even", () => {
  assert.equal([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3]);
});

/** A little-endian float32 as 4 bytes. */
function f32Bytes(x: number): number[] {
  return Array.from(new Uint8Array(Float32Array.of(x).buffer));
}

test("int8 rows by hand: q = x - min when the range is 255, and a constant row (scale 0)", () => {
  const E = 4;
  // row 0: range 255 → scale 1, 255/(255 + 1e-8) is 1 in float32, so q = x − min exactly
  // row 1: every value 0.75 → range 0, scale 0, bias 0.75, q = 0; x̂ = 0.75 exactly
  const table = Float32Array.of(-100, 155, 27.5, 0, 0.75, 0.75, 0.75, 0.75);
  const got = quantizeRows(8, table, 2, E, "t");
  assert.is(got.length, 2 * (E + 8));
  // 27.5 − (−100) = 127.5: ties to even → 128
  assert.equal(Array.from(got.subarray(0, 12)), [0, 255, 128, 100, ...f32Bytes(1), ...f32Bytes(-100)]);
  assert.equal(Array.from(got.subarray(12)), [0, 0, 0, 0, ...f32Bytes(0), ...f32Bytes(0.75)]);
  assert.equal(Array.from(dequantizeRows(8, got, 2, E)), [-100, 155, 28, 0, 0.75, 0.75, 0.75, 0.75]);
});

test("int4 rows by hand: nibble order, fp16 scale and bias, odd E, and the bias rounded before quantizing", () => {
  // row 0: 0 … 15 → bias 0, scale 1, q = x; byte k = q[2k] | q[2k+1] << 4
  const E = 16;
  const row0 = Float32Array.from({ length: E }, (_, e) => e);
  const got = quantizeRows(4, row0, 1, E, "t");
  assert.is(got.length, 8 + 4);
  assert.equal(Array.from(got.subarray(0, 8)), [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
  assert.equal(Array.from(got.subarray(8)), [0x00, 0x3c, 0x00, 0x00]); // fp16 1.0 = 0x3c00, 0.0
  // row of 3 (odd E): min 0.1 → bias fp16(0.1) = 0x2e66 = 0.0999755859375; range 1.6 − bias,
  // scale fp16(range/15) = fp16(0.1000016…) = 0x2e66 again, 1/scale = 10.00244…
  const odd = quantizeRows(4, Float32Array.of(0.1, 1.6, 0.85), 1, 3, "t");
  assert.is(odd.length, fusedRowBytes(4, 3));
  assert.is(odd.length, 2 + 4);
  const [s, b] = rowScaleBias(4, odd, 0, 3);
  assert.is(b, halfToFloat32(0x2e66));
  assert.is(s, halfToFloat32(float32ToHalf(Math.fround(Math.fround(Math.fround(1.6) - b) / 15))));
  // q: (0.1 − β)·10.0024 ≈ 0.0002 → 0; (1.6 − β)·10.0024 ≈ 15.004 → 15; (0.85 − β)·10.0024 ≈ 7.502 → 8;
  // the odd byte's high nibble is 0
  assert.equal(Array.from(odd.subarray(0, 2)), [0xf0, 0x08]);
  // a constant row: scale 1 (range 0), bias fp16(value)
  const flat = quantizeRows(4, Float32Array.of(2, 2), 1, 2, "t");
  assert.equal(rowScaleBias(4, flat, 0, 2), [1, 2]);
  assert.is(flat[0], 0);
});

test("quantizeRows: non-finite values and (int4) values beyond fp16 are errors naming the table and row", () => {
  assert.throws(
    () => quantizeRows(8, Float32Array.of(0, 1, NaN, 2), 2, 2, "table 3"),
    (e: unknown) => e instanceof QuantizeError && /table 3: row 1 holds NaN at column 0/.test(e.message),
  );
  assert.throws(
    () => quantizeRows(4, Float32Array.of(0, 1e6), 1, 2, "table 0"),
    (e: unknown) => e instanceof QuantizeError && /table 0: row 0 spans \[0, 1000000\], beyond fp16/.test(e.message),
  );
  assert.throws(() => quantizeRows(3 as QuantBits, Float32Array.of(0), 1, 1, "t"), /8 or 4 bits, got 3/);
});

interface Table {
  bits: QuantBits;
  R: number;
  E: number;
  spread: number;
  centre: number;
  seed: number;
}

const tableArb: fc.Arbitrary<Table> = fc.record({
  bits: fc.constantFrom<QuantBits>(8, 4),
  R: fc.integer({ min: 1, max: 12 }),
  E: fc.constantFrom(1, 2, 3, 4, 7, 16, 33, 64),
  spread: fc.constantFrom(1e-6, 1e-3, 0.05, 1, 300),
  centre: fc.constantFrom(0, 0.5, -3, 1000),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

test("quantize → dequantize: every element within the stated bound (int8 s/2 + 1e-8; int4 s/2 + |min − β| + 15·|range/15 − s|)", () => {
  fc.assert(
    fc.property(tableArb, (c) => {
      const { bits, R, E } = c;
      const x = values(c.seed, R * E, c.centre - c.spread, c.centre + c.spread);
      const fused = quantizeRows(bits, x, R, E, "t");
      const xh = dequantizeRows(bits, fused, R, E);
      const rb = fusedRowBytes(bits, E);
      for (let r = 0; r < R; r++) {
        const row = x.subarray(r * E, (r + 1) * E);
        const min = Math.min(...row);
        const max = Math.max(...row);
        const [s, b] = rowScaleBias(bits, fused, r * rb, E);
        // float32 rounding of (x − min)·inverse, q·s and + β: a few ulps of the magnitudes involved
        const rounding = 8 * 2 ** -24 * (Math.abs(max) + Math.abs(min) + 255 * s);
        const bound =
          bits === 8
            ? s / 2 + 1e-8 + rounding
            : s / 2 + Math.abs(min - b) + 15 * Math.abs((max - b) / 15 - s) + rounding;
        for (let e = 0; e < E; e++) {
          const err = Math.abs((row[e] as number) - (xh[r * E + e] as number));
          if (!(err <= bound))
            throw new Error(
              `int${bits} row ${r} col ${e}: |${row[e]} − ${xh[r * E + e]}| = ${err} > ${bound} (s ${s})`,
            );
        }
      }
    }),
    { seed: 1402, numRuns: 400 },
  );
});

test("quantized bytes: int8 and int4 rows are 4E/(E+8) and 4E/(ceil(E/2)+4) times smaller than float32", () => {
  for (const E of [16, 64, 128]) {
    const f32 = 4 * E;
    assert.is(quantizeRows(8, new Float32Array(3 * E), 3, E, "t").length, 3 * (E + 8));
    assert.is(quantizeRows(4, new Float32Array(3 * E), 3, E, "t").length, 3 * (E / 2 + 4));
    // at E = 64: 3.6× and 7.1×; the 8 and 4 bytes of scale and bias matter at small E (E = 16: 2.7× and 5.3×)
    if (E === 64) {
      assert.ok(f32 / fusedRowBytes(8, E) > 3.5);
      assert.ok(f32 / fusedRowBytes(4, E) > 7);
    }
  }
});

test.run();
