// Adagrad (element-wise) and RowWiseAdagrad (the reference's rwsadagrad), each against a
// float64 reference written here from the formulas, over several steps.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Adagrad } from "../../src/optim/adagrad.ts";
import { RowWiseAdagrad } from "../../src/optim/rowwise_adagrad.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { randomRowGrad } from "../helpers/row_grad.ts";
import { rand, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";

function param(R: number, E: number, rng: Rng): Tensor {
  return rand([R, E], { rng, lo: -1, hi: 1, requiresGrad: true });
}

function randomDenseGrad(p: Tensor, rng: Rng): Float64Array {
  const g = new Float32Array(p.size);
  for (let i = 0; i < g.length; i++) g[i] = rng.uniformIn(-1, 1);
  p.grad = g;
  return Float64Array.from(g);
}

// Element-wise Adagrad in float64 on the rows in `rows` (all rows when null), with weight
// decay wd: the gradient is g + wd·w (w before the step).
function adagradRef(
  w: Float64Array,
  acc: Float64Array,
  g: Float64Array,
  E: number,
  lr: number,
  eps: number,
  rows: Set<number> | null,
  wd = 0,
): void {
  for (let i = 0; i < w.length; i++) {
    if (rows !== null && !rows.has(Math.floor(i / E))) continue;
    const gi = (g[i] as number) + wd * (w[i] as number);
    acc[i] = (acc[i] as number) + gi * gi;
    w[i] = (w[i] as number) - (lr * gi) / (Math.sqrt(acc[i] as number) + eps);
  }
}

// Row-wise Adagrad in float64 on the touched rows: accRow[r] += mean(g[r]²).
function rowwiseRef(
  w: Float64Array,
  accRow: Float64Array,
  g: Float64Array,
  E: number,
  lr: number,
  eps: number,
  rows: Set<number>,
): void {
  for (const r of rows) {
    let ms = 0;
    for (let e = 0; e < E; e++) ms += (g[r * E + e] as number) ** 2;
    accRow[r] = (accRow[r] as number) + ms / E;
    for (let e = 0; e < E; e++)
      w[r * E + e] =
        (w[r * E + e] as number) - (lr * (g[r * E + e] as number)) / (Math.sqrt(accRow[r] as number) + eps);
  }
}

function assertRowsUnchanged(
  now: ArrayLike<number>,
  before: ArrayLike<number>,
  E: number,
  touched: Set<number>,
  what: string,
): void {
  for (let i = 0; i < now.length; i++) {
    if (touched.has(Math.floor(i / E))) continue;
    assert.ok(Object.is(now[i], before[i]), `${what}: untouched element ${i} changed from ${before[i]} to ${now[i]}`);
  }
}

const cases = fc.record({
  R: fc.integer({ min: 2, max: 12 }),
  E: fc.integer({ min: 1, max: 9 }),
  steps: fc.integer({ min: 1, max: 5 }),
  lr: fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
  eps: fc.constantFrom(1e-10, 1e-6, 0.1),
  init: fc.constantFrom(0, 0.1, 1),
  wd: fc.constantFrom(0, 0, 0.01, 0.5),
  L: fc.integer({ min: 0, max: 15 }),
  seed: fc.integer({ min: 0, max: 1 << 30 }),
});

// The float32 runs differ from float64 by rounding: w and acc are stored in float32 each
// step (relative 6e-8), and the step lr·g/sqrt(acc) is at most lr·sqrt(steps) in size.
// 2e-5 absolute + 1e-5 relative covers 5 steps with margin; a wrong formula is off by ≥ 1e-3.
const TOL = { atol: 2e-5, rtol: 1e-5 };

test("Adagrad dense: several steps match g += wd·w, acc += g², w -= lr·g/(sqrt(acc)+eps) in float64", () => {
  fc.assert(
    fc.property(cases, ({ R, E, steps, lr, eps, init, wd, seed }) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const w = Float64Array.from(p.data);
      const acc = new Float64Array(R * E).fill(init);
      const opt = new Adagrad([p], { lr, eps, initialAccumulator: init, weightDecay: wd });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        adagradRef(w, acc, randomDenseGrad(p, rng), E, lr, eps, null, wd);
        opt.step();
      }
      assertClose(p.data, w, TOL, "weights");
      assertClose(opt.state(0) ?? [], acc, { atol: 1e-5, rtol: 1e-6 }, "accumulators"); // sums of ≤ 5 squares ≤ 1, float32
    }),
    { seed: 201, numRuns: 60 },
  );
});

