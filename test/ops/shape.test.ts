// Tests of src/ops/shape.ts: reshape, transpose, permute, concat, slice, indexSelect,
// gather. Each op: a fast-check property (forward vs a naive float64 reference, every
// gradient vs float64 central differences, via checkOp), round trips, hand-computed
// cases, and bad input.
//
// Glossary: R rank; A the size of the axis an op works along; L ids in an index; C row
// length of a table read by indexSelect along axis 0.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { denseGradient, gradcheck } from "../../src/autograd/gradcheck.ts";
import { concat, gather, indexSelect, permute, reshape, slice, transpose } from "../../src/ops/shape.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, indexTensor, randn, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

// Shape ops only move values, and checkOp feeds values already rounded to float32, so the
// forward must match the reference exactly.
const EXACT = { atol: 0, rtol: 0 };
// Gradients: the analytic side gets the upstream gradient rounded to float32 (2^-24
// relative) and sums at most a few repeats in float32; central differences of a linear
// function in float64 are good to ~1e-9.
const BWD = { atol: 1e-6, rtol: 1e-5 };

// ---------------------------------------------------------------------------------------
// Naive references on flat float64 arrays: multi-indices by div/mod, nothing shared with
// the op code.

function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

function multiIndex(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d] as number;
    idx[d] = flat % n;
    flat = Math.floor(flat / n);
  }
  return idx;
}

function flatIndex(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * (shape[d] as number) + (idx[d] as number);
  return f;
}

/** y[idx] = x[idx'] where idx'[perm[k]] = idx[k]. */
function permuteRef(x: Float64Array, shape: readonly number[], perm: readonly number[]): Float64Array {
  const yShape = perm.map((d) => shape[d] as number);
  const y = new Float64Array(x.length);
  for (let n = 0; n < y.length; n++) {
    const idx = multiIndex(n, yShape);
    const src = new Array<number>(shape.length);
    perm.forEach((d, k) => (src[d] = idx[k] as number));
    y[n] = x[flatIndex(src, shape)] as number;
  }
  return y;
}

/** Element by element: find the part whose axis range holds the output coordinate. */
function concatRef(parts: Float64Array[], shapes: number[][], axis: number): Float64Array {
  const first = shapes[0] as number[];
  const outShape = first.map((d, i) => (i === axis ? shapes.reduce((s, sh) => s + (sh[axis] as number), 0) : d));
  const y = new Float64Array(size(outShape));
  for (let n = 0; n < y.length; n++) {
    const idx = multiIndex(n, outShape);
    let c = idx[axis] as number;
    let p = 0;
    while (c >= ((shapes[p] as number[])[axis] as number)) {
      c -= (shapes[p] as number[])[axis] as number;
      p++;
    }
    const src = [...idx];
    src[axis] = c;
    y[n] = (parts[p] as Float64Array)[flatIndex(src, shapes[p] as number[])] as number;
  }
  return y;
}

/** Coordinates start ≤ i < end (already non-negative) along axis. */
function sliceRef(x: Float64Array, shape: readonly number[], axis: number, start: number, end: number): Float64Array {
  const outShape = shape.map((d, i) => (i === axis ? end - start : d));
  const y = new Float64Array(size(outShape));
  for (let n = 0; n < y.length; n++) {
    const idx = multiIndex(n, outShape);
    idx[axis] = (idx[axis] as number) + start;
    y[n] = x[flatIndex(idx, shape)] as number;
  }
  return y;
}

function indexSelectRef(x: Float64Array, shape: readonly number[], axis: number, ids: readonly number[]): Float64Array {
  const outShape = shape.map((d, i) => (i === axis ? ids.length : d));
  const y = new Float64Array(size(outShape));
  for (let n = 0; n < y.length; n++) {
    const idx = multiIndex(n, outShape);
    idx[axis] = ids[idx[axis] as number] as number;
    y[n] = x[flatIndex(idx, shape)] as number;
  }
  return y;
}

