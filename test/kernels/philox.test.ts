// The wasm Philox kernel (kernels/philox.wat: philox_uniform_f32) against the reference loop
// (src/kernels/ref.ts, philox_uniform): lengths 0, 1, partial blocks at both ends and many
// blocks, stream positions at and across the 2^32-block boundary of the counter's low word,
// element offsets, any key and any [lo, hi); and the output left alone outside its extent.
//
// Tolerance: none. The kernel computes the value in float64 in the reference's order and
// rounds it once when storing (header of kernels/philox.wat), so the results are bit for bit.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import { philox_uniform } from "../../src/kernels/wasm.ts";
import { placeF32, SENTINEL, whereArb } from "./placement.ts";

const positions = fc.oneof(
  fc.integer({ min: 0, max: 64 }),
  fc.integer({ min: 0, max: 2 ** 40 }),
  fc.integer({ min: 4 * 2 ** 32 - 40, max: 4 * 2 ** 32 + 40 }), // the counter's low word wraps
  fc.integer({ min: 2 ** 52, max: 2 ** 53 - 1000 }),
);

test("philox_uniform: wasm = reference bit for bit, nothing written outside the extent", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70 }),
      positions,
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.double({ min: -10, max: 10, noNaN: true }),
      fc.double({ min: 0, max: 10, noNaN: true }),
      fc.integer({ min: 0, max: 5 }),
      whereArb,
      (n, first, k0, k1, lo, width, off, where) => {
        const got = placeF32(new Float32Array(n), where, off);
        philox_uniform(n, got, off, first, k0, k1, lo, lo + width);
        const want = placeF32(new Float32Array(n), "plain", off);
        ref.philox_uniform(n, want, off, first, k0, k1, lo, lo + width);
        for (let i = 0; i < got.length; i++) {
          if (!Object.is(got[i], want[i]))
            throw new Error(`out[${i}] = ${got[i]}, reference ${want[i]} (n ${n}, first ${first}, offset ${off})`);
        }
        for (let i = 0; i < off; i++) assert.is(got[i], SENTINEL);
      },
    ),
    { numRuns: 400 },
  );
});

test("philox_uniform: a long resident run (many blocks) = reference", () => {
  const n = 100_003;
  const got = placeF32(new Float32Array(n), "resident", 1);
  const want = new Float32Array(got.length).fill(SENTINEL);
  philox_uniform(n, got, 1, 7, 0xdeadbeef, 42, -0.25, 0.25);
  ref.philox_uniform(n, want, 1, 7, 0xdeadbeef, 42, -0.25, 0.25);
  for (let i = 0; i < got.length; i++)
    if (!Object.is(got[i], want[i])) throw new Error(`out[${i}] = ${got[i]}, reference ${want[i]}`);
});

test("philox_uniform: bad arguments name the kernel", () => {
  assert.throws(
    () => philox_uniform(5, new Float32Array(4), 0, 0, 1, 2, 0, 1),
    /philox_uniform: out needs 5 elements from offset 0 but the array has 4/,
  );
  assert.throws(
    () => philox_uniform(1, new Float32Array(4), 0, -1, 1, 2, 0, 1),
    /philox_uniform: first must be a non-negative safe integer, got -1/,
  );
});

test.run();
