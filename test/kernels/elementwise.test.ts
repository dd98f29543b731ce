// The wasm elementwise kernels (kernels/elementwise.wat: relu_fwd, relu_bwd,
// col_sum, relu_bwd_col_sum, sgd_dense, fill_zero, add) against the reference loops (src/kernels/ref.ts):
// lengths 0, 1, tails of 4 and 16 and several blocks, element offsets, every argument
// resident or staged, and the special values of ReLU (NaN, ±0, ±Inf).
//
// Tolerance: none. Each kernel rounds exactly where the reference does (see the header of
// kernels/elementwise.wat), so results must be identical bit for bit (Object.is), and
// nothing outside the extents may change.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import {
  add,
  col_sum,
  fill_zero,
  KernelError,
  relu_bwd,
  relu_bwd_col_sum,
  relu_fwd,
  sgd_dense,
} from "../../src/kernels/wasm.ts";
import { placeF32, values, whereArb } from "./placement.ts";

/** Bit-for-bit equality of two arrays (NaN = NaN, -0 ≠ +0). */
function same(got: Float32Array, want: Float32Array, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}[${i}] = ${got[i]}, reference ${want[i]}`);
  }
}

/** Random values with the special ones of ReLU mixed in. */
function withSpecials(seed: number, n: number): Float32Array {
  const v = values(seed, n, -2, 2);
  const specials = [NaN, 0, -0, Infinity, -Infinity, 1e-45, -1e-45];
  for (let i = 0; i < n; i += 5) v[i] = specials[(seed + i) % specials.length] as number;
  return v;
}

const nArb = fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 15, 16, 17, 31, 64, 67), fc.integer({ min: 0, max: 300 }));
const offArb = fc.integer({ min: 0, max: 7 });
const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });

test("relu_fwd, relu_bwd: bit for bit, NaN, ±0 and ±Inf included", () => {
  fc.assert(
    fc.property(
      nArb,
      offArb,
      offArb,
      offArb,
      whereArb,
      whereArb,
      whereArb,
      seedArb,
      (n, ox, oy, og, wx, wy, wg, seed) => {
        const x = withSpecials(seed, n);
        const xw = placeF32(x, wx, ox);
        const yw = placeF32(new Float32Array(n).fill(7), wy, oy);
        const yr = new Float32Array(n).fill(7);
        relu_fwd(n, xw, ox, yw, oy);
        ref.relu_fwd(n, x, 0, yr, 0);
        same(yw.subarray(oy, oy + n), yr, "y");
        same(yw.subarray(0, oy), placeF32([], wy, oy).subarray(0, oy), "before y");
        // backward: gx starts random with some -0, so an add of +0 would show
        const g = withSpecials(seed + 1, n);
        const gx = withSpecials(seed + 2, n);
        const gxw = placeF32(gx, wg, og);
        const before = Float32Array.from(gxw);
        const gxr = Float32Array.from(gx);
        relu_bwd(n, xw, ox, placeF32(g, wx, 0), 0, gxw, og, true);
        ref.relu_bwd(n, x, 0, g, 0, gxr, 0, true);
        same(gxw.subarray(og, og + n), gxr, "gx");
        same(gxw.subarray(0, og), before.subarray(0, og), "before gx");
        same(gxw.subarray(og + n), before.subarray(og + n), "after gx");
        // the writing form: old contents ignored, +0 where x <= 0 (or NaN)
        relu_bwd(n, xw, ox, placeF32(g, wx, 0), 0, gxw, og, false);
        ref.relu_bwd(n, x, 0, g, 0, gxr, 0, false);
        same(gxw.subarray(og, og + n), gxr, "gx written");
        same(gxw.subarray(og + n), before.subarray(og + n), "after gx written");
        for (let i = 0; i < n; i++) {
          const want = (x[i] as number) > 0 ? (g[i] as number) : 0; // by hand
          if (!Object.is(gxr[i], Math.fround(want))) throw new Error(`written gx[${i}] = ${gxr[i]}, expected ${want}`);
        }
      },
    ),
    { seed: 4701, numRuns: 80 },
  );
});

test("col_sum, fill_zero: bit for bit over random R, C, offsets and placements", () => {
  const dim = fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 16, 17, 20, 33), fc.integer({ min: 0, max: 70 }));
  fc.assert(
    fc.property(dim, dim, offArb, offArb, whereArb, whereArb, seedArb, (R, C, ov, oy, wv, wy, seed) => {
      // zero fill of R·C elements, nothing around them
      const y = placeF32(values(seed, R * C), wy, oy);
      const before = Float32Array.from(y);
      fill_zero(R * C, y, oy);
      same(y.subarray(oy, oy + R * C), new Float32Array(R * C), "zeros");
      same(y.subarray(0, oy), before.subarray(0, oy), "before zeros");
      same(y.subarray(oy + R * C), before.subarray(oy + R * C), "after zeros");
      // column sums added into a non-zero y
      const x = values(seed + 1, R * C, -3, 3);
      const s0 = values(seed + 2, C);
      const sw = placeF32(s0, wv, ov);
      const sBefore = Float32Array.from(sw);
      const sr = Float32Array.from(s0);
      col_sum(R, C, placeF32(x, wy, oy), oy, sw, ov);
      ref.col_sum(R, C, x, 0, sr, 0);
      same(sw.subarray(ov, ov + C), sr, "col sums");
      same(sw.subarray(0, ov), sBefore.subarray(0, ov), "before col sums");
      same(sw.subarray(ov + C), sBefore.subarray(ov + C), "after col sums");
    }),
    { seed: 4702, numRuns: 80 },
  );
});

test("relu_bwd_col_sum: bit for bit, equal to relu_bwd then col_sum (specials in y and g)", () => {
  const dim = fc.oneof(fc.constantFrom(0, 1, 3, 4, 5, 16, 17, 20, 33), fc.integer({ min: 0, max: 70 }));
  fc.assert(
    fc.property(dim, dim, offArb, offArb, whereArb, whereArb, seedArb, (R, C, o, od, w, wd, seed) => {
      const n = R * C;
      const y = withSpecials(seed, n);
      const g = withSpecials(seed + 1, n);
      const db0 = values(seed + 2, C);
      // gx starts as NaN garbage: it must be written, never read
      const gxw = placeF32(new Float32Array(n).fill(NaN), w, o);
      const gxBefore = Float32Array.from(gxw);
      const dbw = placeF32(db0, wd, od);
      const dbBefore = Float32Array.from(dbw);
      relu_bwd_col_sum(R, C, placeF32(y, w, o), o, placeF32(g, wd, o), o, gxw, o, dbw, od);
      const gxr = new Float32Array(n);
      const dbr = Float32Array.from(db0);
      ref.relu_bwd(n, y, 0, g, 0, gxr, 0, false);
      ref.col_sum(R, C, gxr, 0, dbr, 0);
      same(gxw.subarray(o, o + n), gxr, "gx");
      same(gxw.subarray(0, o), gxBefore.subarray(0, o), "before gx");
      same(gxw.subarray(o + n), gxBefore.subarray(o + n), "after gx");
      same(dbw.subarray(od, od + C), dbr, "db");
      same(dbw.subarray(0, od), dbBefore.subarray(0, od), "before db");
      same(dbw.subarray(od + C), dbBefore.subarray(od + C), "after db");
    }),
    { seed: 4703, numRuns: 80 },
  );
});

test("sgd_dense: bit for bit, and equal to sgd_rows over all rows", () => {
  fc.assert(
    fc.property(
      nArb,
      offArb,
      offArb,
      whereArb,
      whereArb,
      fc.double({ min: 1e-4, max: 2, noNaN: true }),
      seedArb,
      (n, ow, og, ww, wg, lr, seed) => {
        const w = values(seed, n);
        const g = values(seed + 1, n);
        const ww2 = placeF32(w, ww, ow);
        const before = Float32Array.from(ww2);
        sgd_dense(n, lr, ww2, ow, placeF32(g, wg, og), og);
        const wr = Float32Array.from(w);
        ref.sgd_dense(n, lr, wr, 0, g, 0);
        same(ww2.subarray(ow, ow + n), wr, "w");
        same(ww2.subarray(0, ow), before.subarray(0, ow), "before w");
        same(ww2.subarray(ow + n), before.subarray(ow + n), "after w");
        // the dense update of a (n, 1) table equals the sparse update of every row
        const wrows = Float32Array.from(w);
        ref.sgd_rows(
          n,
          1,
          lr,
          wrows,
          0,
          Int32Array.from({ length: n }, (_, i) => i),
          g,
          0,
        );
        same(wr, wrows, "dense vs rows");
      },
    ),
    { seed: 4703, numRuns: 80 },
  );
});

test("add: bit for bit, ±0, NaN and ±Inf included, nothing outside the extent changes", () => {
  fc.assert(
    fc.property(nArb, offArb, offArb, whereArb, whereArb, seedArb, (n, ox, oy, wx, wy, seed) => {
      const x = withSpecials(seed, n);
      const y = withSpecials(seed + 1, n);
      const yw = placeF32(y, wy, oy);
      const before = Float32Array.from(yw);
      add(n, placeF32(x, wx, ox), ox, yw, oy);
      // the naive sum, element by element: float32 + float32 rounded once to float32
      const want = Float32Array.from(y, (v, i) => Math.fround(v + (x[i] as number)));
      same(yw.subarray(oy, oy + n), want, "y");
      same(yw.subarray(0, oy), before.subarray(0, oy), "before y");
      same(yw.subarray(oy + n), before.subarray(oy + n), "after y");
    }),
    { seed: 4705, numRuns: 80 },
  );
});

test("elementwise: float64 goes to the reference; bad extents are errors naming the kernel", () => {
  const x = Float64Array.of(-1, 2, -0, 3);
  const y = new Float64Array(4);
  relu_fwd(4, x, 0, y, 0);
  assert.equal(Array.from(y), [0, 2, 0, 3]);
  assert.throws(
    () => relu_fwd(5, new Float32Array(4), 0, new Float32Array(5), 0),
    (e: unknown) =>
      e instanceof KernelError && /relu_fwd: x needs 5 elements from offset 0 but the array has 4/.test(e.message),
  );
  assert.throws(
    () => col_sum(2, 3, new Float32Array(6), 1, new Float32Array(3), 0),
    (e: unknown) =>
      e instanceof KernelError && /col_sum: x needs 6 elements from offset 1 but the array has 6/.test(e.message),
  );
  assert.throws(
    () => add(4, new Float32Array(4), 0, new Float32Array(4), 2),
    (e: unknown) =>
      e instanceof KernelError && /add: y needs 4 elements from offset 2 but the array has 4/.test(e.message),
  );
});

test.run();