function gatherRef(
  x: Float64Array,
  shape: readonly number[],
  axis: number,
  ids: readonly number[],
  idShape: readonly number[],
): Float64Array {
  const y = new Float64Array(ids.length);
  for (let n = 0; n < y.length; n++) {
    const idx = multiIndex(n, idShape);
    idx[axis] = ids[n] as number;
    y[n] = x[flatIndex(idx, shape)] as number;
  }
  return y;
}

/** A shuffle of 0..R-1 from an Rng (Fisher–Yates). */
function shuffled(R: number, rng: Rng): number[] {
  const p = Array.from({ length: R }, (_, i) => i);
  for (let i = R - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j] as number, p[i] as number];
  }
  return p;
}

// Dims 1–4 (so 4 itself and non-multiples), now and then 0.
const dim = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 8 },
  { arbitrary: fc.constant(0), weight: 1 },
);
const positiveDim = fc.integer({ min: 1, max: 4 });

// ---------------------------------------------------------------------------------------
// reshape

test("reshape keeps the flat order, infers -1, and passes the gradient through (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(fc.array(dim, { minLength: 0, maxLength: 4 }), fc.nat(), (shape, s) => {
      // Target: x's dims shuffled, adjacent pairs merged at random, maybe one dim as -1.
      const rng = new Rng(s);
      const dims = shuffled(shape.length, rng).map((i) => shape[i] as number);
      const target: number[] = [];
      for (const d of dims) {
        if (target.length > 0 && rng.int(2) === 0)
          target[target.length - 1] = (target[target.length - 1] as number) * d;
        else target.push(d);
      }
      const want = [...target];
      if (target.length > 0 && rng.int(2) === 0) {
        const at = rng.int(target.length);
        if (size(target.filter((_, i) => i !== at)) > 0) target[at] = -1;
      }
      checkOp({
        inputs: [{ data: randomValues(size(shape), s), shape }],
        op: (x) => {
          const y = reshape(x, target);
          assert.equal(y.shape, want);
          return y;
        },
        ref: (x) => x.slice(),
        forward: EXACT,
        backward: BWD,
      });
    }),
    { seed: 201, numRuns: 60 },
  );
});

test("reshape by hand: (2, 3) → (3, -1) is (3, 2) in the same order; the result shares storage", () => {
  const x = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const y = reshape(x, [3, -1]);
  assert.equal(y.shape, [3, 2]);
  assert.equal(y.toArray(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assert.is(y.data, x.data);
  assert.equal(reshape(fromArray([7]), []).shape, []);
  assert.equal(reshape(fromArray([], [0, 3]), [3, 0, 5]).shape, [3, 0, 5]);
});

test("reshape round trip: back to the original shape gives x, and the gradient is g", () => {
  fc.assert(
    fc.property(fc.array(positiveDim, { minLength: 1, maxLength: 4 }), fc.nat(), (shape, s) => {
      const x = fromArray(randomValues(size(shape), s), shape, { requiresGrad: true });
      const y = reshape(reshape(x, [-1]), shape);
      assert.equal(y.shape, shape);
      assert.equal(Array.from(y.data), Array.from(x.data));
      const g = Float32Array.from(randomValues(y.size, s + 1));
      y.backward(g);
      assert.equal(Array.from(x.grad ?? []), Array.from(g)); // exact: a copy of g
    }),
    { seed: 202, numRuns: 40 },
  );
});

test("reshape rejects sizes that do not fit, two -1s, a -1 it cannot infer, bad dims", () => {
  const x = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assertThrows(
    () => reshape(x, [4, 2]),
    /^reshape: cannot view 6 elements as \[4, 2\] \(8 elements\) — x is \(2, 3\)$/,
  );
  assertThrows(() => reshape(x, [-1, -1]), /^reshape: only one dim may be -1, got \[-1, -1\] — x is \(2, 3\)$/);
  assertThrows(
    () => reshape(x, [4, -1]),
    /^reshape: cannot infer the -1 in \[4, -1\]: 6 elements do not divide into rows of 4 — x is \(2, 3\)$/,
  );
  assertThrows(() => reshape(fromArray([], [0, 2]), [0, -1]), /reshape: cannot infer the -1 in \[0, -1\]/);
  assertThrows(() => reshape(x, [2.5, 2]), /reshape: dims must be non-negative integers \(or one -1\), got \[2.5, 2\]/);
  assertThrows(() => reshape(x, [-2, -3]), /reshape: dims must be non-negative integers/);
});

// ---------------------------------------------------------------------------------------
// transpose, permute

test("transpose swaps two dims (negative dims, equal dims, default last two) (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(fc.array(dim, { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean(), (shape, s, byDefault) => {
      const R = shape.length;
      const rng = new Rng(s);
      const useDefault = byDefault && R >= 2;
      // Dims in [-R, R): negative ones count from the end.
      const d0 = useDefault ? R - 2 : rng.int(2 * R) - R;
      const d1 = useDefault ? R - 1 : rng.int(2 * R) - R;
      const a = (d0 + R) % R;
      const b = (d1 + R) % R;
      const perm = shape.map((_, i) => (i === a ? b : i === b ? a : i));
      checkOp({
        inputs: [{ data: randomValues(size(shape), s), shape }],
        op: (x) => {
          const y = useDefault ? transpose(x) : transpose(x, d0, d1);
          assert.equal(
            y.shape,
            perm.map((d) => shape[d]),
          );
          return y;
        },
        ref: (x) => permuteRef(x, shape, perm),
        forward: EXACT,
        backward: BWD,
      });
    }),
    { seed: 203, numRuns: 60 },
  );
});

