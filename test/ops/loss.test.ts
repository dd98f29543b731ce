// bce / bceWithLogits / mse: forward against naive float64 references and hand
// calculations, gradients of both arguments against float64 central differences, the
// identity bceWithLogits(x) = bce(sigmoid(x)), PyTorch's clamp of the log at -100, the
// three reductions, and bad input.
//
// Glossary: N elements.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { bce, bceWithLogits, mse, type Reduction } from "../../src/ops/loss.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows, checkOp } from "../../src/testing/index.ts";

interface Case {
  shape: number[];
  seed: number;
  reduction: Reduction;
  hardLabels: boolean;
}

const lossCase: fc.Arbitrary<Case> = fc.record({
  shape: fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 8 })),
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })),
  ),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  reduction: fc.constantFrom<Reduction>("mean", "sum", "none"),
  hardLabels: fc.boolean(),
});

const sizeOf = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** n values in [lo, hi), or 0/1 labels when hard. */
function values(n: number, rng: Rng, lo: number, hi: number, hard = false): number[] {
  return Array.from({ length: n }, () => (hard ? rng.int(2) : rng.uniformIn(lo, hi)));
}

/** Naive reduction of per-element losses in float64. */
function reduceRef(l: number[], reduction: Reduction): number[] {
  if (reduction === "none") return l;
  const s = l.reduce((a, b) => a + b, 0);
  return [reduction === "mean" ? s / l.length : s];
}

const clampLog = (v: number): number => Math.max(Math.log(v), -100);

function bceRef(p: ArrayLike<number>, y: ArrayLike<number>, reduction: Reduction): number[] {
  const l = Array.from(p, (pi, i) => -((y[i] as number) * clampLog(pi) + (1 - (y[i] as number)) * clampLog(1 - pi)));
  return reduceRef(l, reduction);
}

/** The textbook form, log(1 + e^{-x}) etc., fine in float64 for |x| <= 10. */
function logitsRef(x: ArrayLike<number>, y: ArrayLike<number>, reduction: Reduction): number[] {
  const l = Array.from(x, (xi, i) => {
    const yi = y[i] as number;
    return yi * Math.log(1 + Math.exp(-xi)) + (1 - yi) * Math.log(1 + Math.exp(xi));
  });
  return reduceRef(l, reduction);
}

function mseRef(a: ArrayLike<number>, b: ArrayLike<number>, reduction: Reduction): number[] {
  return reduceRef(
    Array.from(a, (ai, i) => (ai - (b[i] as number)) ** 2),
    reduction,
  );
}

/** sigmoid in float64 from the definition. */
const sigmoid64 = (x: number): number => 1 / (1 + Math.exp(-x));

// float32 op vs float64 reference: per-element losses of a few units, sums of <= 12 of
// them, so forward atol 1e-5 + rtol 1e-5; gradients atol 1e-5 + rtol 1e-4 (with p in
// [0.05, 0.95] the third derivative of the log stays below 2/0.05³, so the central-difference
// truncation error at eps = 1e-6 is below 1e-8).
const TOL = { forward: { atol: 1e-5, rtol: 1e-5 }, backward: { atol: 1e-5, rtol: 1e-4 } };

test("property (bce): forward vs float64 reference, gradients of p and y vs central differences", () => {
  fc.assert(
    fc.property(lossCase, (c) => {
      const rng = new Rng(c.seed);
      const n = sizeOf(c.shape);
      checkOp({
        inputs: [
          { data: values(n, rng, 0.05, 0.95), shape: c.shape }, // away from 0 and 1: no clamp
          { data: values(n, rng, 0, 1, c.hardLabels), shape: c.shape },
        ],
        op: (p: Tensor, y: Tensor) => bce(p, y, { reduction: c.reduction }),
        ref: (p: Float64Array, y: Float64Array) => bceRef(p, y, c.reduction),
        ...TOL,
        seed: c.seed,
      });
    }),
    { seed: 301, numRuns: 60 },
  );
});

test("property (bceWithLogits): forward vs float64 reference, gradients of x and y vs central differences", () => {
  fc.assert(
    fc.property(lossCase, (c) => {
      const rng = new Rng(c.seed);
      const n = sizeOf(c.shape);
      checkOp({
        inputs: [
          { data: values(n, rng, -8, 8), shape: c.shape },
          { data: values(n, rng, 0, 1, c.hardLabels), shape: c.shape },
        ],
        op: (x: Tensor, y: Tensor) => bceWithLogits(x, y, { reduction: c.reduction }),
        ref: (x: Float64Array, y: Float64Array) => logitsRef(x, y, c.reduction),
        ...TOL,
        seed: c.seed,
      });
    }),
    { seed: 302, numRuns: 60 },
  );
});

