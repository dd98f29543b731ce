// Tests of src/ops/reduce.ts: sum and mean over axes. Properties over random shapes and
// axis sets (forward vs a naive float64 reference, gradients vs central differences, via
// checkOp), hand-computed cases, empty reductions, and bad input.
//
// Glossary: R rank of x; axes the reduced axes; K elements per output element.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { gradcheck } from "../../src/autograd/gradcheck.ts";
import { mul, sigmoid } from "../../src/ops/elementwise.ts";
import { mean, sum } from "../../src/ops/reduce.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, full, ones, randn, scalar, zeros, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

// The sums run in float64 and round once to float32: 2^-24 relative; we allow 1e-6 + 1e-7.
const FWD = { atol: 1e-7, rtol: 1e-6 };
// The gradient is g (or g/K) rounded to float32, against float64 central differences.
const BWD = { atol: 1e-6, rtol: 1e-5 };

// ---------------------------------------------------------------------------------------
// Naive float64 reference: walk x by multi-index (div/mod) and drop the reduced axes.

function size(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

type AxisArg = number | number[] | undefined;

/** Reduced dims in [0, R), the output shape and K, from an axis argument as the op takes it. */
function plan(shape: readonly number[], axis: AxisArg, keepDims: boolean) {
  const R = shape.length;
  const list = axis === undefined ? shape.map((_, d) => d) : typeof axis === "number" ? [axis] : axis;
  const reduced = new Set(list.map((a) => (a < 0 ? a + R : a)));
  const out = keepDims ? shape.map((d, i) => (reduced.has(i) ? 1 : d)) : shape.filter((_, i) => !reduced.has(i));
  let K = 1;
  for (const d of reduced) K *= shape[d] as number;
  return { reduced, out, K };
}

function reduceRef(shape: readonly number[], axis: AxisArg, keepDims: boolean, isMean: boolean) {
  const { reduced, out, K } = plan(shape, axis, keepDims);
  return (x: Float64Array): Float64Array => {
    const y = new Float64Array(size(out));
    for (let i = 0; i < x.length; i++) {
      let rest = i;
      let o = 0;
      let scale = 1; // row-major weight of the current kept dim in the output
      for (let d = shape.length - 1; d >= 0; d--) {
        const n = shape[d] as number;
        const id = rest % n;
        rest = Math.floor(rest / n);
        if (!reduced.has(d)) {
          o += id * scale;
          scale *= n;
        }
      }
      y[o] += x[i] as number;
    }
    return isMean ? y.map((v) => v / K) : y;
  };
}

// ---------------------------------------------------------------------------------------
// Arbitraries: a shape of rank 0–4 (dims 1–4, now and then 0), and an axis argument for it:
// none, one axis, or a list of distinct axes in any order, each possibly negative.

const dim = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 9 },
  { arbitrary: fc.constant(0), weight: 1 },
);

function axisFor(R: number): fc.Arbitrary<AxisArg> {
  const dims = Array.from({ length: R }, (_, d) => d);
  const negs = fc.array(fc.boolean(), { minLength: R, maxLength: R });
  const list = fc.tuple(fc.shuffledSubarray(dims), negs).map(([axes, neg]) => axes.map((a) => (neg[a] ? a - R : a)));
  const options: fc.Arbitrary<AxisArg>[] = [fc.constant(undefined), list];
  if (R > 0) options.push(fc.integer({ min: -R, max: R - 1 }));
  return fc.oneof(...options);
}

const reduceCase = fc
  .array(dim, { maxLength: 4 })
  .chain((shape) =>
    fc.record({ shape: fc.constant(shape), axis: axisFor(shape.length), keepDims: fc.boolean(), seed: fc.nat() }),
  );

function reduceProperty(name: string, op: typeof sum, isMean: boolean, seed: number): void {
  fc.assert(
    fc.property(reduceCase, ({ shape, axis, keepDims, seed: s }) => {
      const want = plan(shape, axis, keepDims).out;
      checkOp({
        inputs: [{ data: randomValues(size(shape), s, -2, 2), shape }],
        op: (x) => {
          const y = op(x, axis, keepDims);
          assert.equal(
            y.shape,
            want,
            `${name} of ${JSON.stringify(shape)} over ${JSON.stringify(axis)}, keepDims ${keepDims}`,
          );
          return y;
        },
        ref: reduceRef(shape, axis, keepDims, isMean),
        forward: FWD,
        backward: BWD,
      });
    }),
    { seed, numRuns: 80 },
  );
}