test("transpose by hand: a (2, 3) matrix, and dims 0 and -1 of a (2, 2, 2) block", () => {
  assert.equal(
    transpose(
      fromArray([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ).toArray(),
    [
      [1, 4],
      [2, 5],
      [3, 6],
    ],
  );
  const x = fromArray([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]); // x[i][j][k] = 4i + 2j + k
  assert.equal(Array.from(transpose(x).data), [0, 2, 1, 3, 4, 6, 5, 7]); // y[i][j][k] = x[i][k][j]
  assert.equal(Array.from(transpose(x, 0, -1).data), [0, 4, 2, 6, 1, 5, 3, 7]); // y[i][j][k] = x[k][j][i]
});

test("permute reorders dims (any permutation, negative entries) (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(fc.array(dim, { minLength: 0, maxLength: 4 }), fc.nat(), (shape, s) => {
      const rng = new Rng(s);
      const perm = shuffled(shape.length, rng);
      const dims = perm.map((d) => (rng.int(2) === 0 ? d - shape.length : d)); // some negative
      checkOp({
        inputs: [{ data: randomValues(size(shape), s), shape }],
        op: (x) => {
          const y = permute(x, dims);
          assert.equal(
            y.shape,
            perm.map((d) => shape[d]),
          );
          return y;
        },
        ref: (x) => permuteRef(x, shape, perm),
        forward: EXACT,
        backward: BWD,
      });
    }),
    { seed: 204, numRuns: 60 },
  );
});

test("permute by hand: (2, 1, 3) by [2, 0, 1] is (3, 2, 1) with y[c][a][0] = x[a][0][c]", () => {
  const x = fromArray([0, 1, 2, 3, 4, 5], [2, 1, 3]); // x[a][0][c] = 3a + c
  const y = permute(x, [2, 0, 1]);
  assert.equal(y.shape, [3, 2, 1]);
  assert.equal(Array.from(y.data), [0, 3, 1, 4, 2, 5]);
});