test("Adagrad sparse: only touched rows change (weights and accumulators, decay is lazy); matches float64", () => {
  fc.assert(
    fc.property(cases, ({ R, E, steps, lr, eps, init, wd, L, seed }) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const w = Float64Array.from(p.data);
      const acc = new Float64Array(R * E).fill(init);
      const opt = new Adagrad([p], { lr, eps, initialAccumulator: init, weightDecay: wd });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        const { g, touched } = randomRowGrad(p, R, E, L, rng);
        const wBefore = Float32Array.from(p.data);
        const accBefore = Float32Array.from(opt.state(0) ?? new Float32Array(R * E).fill(init));
        const gBefore = Float32Array.from(p.rowGrad?.values ?? []);
        adagradRef(w, acc, g, E, lr, eps, touched, wd);
        opt.step();
        // the decayed gradient is the optimizer's own copy: the parameter's gradient is as computed
        assert.equal(Array.from(p.rowGrad?.values ?? []), Array.from(gBefore));
        assertRowsUnchanged(p.data, wBefore, E, touched, "weights");
        assertRowsUnchanged(opt.state(0) ?? [], accBefore, E, touched, "accumulators");
      }
      // merged gradients are float32 sums of ≤ 15 terms; the step is still ≤ lr·sqrt(steps)
      assertClose(p.data, w, TOL, "weights");
      assertClose(opt.state(0) ?? new Float32Array(R * E).fill(init), acc, { atol: 1e-4, rtol: 1e-5 }, "accumulators");
    }),
    { seed: 202, numRuns: 60 },
  );
});

test("Adagrad weight decay: one value per parameter (0 leaves a parameter undecayed); bad values are errors", () => {
  const rng = new Rng(7);
  const a = param(3, 2, rng);
  const b = param(3, 2, rng);
  const [wa, wb] = [Float64Array.from(a.data), Float64Array.from(b.data)];
  const [acca, accb] = [new Float64Array(6), new Float64Array(6)];
  const opt = new Adagrad([a, b], { lr: 0.1, weightDecay: [0, 0.2] });
  adagradRef(wa, acca, randomDenseGrad(a, rng), 2, 0.1, 1e-10, null, 0);
  adagradRef(wb, accb, randomDenseGrad(b, rng), 2, 0.1, 1e-10, null, 0.2);
  opt.step();
  assertClose(a.data, wa, TOL, "parameter 0, no decay");
  assertClose(b.data, wb, TOL, "parameter 1, decay 0.2");
  assertThrows(
    () => new Adagrad([a, b], { lr: 0.1, weightDecay: [0.1] }),
    /Adagrad: weightDecay has 1 values for 2 parameters/,
  );
  assertThrows(() => new Adagrad([a], { lr: 0.1, weightDecay: -1 }), /Adagrad: weightDecay\[0\]/);
});

test("Adagrad: a sparse step equals a dense step on the densified gradient (eps > 0)", () => {
  fc.assert(
    fc.property(cases, ({ R, E, lr, eps, init, L, seed }) => {
      const rng = new Rng(seed);
      const a = param(R, E, rng);
      const b = rand([R, E], { requiresGrad: true });
      b.data.set(a.data);
      randomRowGrad(a, R, E, Math.max(1, L), rng);
      const rg = a.rowGrad;
      assert.ok(rg !== null);
      const dense = new Float32Array(R * E);
      rg.ids.forEach((id, u) => dense.set(rg.values.subarray(u * E, (u + 1) * E), id * E));
      b.grad = dense;
      const oa = new Adagrad([a], { lr, eps, initialAccumulator: init });
      const ob = new Adagrad([b], { lr, eps, initialAccumulator: init });
      oa.step();
      ob.step();
      // Untouched rows: g = 0 leaves them unchanged in the dense step too, bit for bit.
      // Touched rows: 2 float32 ulp (rtol 2.4e-7, atol 1e-9 for values near 0) for kernels that round differently.
      const touched = new Set(rg.ids);
      assertClose(a.data, b.data, { atol: 1e-9, rtol: 2.4e-7 });
      assertRowsUnchanged(a.data, b.data, E, touched, "weights");
      assertClose(oa.state(0) ?? [], ob.state(0) ?? [], { atol: 1e-9, rtol: 2.4e-7 });
    }),
    { seed: 203, numRuns: 50 },
  );
});

test("Adagrad's first step from a zero accumulator moves each element by lr·sign(g) (property, |g| ≫ eps)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 1e-3, max: 100, noNaN: true }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
      fc.double({ min: 1e-3, max: 1, noNaN: true }),
      (mags, signs, lr) => {
        const p = rand([mags.length], { rng: new Rng(mags.length), requiresGrad: true });
        const before = Float64Array.from(p.data);
        p.grad = Float32Array.from(mags, (m, i) => (signs[i] ? m : -m));
        new Adagrad([p], { lr }).step();
        const expected = before.map((w, i) => w - lr * (signs[i] ? 1 : -1)); // g/sqrt(g²) = sign(g)
        assertClose(p.data, expected, { atol: 1e-6, rtol: 1e-6 }); // float32 rounding of w ∈ [0, 2)
      },
    ),
    { seed: 204, numRuns: 50 },
  );
});