// ---------------------------------------------------------------------------------------
// Properties

test("sum over random axes (negative, unordered, none) matches a float64 reference and central differences (tol: FWD, BWD)", () => {
  reduceProperty("sum", sum, false, 301);
});

test("mean over random axes matches a float64 reference and central differences; NaN where K = 0 (tol: FWD, BWD)", () => {
  reduceProperty("mean", mean, true, 302);
});

// ---------------------------------------------------------------------------------------
// Hand-computed cases (small integers and binary fractions: exact, so tol 0 unless stated)

const X = [
  [1, 2, 3],
  [4, 5, 6],
];

test("sum of a (2, 3) matrix: over all, axis 0, axis 1, axis -1 with keepDims", () => {
  const x = fromArray(X);
  const all = sum(x);
  assert.equal(all.shape, []);
  assert.is(all.item(), 21);
  assert.equal(sum(x, 0).toArray(), [5, 7, 9]); // column sums
  assert.equal(sum(x, 1).toArray(), [6, 15]); // row sums
  const kept = sum(x, -1, true);
  assert.equal(kept.shape, [2, 1]);
  assert.equal(kept.toArray(), [[6], [15]]);
  assert.equal(sum(x, [1, 0]).shape, []);
  assert.equal(sum(x, [0, 1], true).toArray(), [[21]]);
});

test("mean of a (2, 3) matrix: values and the 1/K gradient (tol 1e-7 for thirds in float32)", () => {
  const x = fromArray(X, undefined, { requiresGrad: true });
  assert.equal(mean(x, 0).toArray(), [2.5, 3.5, 4.5]);
  assert.equal(mean(x, [0, -1]).toArray(), 3.5);
  const m = mean(x, 1); // [2, 5]
  assert.equal(m.toArray(), [2, 5]);
  m.backward(fromArray([1, 2]));
  assertClose(x.grad ?? [], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3], { atol: 1e-7, rtol: 0 }); // g_row / 3
  x.zeroGrad();
  sum(x, 0).backward(fromArray([1, 2, 3]));
  assert.equal(Array.from(x.grad ?? []), [1, 2, 3, 1, 2, 3]); // each x gets its column's g
});

test("sum of a (2, 2, 2) tensor over axes [0, 2] keeps the middle axis", () => {
  const x = fromArray([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]);
  // middle index 0: x000 + x001 + x100 + x101 = 0 + 1 + 4 + 5; index 1: 2 + 3 + 6 + 7
  assert.equal(sum(x, [0, 2]).toArray(), [10, 18]);
  assert.equal(sum(x, [2, -3], true).shape, [1, 2, 1]);
  assert.equal(mean(x, [0, 2]).toArray(), [2.5, 4.5]);
});

test("empty reductions: sum is 0, mean is NaN (PyTorch and NumPy agree); backward is a no-op", () => {
  const e = zeros([0]);
  assert.is(sum(e).item(), 0);
  assert.ok(Number.isNaN(mean(e).item()));
  const x = zeros([2, 0], { requiresGrad: true });
  const m = mean(x, 1);
  assert.equal(m.shape, [2]);
  assert.ok(Number.isNaN(m.data[0] ?? 0) && Number.isNaN(m.data[1] ?? 0));
  m.backward(ones([2]));
  assert.equal(Array.from(x.grad ?? []), []);
  // Reducing a non-empty axis of an empty tensor gives an empty result, not NaN.
  assert.equal(mean(zeros([0, 3]), 1).shape, [0]);
  const cols = mean(zeros([0, 3]), 0);
  assert.equal(cols.shape, [3]);
  assert.ok(Array.from(cols.data).every(Number.isNaN));
  assert.equal(Array.from(sum(zeros([0, 3]), 0).data), [0, 0, 0]);
});