test("permute round trip: the inverse permutation gives x back, and the gradient is g", () => {
  fc.assert(
    fc.property(fc.array(dim, { minLength: 1, maxLength: 4 }), fc.nat(), (shape, s) => {
      const perm = shuffled(shape.length, new Rng(s));
      const inverse = new Array<number>(perm.length);
      perm.forEach((d, k) => (inverse[d] = k));
      const x = fromArray(randomValues(size(shape), s), shape, { requiresGrad: true });
      const y = permute(permute(x, perm), inverse);
      assert.equal(y.shape, shape);
      assert.equal(Array.from(y.data), Array.from(x.data));
      const g = Float32Array.from(randomValues(y.size, s + 1));
      y.backward(g);
      assert.equal(Array.from(x.grad ?? []), Array.from(g)); // exact: values only moved
    }),
    { seed: 205, numRuns: 40 },
  );
});

test("permute and transpose reject bad permutations and dims (a negative entry repeating its positive twin too)", () => {
  const x = fromArray([1, 2, 3, 4, 5, 6], [1, 2, 3]);
  assertThrows(
    () => permute(x, [0, 1]),
    /^permute: dims \[0, 1\] must list each of the 3 dims once — x is \(1, 2, 3\)$/,
  );
  assertThrows(
    () => permute(x, [0, 1, 1]),
    /^permute: dims \[0, 1, 1\] is not a permutation of 0\.\.2 — x is \(1, 2, 3\)$/,
  );
  assert.equal(permute(x, [-3, -2, -1]).shape, [1, 2, 3]);
  assertThrows(() => permute(x, [2, 1, -1]), /^permute: dims \[2, 1, -1\] is not a permutation of 0\.\.2/);
  assertThrows(() => permute(x, [0, 1, 3]), /permute: dims \[0, 1, 3\] is not a permutation/);
  assertThrows(() => transpose(x, 0, 3), /^transpose: axis 3 is out of range for rank 3 — input is \(1, 2, 3\)$/);
  assertThrows(
    () => transpose(fromArray([1, 2])),
    /^transpose: swapping the last two dims needs at least 2 dims, got 1 — x is \(2,\)$/,
  );
});

// ---------------------------------------------------------------------------------------
// concat, slice

/** Shapes of 1–4 parts that agree except along axis (which may be 0 in some parts). */
const concatCase = fc
  .record({
    shape: fc.array(dim, { minLength: 1, maxLength: 3 }),
    axisSeed: fc.nat(),
    parts: fc.array(dim, { minLength: 1, maxLength: 4 }),
    seed: fc.nat(),
  })
  .map(({ shape, axisSeed, parts, seed }) => {
    const axis = axisSeed % shape.length;
    return { axis, shapes: parts.map((a) => shape.map((d, i) => (i === axis ? a : d))), seed };
  });

test("concat joins parts along any axis, including empty parts (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(concatCase, fc.boolean(), ({ axis, shapes, seed }, negative) => {
      const R = (shapes[0] as number[]).length;
      checkOp({
        inputs: shapes.map((shape, i) => ({ data: randomValues(size(shape), seed + i), shape })),
        op: (...xs) => concat(xs, negative ? axis - R : axis),
        ref: (...xs) => concatRef(xs, shapes, axis),
        forward: EXACT,
        backward: BWD,
      });
    }),
    { seed: 206, numRuns: 60 },
  );
});

