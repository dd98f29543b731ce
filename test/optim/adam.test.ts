// Adam (src/optim/adam.ts) against a float64 reference written here from the formulas, over
// several steps: dense parameters (torch.optim.Adam's update), tables (row-wise second
// moments, touched rows only), a vector with row-sparse gradients (the learned pooling
// weights: its row-wise moment is element-wise); a run continued from a saved state and step
// count equals the uninterrupted one bit for bit; and the errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { accumulateRows } from "../../src/autograd/grad.ts";
import { Adam } from "../../src/optim/adam.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomRowGrad } from "../helpers/row_grad.ts";
import { rand, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

/** One float64 Adam step on the elements of `rows` (all when null); v has one entry per row when rowWise. */
function adamRef(
  w: Float64Array,
  m: Float64Array,
  v: Float64Array,
  g: Float64Array,
  E: number,
  lr: number,
  t: number,
  rows: Set<number> | null,
  rowWise: boolean,
): void {
  const bc1 = 1 - B1 ** t;
  const bc2 = 1 - B2 ** t;
  const R = w.length / E;
  for (let r = 0; r < R; r++) {
    if (rows !== null && !rows.has(r)) continue;
    if (rowWise) {
      let sq = 0;
      for (let e = 0; e < E; e++) sq += (g[r * E + e] as number) ** 2;
      v[r] = B2 * (v[r] as number) + (1 - B2) * (sq / E);
    }
    for (let e = 0; e < E; e++) {
      const j = r * E + e;
      const gj = g[j] as number;
      m[j] = B1 * (m[j] as number) + (1 - B1) * gj;
      if (!rowWise) v[j] = B2 * (v[j] as number) + (1 - B2) * gj * gj;
      const vj = rowWise ? (v[r] as number) : (v[j] as number);
      w[j] = (w[j] as number) - ((lr / bc1) * (m[j] as number)) / (Math.sqrt(vj) / Math.sqrt(bc2) + EPS);
    }
  }
}

test("dense and row-sparse steps follow the float64 formulas (float32 storage: 1e-5)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 0, max: 1000 }),
      (R, E, steps, seed) => {
        const rng = new Rng(seed);
        const dense = rand([R, E], { rng, lo: -1, hi: 1, requiresGrad: true });
        const table = rand([R, E], { rng, lo: -1, hi: 1, requiresGrad: true });
        const opt = new Adam([dense, table], { lr: 0.01 });
        const ref = [dense, table].map((p) => ({
          w: Float64Array.from(p.data),
          m: new Float64Array(R * E),
          v: new Float64Array(p === table ? R : R * E),
        }));
        const initialTable = Float32Array.from(table.data);
        const everTouched = new Set<number>();
        for (let t = 1; t <= steps; t++) {
          const gd = Float32Array.from({ length: R * E }, () => rng.uniformIn(-1, 1));
          dense.grad = gd;
          const { g, touched } = randomRowGrad(table, R, E, 1 + rng.int(4), rng);
          touched.forEach((r) => everTouched.add(r));
          opt.step();
          opt.zeroGrad();
          const [d, s] = ref as [(typeof ref)[0], (typeof ref)[0]];
          adamRef(d.w, d.m, d.v, Float64Array.from(gd), E, 0.01, t, null, false);
          adamRef(s.w, s.m, s.v, g, E, 0.01, t, touched, true);
        }
        const tol = { atol: 1e-5, rtol: 1e-5 };
        assertClose(dense.data, ref[0]?.w as Float64Array, tol, "dense weights");
        assertClose(opt.stateArray(0, "exp_avg_sq"), ref[0]?.v as Float64Array, tol, "dense exp_avg_sq");
        assertClose(table.data, ref[1]?.w as Float64Array, tol, "table weights");
        assertClose(opt.stateArray(1, "momentum1"), ref[1]?.m as Float64Array, tol, "table momentum1");
        assertClose(opt.stateArray(1, "momentum2"), ref[1]?.v as Float64Array, tol, "table momentum2");
        for (let r = 0; r < R; r++)
          if (!everTouched.has(r))
            for (let e = 0; e < E; e++)
              assert.is(table.data[r * E + e], initialTable[r * E + e], `row ${r} was never touched`);
        assert.is(opt.stepCount, steps);
      },
    ),
    { seed: 28, numRuns: 60 },
  );
});