test("property (mse): forward vs float64 reference, gradients of a and b vs central differences", () => {
  fc.assert(
    fc.property(lossCase, (c) => {
      const rng = new Rng(c.seed);
      const n = sizeOf(c.shape);
      checkOp({
        inputs: [
          { data: values(n, rng, -2, 2), shape: c.shape },
          { data: values(n, rng, -2, 2), shape: c.shape },
        ],
        op: (a: Tensor, b: Tensor) => mse(a, b, { reduction: c.reduction }),
        ref: (a: Float64Array, b: Float64Array) => mseRef(a, b, c.reduction),
        ...TOL,
        seed: c.seed,
      });
    }),
    { seed: 303, numRuns: 60 },
  );
});

test("property: bceWithLogits(x) equals bce(sigmoid(x)), values and gradients, where both are finite", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -15, max: 15, noNaN: true }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 0, max: 1_000_000 }),
      (xs, seed) => {
        const rng = new Rng(seed);
        const y = values(xs.length, rng, 0, 1, seed % 2 === 0);
        const x = fromArray(xs, [xs.length], { dtype: "float64", requiresGrad: true });
        const p = fromArray(xs.map(sigmoid64), [xs.length], { dtype: "float64", requiresGrad: true });
        const yt = fromArray(y, [y.length], { dtype: "float64" });
        const a = bceWithLogits(x, yt, { reduction: "none" });
        const b = bce(p, yt, { reduction: "none" });
        // For |x| <= 15, 1 - sigmoid(x) >= 3e-7 keeps ~9 good digits in float64: atol 1e-8.
        assertClose(a.data, b.data, { atol: 1e-8, rtol: 1e-8 });
        a.backward(new Float64Array(xs.length).fill(1));
        b.backward(new Float64Array(xs.length).fill(1));
        // chain rule: d bce/dx = d bce/dp · p(1 - p); atol 1e-8 for the same reason
        const chained = Array.from(
          p.grad ?? [],
          (g, i) => g * sigmoid64(xs[i] as number) * (1 - sigmoid64(xs[i] as number)),
        );
        assertClose(x.grad ?? [], chained, { atol: 1e-8, rtol: 1e-8 });
      },
    ),
    { seed: 304, numRuns: 60 },
  );
});

test("hand-computed: bce on p = [0.5, 0.25], y = [1, 0], mean, and its gradient", () => {
  const p = fromArray([0.5, 0.25], undefined, { dtype: "float64", requiresGrad: true });
  const out = bce(p, fromArray([1, 0], undefined, { dtype: "float64" }));
  assert.equal(out.shape, []);
  // (-log 0.5 - log 0.75) / 2; float64: atol 1e-15
  assertClose(out.data, [(Math.LN2 + Math.log(4 / 3)) / 2], { atol: 1e-15, rtol: 0 });
  out.backward();
  // (p - y) / (p(1 - p)) / N: (-0.5 / 0.25) / 2 = -1, (0.25 / 0.1875) / 2 = 2/3
  assertClose(p.grad ?? [], [-1, 2 / 3], { atol: 1e-15, rtol: 0 });
});

test("bce clamps each log at -100: p of exactly 0 or 1 costs 100, and the gradient stays finite", () => {
  const p = fromArray([0, 1, 0, 1], undefined, { requiresGrad: true });
  const y = fromArray([1, 0, 0, 1], undefined, { requiresGrad: true });
  const out = bce(p, y, { reduction: "none" });
  assert.equal(Array.from(out.data), [100, 100, 0, 0]); // exact: -(1·(-100)) and 0·... terms
  out.backward(new Float32Array([1, 1, 1, 1]));
  for (const g of [...(p.grad ?? []), ...(y.grad ?? [])]) assert.ok(Number.isFinite(g), `gradient ${g}`);
  // dl/dy = max(log(1 - p), -100) - max(log p, -100): [0 - (-100), -100 - 0, 100, -100]
  assert.equal(Array.from(y.grad ?? []), [100, -100, 100, -100]);
});