test("concat by hand: rows along axis 0, columns along axis -1, and the gradient split back", () => {
  const rows = concat([
    fromArray([[1, 2]]),
    fromArray([
      [3, 4],
      [5, 6],
    ]),
  ]);
  assert.equal(rows.toArray(), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const a = fromArray([[1], [2]], undefined, { requiresGrad: true });
  const b = fromArray(
    [
      [3, 4],
      [5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  const y = concat([a, b], -1);
  assert.equal(y.toArray(), [
    [1, 3, 4],
    [2, 5, 6],
  ]);
  y.backward(
    fromArray([
      [1, 2, 3],
      [4, 5, 6],
    ]),
  );
  assert.equal(Array.from(a.grad ?? []), [1, 4]);
  assert.equal(Array.from(b.grad ?? []), [2, 3, 5, 6]);
});

test("concat then slice gives back the parts (slices with negative start/end too)", () => {
  fc.assert(
    fc.property(concatCase, ({ axis, shapes, seed }) => {
      const parts = shapes.map((shape, i) => fromArray(randomValues(size(shape), seed + i), shape));
      const y = concat(parts, axis);
      const A = y.shape[axis] as number;
      let start = 0;
      parts.forEach((p, i) => {
        const end = start + (p.shape[axis] as number);
        // Odd parts are cut with negative bounds (counted from the end), where they are
        // non-zero: -0 would mean 0, not A.
        const s = i % 2 === 1 && start < A ? start - A : start;
        const e = i % 2 === 1 && end < A ? end - A : end;
        const back = slice(y, axis, s, e);
        assert.equal(back.shape, p.shape);
        assert.equal(Array.from(back.data), Array.from(p.data));
        start = end;
      });
    }),
    { seed: 207, numRuns: 40 },
  );
});

test("concat rejects an empty list, rank-0 parts, other ranks, other dims, mixed dtypes", () => {
  const a = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  assertThrows(() => concat([]), /^concat: needs a non-empty array of tensors$/);
  assertThrows(
    () => concat([fromArray(1), fromArray(2)]),
    /^concat: cannot concatenate rank-0 tensors — xs\[0\] is \(\)$/,
  );
  assertThrows(
    () => concat([a, fromArray([1, 2, 3])]),
    /^concat: ranks differ \(2 vs 1\) — xs\[0\] is \(2, 3\), xs\[1\] is \(3,\)$/,
  );
  assertThrows(
    () =>
      concat(
        [
          a,
          a,
          fromArray([
            [1, 2],
            [3, 4],
          ]),
        ],
        0,
      ),
    /^concat: dim 1 differs \(3 vs 2\); only the axis may differ — xs\[0\] is \(2, 3\), xs\[2\] is \(2, 2\), axis=0$/,
  );
  assertThrows(() => concat([a, a], 2), /^concat: axis 2 is out of range for rank 2 — input is \(2, 3\)$/);
  assertThrows(
    () => concat([a, fromArray([[1, 2, 3]], undefined, { dtype: "float64" })]),
    /^concat: inputs must share a dtype — xs\[0\] is float32, xs\[1\] is float64$/,
  );
});

test("slice takes [start, end) along an axis, negative bounds from the end (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(
      fc.array(dim, { minLength: 1, maxLength: 4 }),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      fc.boolean(),
      fc.boolean(),
      (shape, axisSeed, p, q, negS, negE) => {
        const axis = axisSeed % shape.length;
        const A = shape[axis] as number;
        const start = p % (A + 1);
        const end = start + (q % (A - start + 1));
        // Negative forms exist for bounds below A (-k means A - k, and -0 is 0).
        const s = negS && start < A ? start - A : start;
        const e = negE && end < A ? end - A : end;
        checkOp({
          inputs: [{ data: randomValues(size(shape), p + q), shape }],
          op: (x) => slice(x, axis, s, e),
          ref: (x) => sliceRef(x, shape, axis, start, end),
          forward: EXACT,
          backward: BWD,
        });
      },
    ),
    { seed: 208, numRuns: 60 },
  );
});

test("slice by hand: columns -3..-1 of a (2, 4) matrix, and where its gradient lands", () => {
  const x = fromArray(
    [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ],
    undefined,
    { requiresGrad: true },
  );
  const y = slice(x, 1, -3, -1);
  assert.equal(y.toArray(), [
    [1, 2],
    [5, 6],
  ]);
  y.backward(
    fromArray([
      [1, 2],
      [3, 4],
    ]),
  );
  assert.equal(Array.from(x.grad ?? []), [0, 1, 2, 0, 0, 3, 4, 0]);
  assert.equal(slice(x, 0, 1, 1).shape, [0, 4]); // an empty range is fine
});

test("slice rejects ranges outside the axis, start after end, bad axes and non-integers", () => {
  const x = fromArray([
    [0, 1, 2, 3],
    [4, 5, 6, 7],
  ]);
  assertThrows(() => slice(x, 1, 0, 5), /^slice: range \[0, 5\) is out of range for axis 1 of size 4 — x is \(2, 4\)$/);
  assertThrows(() => slice(x, -1, -5, 2), /^slice: range \[-5, 2\) is out of range for axis 1 of size 4/);
  assertThrows(
    () => slice(x, 0, 2, 1),
    /^slice: range \[2, 1\) has start 2 after end 1 on axis 0 of size 2 — x is \(2, 4\)$/,
  );
  assertThrows(() => slice(x, 2, 0, 1), /^slice: axis 2 is out of range for rank 2/);
  assertThrows(() => slice(x, 0, 0.5, 1), /^slice: start and end must be integers, got 0.5 and 1/);
});

// ---------------------------------------------------------------------------------------
// indexSelect, gather

test("indexSelect picks entries along any axis, with repeated ids and empty indices (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(
      fc.array(dim, { minLength: 1, maxLength: 3 }),
      fc.nat(),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.nat(),
      (shape, axisSeed, raw, s) => {
        const axis = axisSeed % shape.length;
        const A = shape[axis] as number;
        // Few distinct values against up to 6 ids: repeats are common.
        const ids = A === 0 ? [] : raw.map((v) => v % A);
        const index = indexTensor(ids);
        checkOp({
          inputs: [{ data: randomValues(size(shape), s), shape }],
          op: (x) => indexSelect(x, axis, index),
          ref: (x) => indexSelectRef(x, shape, axis, ids),
          forward: EXACT,
          backward: BWD,
        });
      },
    ),
    { seed: 209, numRuns: 80 },
  );
});