test("a vector with row-sparse gradients (rows of one element): its row-wise moment is the element-wise one, on the touched elements", () => {
  const rng = new Rng(3);
  const vec = rand([9], { rng, lo: 0.5, hi: 1.5, requiresGrad: true });
  const opt = new Adam([vec], { lr: 0.05 });
  const ref = { w: Float64Array.from(vec.data), m: new Float64Array(9), v: new Float64Array(9) };
  for (let t = 1; t <= 4; t++) {
    const { g, touched } = randomRowGrad(vec, 9, 1, 3, rng);
    opt.step();
    opt.zeroGrad();
    adamRef(ref.w, ref.m, ref.v, g, 1, 0.05, t, touched, false); // element-wise, lazy
  }
  assertClose(vec.data, ref.w, { atol: 1e-6, rtol: 1e-6 }, "weights");
  assertClose(opt.stateArray(0, "momentum2"), ref.v, { atol: 1e-7, rtol: 1e-6 }, "v (9,)");
  assert.is(opt.stateArray(0, "momentum1").length, 9);
});

test("continuing from the saved state and step count (a resumed run) equals the uninterrupted run bit for bit", () => {
  const make = (): Tensor[] => {
    const rng = new Rng(11);
    return [rand([6, 3], { rng, requiresGrad: true }), rand([20, 4], { rng, requiresGrad: true })];
  };
  const grads = (ps: Tensor[], k: number): void => {
    const rng = new Rng(100 + k);
    (ps[0] as Tensor).grad = Float32Array.from({ length: 18 }, () => rng.uniformIn(-1, 1));
    randomRowGrad(ps[1] as Tensor, 20, 4, 5, rng);
  };
  const full = make();
  const o1 = new Adam(full, { lr: 0.02 });
  for (let k = 0; k < 6; k++) {
    grads(full, k);
    o1.step();
    o1.zeroGrad();
  }
  const half = make();
  const o2 = new Adam(half, { lr: 0.02 });
  for (let k = 0; k < 3; k++) {
    grads(half, k);
    o2.step();
    o2.zeroGrad();
  }
  const resumed = half.map((p) => rand([...p.shape], { requiresGrad: true }));
  resumed.forEach((p, i) => p.data.set(half[i]?.data as Float32Array));
  const o3 = new Adam(resumed, { lr: 0.02, step: o2.stepCount });
  for (const key of ["exp_avg", "exp_avg_sq"] as const) o3.stateArray(0, key).set(o2.stateArray(0, key));
  for (const key of ["momentum1", "momentum2"] as const) o3.stateArray(1, key).set(o2.stateArray(1, key));
  for (let k = 3; k < 6; k++) {
    grads(resumed, k);
    o3.step();
    o3.zeroGrad();
  }
  resumed.forEach((p, i) => assert.equal(Array.from(p.data), Array.from(full[i]?.data as Float32Array), `param ${i}`));
  assert.equal(Array.from(o3.stateArray(1, "momentum2")), Array.from(o1.stateArray(1, "momentum2")));
  // without the step count the bias corrections restart and the run differs
  const again = half.map((p) => rand([...p.shape], { requiresGrad: true }));
  const o4 = new Adam(again, { lr: 0.02 });
  again.forEach((p, i) => p.data.set(half[i]?.data as Float32Array));
  for (const key of ["exp_avg", "exp_avg_sq"] as const) o4.stateArray(0, key).set(o2.stateArray(0, key));
  grads(again, 3);
  o4.step();
  assert.not.equal(Array.from(again[0]?.data as Float32Array), Array.from(resumed[0]?.data as Float32Array));
});

test("Adam errors: bad hyperparameters, a gradient that changes form, an unknown parameter", () => {
  const p = rand([3, 2], { requiresGrad: true });
  assertThrows(() => new Adam([p], { lr: 0.1, betas: [1, 0.999] }), /^Adam: betas\[0\] must be in \[0, 1\), got 1/);
  assertThrows(() => new Adam([p], { lr: 0.1, betas: [0.9, -0.1] }), /^Adam: betas\[1\] must be in \[0, 1\), got -0.1/);
  assertThrows(() => new Adam([p], { lr: -1 }), /^Adam: lr must be a finite number >= 0, got -1/);
  assertThrows(() => new Adam([p], { lr: 0.1, step: 1.5 }), /^Adam: step must be a non-negative integer, got 1.5/);
  const opt = new Adam([p], { lr: 0.1 });
  accumulateRows(p, Int32Array.from([1]), Float32Array.from([1, 2]), 2);
  opt.step();
  opt.zeroGrad();
  p.grad = new Float32Array(6).fill(1);
  assertThrows(
    () => opt.step(),
    /^Adam.step: parameter 0 \(3, 2\) had a row-sparse gradient at its first step and has a dense one now/,
  );
  assertThrows(() => opt.stateArray(1, "exp_avg"), /^Adam.stateArray: no parameter 1 \(1 parameters\)/);
});

test.run();