test("RowWiseAdagrad sparse: one accumulator per row, acc += mean(g²); untouched rows bit-identical; matches float64", () => {
  fc.assert(
    fc.property(cases, ({ R, E, steps, lr, eps, L, seed }) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const w = Float64Array.from(p.data);
      const accRow = new Float64Array(R);
      const opt = new RowWiseAdagrad([p], { lr, eps });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        const { g, touched } = randomRowGrad(p, R, E, L, rng);
        const wBefore = Float32Array.from(p.data);
        const accBefore = Float32Array.from(opt.state(0)?.acc ?? new Float32Array(R));
        rowwiseRef(w, accRow, g, E, lr, eps, touched);
        opt.step();
        assertRowsUnchanged(p.data, wBefore, E, touched, "weights");
        const st = opt.state(0);
        assert.is(st?.kind, "rows");
        assert.is(st?.acc.length, R, "the state has R entries, not R·E");
        assertRowsUnchanged(st?.acc ?? [], accBefore, 1, touched, "row accumulators");
      }
      // |g|/sqrt(mean g²) ≤ sqrt(E) ≤ 3, so a step is ≤ 3·lr; same rounding budget as Adagrad, ×3
      assertClose(p.data, w, { atol: 6e-5, rtol: 1e-5 }, "weights");
      assertClose(opt.state(0)?.acc ?? new Float32Array(R), accRow, { atol: 1e-4, rtol: 1e-5 }, "row accumulators");
    }),
    { seed: 205, numRuns: 60 },
  );
});

test("RowWiseAdagrad dense: plain element-wise Adagrad, as the reference's rwsadagrad does for dense gradients", () => {
  fc.assert(
    fc.property(cases, ({ R, E, steps, lr, eps, seed }) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const w = Float64Array.from(p.data);
      const acc = new Float64Array(R * E);
      const opt = new RowWiseAdagrad([p], { lr, eps });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        adagradRef(w, acc, randomDenseGrad(p, rng), E, lr, eps, null);
        opt.step();
      }
      assert.is(opt.state(0)?.kind, "dense");
      assertClose(p.data, w, TOL, "weights");
    }),
    { seed: 206, numRuns: 40 },
  );
});

test("RowWiseAdagrad by hand: row [3, 4] → acc = 12.5, step = lr·g/sqrt(12.5)", () => {
  const p = rand([3, 2], { rng: new Rng(1), requiresGrad: true });
  const before = Float64Array.from(p.data);
  p.rowGrad = { ids: Int32Array.from([1]), values: Float32Array.from([3, 4]), rows: 3, cols: 2 };
  const opt = new RowWiseAdagrad([p], { lr: 0.5 });
  opt.step();
  const s = 0.5 / Math.sqrt(12.5); // mean(9, 16) = 12.5
  const expected = [
    before[0],
    before[1],
    (before[2] as number) - 3 * s,
    (before[3] as number) - 4 * s,
    before[4],
    before[5],
  ] as number[];
  assertClose(p.data, expected, { atol: 1e-6, rtol: 0 }); // float32 rounding of values < 2
  assert.equal(Array.from(opt.state(0)?.acc ?? []), [0, 12.5, 0]); // exact in float32
});

test("Adagrad and RowWiseAdagrad: dense + row-sparse in one step are summed before the (non-linear) update", () => {
  for (const make of [
    (p: Tensor) => new Adagrad([p], { lr: 0.1 }),
    (p: Tensor) => new RowWiseAdagrad([p], { lr: 0.1 }),
  ]) {
    const rng = new Rng(11);
    const p = param(4, 3, rng);
    const w = Float64Array.from(p.data);
    const gd = randomDenseGrad(p, rng);
    const { g: gs } = randomRowGrad(p, 4, 3, 6, rng);
    const g = gd.map((v, i) => v + (gs[i] as number));
    make(p).step();
    adagradRef(w, new Float64Array(12), g, 3, 0.1, 1e-10, null); // both fall back to element-wise Adagrad on the sum
    assertClose(p.data, w, { atol: 1e-6, rtol: 1e-6 }); // one float32 step
  }
});

test("Adagrad / RowWiseAdagrad: bad options and a gradient that changes form are errors naming the parameter", () => {
  const rng = new Rng(12);
  const p = param(3, 2, rng);
  assertThrows(() => new Adagrad([p], { lr: 0.1, eps: -1 }), /^Adagrad: eps must be a finite number >= 0, got -1/);
  assertThrows(
    () => new Adagrad([p], { lr: 0.1, initialAccumulator: Number.NaN }),
    /^Adagrad: initialAccumulator must be/,
  );
  assertThrows(
    () => new RowWiseAdagrad([p], { lr: Number.POSITIVE_INFINITY }),
    /^RowWiseAdagrad: lr must be a finite number >= 0, got Infinity/,
  );
  const opt = new RowWiseAdagrad([p], { lr: 0.1 });
  p.rowGrad = { ids: Int32Array.from([2]), values: Float32Array.from([1, 1]), rows: 3, cols: 2 };
  opt.step();
  opt.zeroGrad();
  p.grad = new Float32Array(6);
  assertThrows(
    () => opt.step(),
    /^RowWiseAdagrad\.step: parameter 0 \(3, 2\) had a row-sparse gradient at its first step and has a dense one now/,
  );
  opt.zeroGrad();
  p.rowGrad = { ids: Int32Array.from([0]), values: Float64Array.from([1, 1]), rows: 3, cols: 2 };
  assertThrows(
    () => opt.step(),
    /^RowWiseAdagrad\.step: row-sparse gradient of parameter 0 \(3, 2\) is Float64Array but the parameter is float32/,
  );
});

test.run();
