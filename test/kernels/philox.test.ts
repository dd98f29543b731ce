// The wasm Philox kernel (kernels/philox.wat: philox_uniform_f32) against the reference loop
// (src/kernels/ref.ts, philox_uniform): lengths 0, 1, partial blocks at both ends and many
// blocks, stream positions at and across the 2^32-block boundary of the counter's low word,
// element offsets, any key and any [lo, hi); and the output left alone outside its extent;
// written in rows every ld (records on disk), the same run with the gaps between rows untouched.
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
        philox_uniform(n, n, n, got, off, first, k0, k1, lo, lo + width);
        const want = placeF32(new Float32Array(n), "plain", off);
        ref.philox_uniform(n, n, n, want, off, first, k0, k1, lo, lo + width);
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
  philox_uniform(n, n, n, got, 1, 7, 0xdeadbeef, 42, -0.25, 0.25);
  ref.philox_uniform(n, n, n, want, 1, 7, 0xdeadbeef, 42, -0.25, 0.25);
  for (let i = 0; i < got.length; i++)
    if (!Object.is(got[i], want[i])) throw new Error(`out[${i}] = ${got[i]}, reference ${want[i]}`);
});

test("philox_uniform in rows every ld: row k holds the run's elements [k·width, (k+1)·width), the gaps untouched", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 70 }),
      fc.integer({ min: 0, max: 5 }),
      positions,
      fc.integer({ min: 0, max: 3 }),
      whereArb,
      (rows, width, extra, first, off, where) => {
        const ld = width + extra;
        const n = rows * width;
        const got = placeF32(new Float32Array((rows - 1) * ld + width).fill(SENTINEL), where, off);
        philox_uniform(n, width, ld, got, off, first, 3, 0x9e3779b9, -0.5, 0.5);
        const run = new Float32Array(n);
        ref.philox_uniform(n, n, n, run, 0, first, 3, 0x9e3779b9, -0.5, 0.5);
        for (let k = 0; k < rows; k++)
          for (let j = 0; j < ld && k * ld + j < got.length - off; j++) {
            const v = got[off + k * ld + j];
            if (j < width) {
              if (!Object.is(v, run[k * width + j]))
                throw new Error(`row ${k} col ${j}: ${v}, run ${run[k * width + j]}`);
            } else assert.is(v, SENTINEL, `row ${k}: the gap at ${j} was written`);
          }
      },
    ),
    { numRuns: 300 },
  );
});

test("philox_uniform: bad arguments name the kernel", () => {
  assert.throws(
    () => philox_uniform(5, 5, 5, new Float32Array(4), 0, 0, 1, 2, 0, 1),
    /philox_uniform: out needs 5 elements from offset 0 but the array has 4/,
  );
  assert.throws(
    () => philox_uniform(1, 1, 1, new Float32Array(4), 0, -1, 1, 2, 0, 1),
    /philox_uniform: first must be a non-negative safe integer, got -1/,
  );
  assert.throws(
    () => philox_uniform(6, 4, 5, new Float32Array(10), 0, 0, 1, 2, 0, 1),
    /philox_uniform: 6 elements in rows of width 4 every 5 \(whole rows/,
  );
  assert.throws(
    () => philox_uniform(8, 4, 3, new Float32Array(10), 0, 0, 1, 2, 0, 1),
    /philox_uniform: 8 elements in rows of width 4 every 3/,
  );
});

test.run();