test("bceWithLogits is stable at |x| = 1000 (no overflow, exact values)", () => {
  const x = fromArray([1000, -1000, 1000, -1000], undefined, { requiresGrad: true });
  const y = fromArray([0, 1, 1, 0]);
  const out = bceWithLogits(x, y, { reduction: "none" });
  // by hand: max(x, 0) - x·y + log1p(e^-1000) = [1000, 1000, 0, 0]
  assert.equal(Array.from(out.data), [1000, 1000, 0, 0]);
  out.backward(new Float32Array([1, 1, 1, 1]));
  // sigmoid(x) - y = [1, -1, 0, 0]
  assert.equal(Array.from(x.grad ?? []), [1, -1, 0, 0]);
});

test("reductions: none keeps the shape, sum adds, mean divides by N (mse by hand)", () => {
  const a = fromArray([[1, 2, 3]], undefined, { requiresGrad: true });
  const b = fromArray([[0, 0, 1]], undefined, { requiresGrad: true });
  const none = mse(a, b, { reduction: "none" });
  assert.equal(none.shape, [1, 3]);
  assert.equal(Array.from(none.data), [1, 4, 4]);
  assert.is(mse(a, b, { reduction: "sum" }).item(), 9);
  const mean = mse(a, b);
  assert.is(mean.item(), 3);
  mean.backward();
  // 2(a - b) / 3 and its negative; float32: atol 1e-6
  assertClose(a.grad ?? [], [2 / 3, 4 / 3, 4 / 3], { atol: 1e-6, rtol: 0 });
  assertClose(b.grad ?? [], [-2 / 3, -4 / 3, -4 / 3], { atol: 1e-6, rtol: 0 });
  // zero elements: the sum is 0 and the mean is NaN, as in PyTorch
  const e = fromArray([], [0]);
  assert.is(bce(e, e, { reduction: "sum" }).item(), 0);
  assert.ok(Number.isNaN(bceWithLogits(e, e).item()));
});

test("float64 in gives float64 out; mixed dtypes are rejected", () => {
  const p64 = fromArray([0.5], undefined, { dtype: "float64" });
  assert.is(bce(p64, p64).dtype, "float64");
  assert.is(bceWithLogits(p64, p64).dtype, "float64");
  assert.is(mse(p64, p64, { reduction: "none" }).dtype, "float64");
  assertThrows(() => bce(p64, fromArray([1])), /^bce: inputs must share a dtype — p is float64, y is float32$/);
});

test("bad input: bce with p outside [0, 1] or NaN", () => {
  const y = fromArray([1, 0, 1]);
  assertThrows(
    () => bce(fromArray([0.5, 1.5, 0.2]), y),
    /^bce: p must hold probabilities in \[0, 1\], got 1\.5 at position 1$/,
  );
  assertThrows(
    () => bce(fromArray([0.5, 0.2, -0.25]), y),
    /^bce: p must hold probabilities in \[0, 1\], got -0\.25 at position 2$/,
  );
  assertThrows(
    () => bce(fromArray([Number.NaN, 0.2, 0.3]), y),
    /^bce: p must hold probabilities in \[0, 1\], got NaN at position 0$/,
  );
});

test("bad input: shape mismatch for every loss, unknown reduction, non-tensor argument", () => {
  const v = fromArray([0.5, 0.5, 0.5, 0.5]);
  const col = fromArray([0.5, 0.5, 0.5, 0.5], [4, 1]);
  assertThrows(() => bce(v, col), /^bce: p and y must have the same shape — p is \(4,\), y is \(4, 1\)$/);
  assertThrows(
    () => bceWithLogits(col, v),
    /^bceWithLogits: x and y must have the same shape — x is \(4, 1\), y is \(4,\)$/,
  );
  assertThrows(() => mse(v, fromArray([1, 2])), /^mse: a and b must have the same shape — a is \(4,\), b is \(2,\)$/);
  // JavaScript callers have no type checker: call through an untyped signature.
  const untyped = mse as (a: unknown, b: unknown, opts?: unknown) => Tensor;
  assertThrows(
    () => untyped(v, v, { reduction: "avg" }),
    /^mse: reduction must be "mean", "sum" or "none", got "avg"$/,
  );
  assertThrows(() => untyped([0.5], v), /^mse: a must be a Tensor, got Array$/);
});

test.run();