test("indexSelect by hand: rows [2, 0, 2] and columns [1, 1, 0] of a (3, 2) matrix, with gradients", () => {
  const x = fromArray(
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  const rows = indexSelect(x, 0, indexTensor([2, 0, 2]));
  assert.equal(rows.toArray(), [
    [5, 6],
    [1, 2],
    [5, 6],
  ]);
  rows.backward(
    fromArray([
      [1, 1],
      [10, 10],
      [100, 100],
    ]),
  );
  // Row 2 was picked twice: 1 + 100; row 0 once; row 1 never, so it is absent.
  assert.equal(Array.from(x.rowGrad?.ids ?? []), [0, 2]);
  assert.equal(Array.from(x.rowGrad?.values ?? []), [10, 10, 101, 101]);
  assert.is(x.grad, null);

  const y = fromArray(
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  const cols = indexSelect(y, 1, indexTensor([1, 1, 0]));
  assert.equal(cols.toArray(), [
    [2, 2, 1],
    [4, 4, 3],
    [6, 6, 5],
  ]);
  cols.backward(
    fromArray([
      [1, 1, 1],
      [1, 1, 1],
      [1, 1, 1],
    ]),
  );
  assert.equal(Array.from(y.grad ?? []), [1, 2, 1, 2, 1, 2]); // column 1 read twice per row
});

test("indexSelect along axis 0 of a leaf: the sparse gradient equals the dense scatter; a non-leaf gets it dense", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 5 }),
      fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      (R, C, raw, s) => {
        const ids = raw.map((v) => v % R);
        const x = fromArray(randomValues(R * C, s), [R, C], { requiresGrad: true });
        const g = Float32Array.from(randomValues(ids.length * C, s + 1));
        // Dense scatter by hand: dx[ids[l]] += g[l], in float64.
        const dense = new Float64Array(R * C);
        ids.forEach((r, l) => {
          for (let c = 0; c < C; c++) dense[r * C + c] += g[l * C + c] as number;
        });
        indexSelect(x, 0, indexTensor(ids)).backward(g);
        const sparse = x.rowGrad;
        assert.ok(sparse !== null);
        assert.is(x.grad, null); // no table-sized dense array
        const touched = [...new Set(ids)].sort((a, b) => a - b);
        assert.equal(Array.from(sparse.ids), touched);
        // Sums of up to 12 float32 values of |g| < 1 against float64: atol 1e-6.
        assertClose(denseGradient(x), dense, { atol: 1e-6, rtol: 0 }, "sparse gradient scattered");

        // Through reshape x is no longer a leaf: accumulateRows adds densely into the
        // view's gradient, and reshape hands it to x as x.grad.
        const x2 = fromArray(randomValues(R * C, s), [R, C], { requiresGrad: true });
        indexSelect(reshape(x2, [R, C]), 0, indexTensor(ids)).backward(g);
        assert.is(x2.rowGrad, null);
        assertClose(x2.grad ?? [], dense, { atol: 1e-6, rtol: 0 }, "dense gradient");
      },
    ),
    { seed: 210, numRuns: 50 },
  );
});