test("rank-0 input and an empty axis list: both reduce nothing and pass the gradient through", () => {
  const s = scalar(4, { requiresGrad: true });
  const y = mean(s);
  assert.equal(y.shape, []);
  assert.is(y.item(), 4);
  y.backward();
  assert.equal(Array.from(s.grad ?? []), [1]);
  assert.is(sum(scalar(-2), []).item(), -2);

  const x = fromArray(X, undefined, { requiresGrad: true });
  const same = sum(x, []); // NumPy's axis=(): nothing reduced
  assert.equal(same.toArray(), X);
  same.backward(fromArray([1, 2, 3, 4, 5, 6], [2, 3]));
  assert.equal(Array.from(x.grad ?? []), [1, 2, 3, 4, 5, 6]);
});

test("float32 sums accumulate in float64: 100000 × 0.1f rounds once (tol 1e-7 relative)", () => {
  // Exact: 100000 · fround(0.1) = 10000.000149011612, which rounds to 10000 in float32.
  // A float32 running sum drifts to about 9998.6 (1.4e-4 relative), so this catches it.
  const x = full([100000], 0.1);
  assertClose(sum(x).data, [10000], { atol: 0, rtol: 1e-7 });
  assertClose(mean(x).data, [Math.fround(0.1)], { atol: 0, rtol: 1e-7 });
});

test("gradcheck passes on a user function mixing reductions and broadcasting (float64; atol 1e-5, rtol 1e-3)", () => {
  const rng = new Rng(11);
  const x = randn([3, 4], { rng, requiresGrad: true });
  const w = randn([4], { rng, requiresGrad: true });
  // f(x, w) = mean over rows of σ(x ⊙ Σ_j (x ⊙ w)_j), a (4,) vector; then summed with weights.
  const f = (x: Tensor, w: Tensor): Tensor => sum(mul(mean(sigmoid(mul(x, sum(mul(x, w), 1, true))), 0), w), -1);
  const r = gradcheck(f, [x, w]); // also checks that float64 stays float64 through sum and mean
  assert.ok(r.ok, `mismatches: ${JSON.stringify(r.mismatches)}`);
  assert.ok(r.maxAbsError < 1e-6, `max error ${r.maxAbsError}`);
});

// ---------------------------------------------------------------------------------------
// Bad input

test("an out-of-range axis names the op, the axis, the rank and the shape", () => {
  const x = zeros([2, 3]);
  assertThrows(() => sum(x, 2), /^sum: axis 2 is out of range for rank 2 — input is \(2, 3\)$/);
  assertThrows(() => mean(x, -3), /^mean: axis -3 is out of range for rank 2 — input is \(2, 3\)$/);
  assertThrows(() => sum(x, [0, 5]), /^sum: axis 5 is out of range for rank 2 — input is \(2, 3\)$/);
  assertThrows(() => sum(x, 0.5), /^sum: axis 0.5 is out of range for rank 2/);
  assertThrows(() => sum(scalar(1), 0), /^sum: axis 0 is out of range for rank 0 — input is \(\)$/);
});

test("a repeated axis (also as its negative twin) is rejected", () => {
  const x = zeros([2, 3, 4]);
  assertThrows(
    () => sum(x, [1, 1]),
    /^sum: axis 1 is repeated \(it is dim 1\) in axes \[1, 1\] — input is \(2, 3, 4\)$/,
  );
  assertThrows(
    () => mean(x, [0, 2, -1]),
    /^mean: axis -1 is repeated \(it is dim 2\) in axes \[0, 2, -1\] — input is \(2, 3, 4\)$/,
  );
});

test("non-Tensor input, non-numeric axis and non-boolean keepDims are rejected, naming the op", () => {
  // @ts-expect-error an array is not a Tensor
  assertThrows(() => sum([1, 2, 3]), /^sum: x must be a Tensor, got Array$/);
  assertThrows(
    // @ts-expect-error a string is not an axis
    () => mean(zeros([2]), "0"),
    /^mean: axis must be a number, an array of numbers or undefined, got string$/,
  );
  // @ts-expect-error a string is not an axis
  assertThrows(() => sum(zeros([2]), ["0"]), /^sum: axis must be a number, got string — input is \(2,\)$/);
  // @ts-expect-error keepDims is a boolean
  assertThrows(() => sum(zeros([2]), 0, 1), /^sum: keepDims must be a boolean, got number$/);
});

test.run();