test("indexSelect: row-sparse gradients accumulate across backward calls", () => {
  const x = fromArray(
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  indexSelect(x, 0, indexTensor([1])).backward(fromArray([[1, 2]]));
  indexSelect(x, 0, indexTensor([2, 1])).backward(
    fromArray([
      [10, 20],
      [100, 200],
    ]),
  );
  assert.equal(Array.from(x.rowGrad?.ids ?? []), [1, 2]);
  assert.equal(Array.from(x.rowGrad?.values ?? []), [101, 202, 10, 20]);
});

test("indexSelect rejects a float tensor as index, a 2-D index and out-of-range ids (naming id, position, axis size)", () => {
  const x = fromArray([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  assertThrows(
    // @ts-expect-error a float Tensor is not an IndexTensor
    () => indexSelect(x, 0, fromArray([0, 1])),
    /^indexSelect: index must be an IndexTensor of int32 ids, got Tensor$/,
  );
  assertThrows(
    () => indexSelect(x, 0, indexTensor([0, 1], [1, 2])),
    /^indexSelect: index must be 1-D, got 2-D — index is \(1, 2\)$/,
  );
  assertThrows(
    () => indexSelect(x, 0, indexTensor([0, 2, 3])),
    /^indexSelect: index 3 at position 2 is out of range for axis 0 of size 3 — x is \(3, 2\), index is \(3,\)$/,
  );
  assertThrows(
    () => indexSelect(x, 1, indexTensor([-1])),
    /^indexSelect: index -1 at position 0 is out of range for axis 1 of size 2/,
  );
  assertThrows(() => indexSelect(x, 2, indexTensor([0])), /^indexSelect: axis 2 is out of range for rank 2/);
});

test("gather reads x along an axis at index positions (torch.gather), index smaller than x elsewhere (tol: EXACT, BWD)", () => {
  fc.assert(
    fc.property(fc.array(dim, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(), (shape, axisSeed, s) => {
      const axis = axisSeed % shape.length;
      const rng = new Rng(s);
      const A = shape[axis] as number;
      // Along the axis any length 0–4 (0 when A is 0: there is nothing to read); elsewhere
      // no larger than x.
      const idShape = shape.map((d, i) => (i === axis ? (A === 0 ? 0 : rng.int(5)) : rng.int(d + 1)));
      const ids = Array.from({ length: size(idShape) }, () => rng.int(A));
      const index = indexTensor(ids, idShape);
      checkOp({
        inputs: [{ data: randomValues(size(shape), s), shape }],
        op: (x) => {
          const y = gather(x, axis, index);
          assert.equal(y.shape, idShape);
          return y;
        },
        ref: (x) => gatherRef(x, shape, axis, ids, idShape),
        forward: EXACT,
        backward: BWD,
      });
    }),
    { seed: 211, numRuns: 80 },
  );
});

test("gather by hand: torch's example along axis 1, and axis 0, with gradients", () => {
  const t = fromArray(
    [
      [1, 2],
      [3, 4],
    ],
    undefined,
    { requiresGrad: true },
  );
  const y = gather(t, 1, indexTensor([0, 0, 1, 0], [2, 2]));
  assert.equal(y.toArray(), [
    [1, 1],
    [4, 3],
  ]);
  y.backward(
    fromArray([
      [1, 1],
      [1, 1],
    ]),
  );
  assert.equal(Array.from(t.grad ?? []), [2, 0, 1, 1]); // t[0][0] read twice, t[0][1] never
  assert.equal(gather(t, 0, indexTensor([1, 0], [1, 2])).toArray(), [[3, 2]]);
});

test("gather rejects a float index, another rank, a larger dim, out-of-range ids", () => {
  const x = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  // @ts-expect-error a float Tensor is not an IndexTensor
  assertThrows(() => gather(x, 1, fromArray([[0]])), /^gather: index must be an IndexTensor of int32 ids, got Tensor$/);
  assertThrows(
    () => gather(x, 1, indexTensor([0, 1])),
    /^gather: index must have x's rank 2, got 1 — x is \(2, 3\), index is \(2,\)$/,
  );
  assertThrows(
    () => gather(x, 1, indexTensor([0, 0, 0], [3, 1])),
    /^gather: index dim 0 is 3, larger than x's 2 — x is \(2, 3\), index is \(3, 1\), axis=1$/,
  );
  assertThrows(
    () => gather(x, 1, indexTensor([0, 1, 2, 9], [2, 2])),
    /^gather: index 9 at position 3 \(\[1, 1\]\) is out of range for axis 1 of size 3 — x is \(2, 3\), index is \(2, 2\)$/,
  );
});

// ---------------------------------------------------------------------------------------
// Accumulation and float64

test("every shape op adds (+=) into an existing gradient: two backward passes give twice one (atol 1e-6)", () => {
  const ops: Record<string, (x: Tensor) => Tensor> = {
    reshape: (x) => reshape(x, [3, 2]),
    transpose: (x) => transpose(x),
    permute: (x) => permute(x, [1, 0]),
    concat: (x) => concat([x, x], 1),
    slice: (x) => slice(x, 1, 1, 3),
    indexSelect0: (x) => indexSelect(x, 0, indexTensor([1, 0, 1])),
    indexSelect1: (x) => indexSelect(x, 1, indexTensor([2, 2])),
    gather: (x) => gather(x, 0, indexTensor([1, 0, 0], [1, 3])),
  };
  for (const [name, f] of Object.entries(ops)) {
    const x = fromArray(
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      undefined,
      { requiresGrad: true },
    );
    const once = (): void => {
      const y = f(x);
      y.backward(Float32Array.from(randomValues(y.size, 9))); // the same g each time
    };
    once();
    const first = Array.from(denseGradient(x));
    once();
    // Repeated reads (concat of x with x, repeated ids) add in another order the second
    // time, so float32 rounding (|g| < 1, up to 4 terms) may differ in the last bit.
    assertClose(
      denseGradient(x),
      first.map((v) => 2 * v),
      { atol: 1e-6, rtol: 0 },
      name,
    );
  }
});

test("shape ops keep float64 and a chain of them passes gradcheck in float64 (atol 1e-9, rtol 1e-7)", () => {
  const rng = new Rng(5);
  const a = randn([2, 3, 4], { rng, dtype: "float64", requiresGrad: true });
  const b = randn([2, 3, 1], { rng, dtype: "float64", requiresGrad: true });
  const f = (p: Tensor, q: Tensor): Tensor => {
    const joined = concat([p, q], -1); // (2, 3, 5)
    const moved = permute(joined, [2, 0, 1]); // (5, 2, 3)
    const picked = indexSelect(moved, 0, indexTensor([4, 1, 1])); // (3, 2, 3)
    const flat = reshape(transpose(picked, 0, 2), [6, -1]); // (6, 3)
    return gather(slice(flat, 0, 1, -1), 1, indexTensor([2, 0, 0, 1, 1, 1, 0, 2], [4, 2])); // (4, 2)
  };
  assert.is(f(a, b).dtype, "float64");
  // The chain is linear, so central differences are exact up to float64 rounding.
  const r = gradcheck(f, [a, b], { atol: 1e-9, rtol: 1e-7 });
  assert.ok(r.ok, JSON.stringify(r.mismatches));
});

test.run();
