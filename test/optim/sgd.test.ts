import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { accumulateRows } from "../../src/autograd/grad.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { rand, zeros, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";

// A (R, E) parameter with values in [-1, 1).
function param(R: number, E: number, rng: Rng, dtype: "float32" | "float64" = "float32"): Tensor {
  return rand([R, E], { rng, lo: -1, hi: 1, dtype, requiresGrad: true });
}

// Give p a row-sparse gradient from L random lookups (ids repeat; accumulateRows merges
// them), and return the same gradient summed densely in float64 as the reference sees it.
function randomRowGrad(p: Tensor, R: number, E: number, L: number, rng: Rng): Float64Array {
  const ids = new Int32Array(L);
  const values = p.dtype === "float64" ? new Float64Array(L * E) : new Float32Array(L * E);
  for (let l = 0; l < L; l++) ids[l] = rng.int(Math.max(1, Math.floor(R / 2))); // only the first half, so some rows stay untouched
  for (let i = 0; i < values.length; i++) values[i] = rng.uniformIn(-1, 1);
  accumulateRows(p, ids, values, E);
  const dense = new Float64Array(R * E);
  for (let l = 0; l < L; l++)
    for (let e = 0; e < E; e++) dense[(ids[l] as number) * E + e] += values[l * E + e] as number;
  return dense;
}

function randomDenseGrad(p: Tensor, rng: Rng): Float64Array {
  const g = p.dtype === "float64" ? new Float64Array(p.size) : new Float32Array(p.size);
  for (let i = 0; i < g.length; i++) g[i] = rng.uniformIn(-1, 1);
  p.grad = g;
  return Float64Array.from(g);
}

const shapes = fc.record({
  R: fc.integer({ min: 2, max: 12 }),
  E: fc.integer({ min: 1, max: 9 }),
  steps: fc.integer({ min: 1, max: 4 }),
  lr: fc.double({ min: 1e-3, max: 1, noNaN: true }),
  seed: fc.integer({ min: 0, max: 1 << 30 }),
});

test("SGD dense: several steps match w -= lr·g in float64", () => {
  fc.assert(
    fc.property(shapes, ({ R, E, steps, lr, seed }) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const ref = Float64Array.from(p.data);
      const opt = new SGD([p], { lr });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        const g = randomDenseGrad(p, rng);
        for (let i = 0; i < ref.length; i++) ref[i] -= lr * (g[i] as number);
        opt.step();
      }
      // float32 storage rounds each of ≤ 4 steps of values ≤ ~5: a few ulp (6e-8 each)
      assertClose(p.data, ref, { atol: 2e-6, rtol: 1e-6 });
    }),
    { seed: 101, numRuns: 60 },
  );
});

test("SGD sparse: several steps match the float64 reference; untouched rows stay bit-identical", () => {
  fc.assert(
    fc.property(shapes, fc.integer({ min: 0, max: 15 }), ({ R, E, steps, lr, seed }, L) => {
      const rng = new Rng(seed);
      const p = param(R, E, rng);
      const before = Float32Array.from(p.data);
      const ref = Float64Array.from(p.data);
      const touched = new Set<number>();
      const opt = new SGD([p], { lr });
      for (let s = 0; s < steps; s++) {
        opt.zeroGrad();
        const g = randomRowGrad(p, R, E, L, rng);
        for (const id of p.rowGrad?.ids ?? []) touched.add(id);
        assert.ok(p.grad === null, "the table's gradient stays sparse");
        for (let i = 0; i < ref.length; i++) ref[i] -= lr * (g[i] as number);
        opt.step();
      }
      // merged rows are summed in float32 by accumulateRows (≤ 15 terms in [-1, 1)) and the
      // update rounds per step: 1e-5 absolute covers both
      assertClose(p.data, ref, { atol: 1e-5, rtol: 1e-6 });
      for (let r = 0; r < R; r++) {
        if (touched.has(r)) continue;
        for (let e = 0; e < E; e++)
          assert.is(Object.is(p.data[r * E + e], before[r * E + e]), true, `row ${r} changed`);
      }
    }),
    { seed: 102, numRuns: 60 },
  );
});

test("SGD: a row-sparse gradient updates like the same gradient densified", () => {
  fc.assert(
    fc.property(shapes, fc.integer({ min: 1, max: 15 }), ({ R, E, lr, seed }, L) => {
      const rng = new Rng(seed);
      const a = param(R, E, rng);
      const b = rand([R, E], { requiresGrad: true });
      b.data.set(a.data);
      randomRowGrad(a, R, E, L, rng);
      const rg = a.rowGrad;
      assert.ok(rg !== null);
      const dense = new Float32Array(R * E);
      rg.ids.forEach((id, u) => dense.set(rg.values.subarray(u * E, (u + 1) * E), id * E));
      b.grad = dense;
      new SGD([a], { lr }).step();
      new SGD([b], { lr }).step();
      // Both compute w - lr·g and round to float32; atol 0, rtol 2.4e-7 (2 float32 ulp) leaves
      // room for a wasm kernel that rounds lr·g to float32 before subtracting.
      assertClose(a.data, b.data, { atol: 0, rtol: 2.4e-7 });
      const touched = new Set(rg.ids);
      for (let i = 0; i < R * E; i++) {
        if (!touched.has(Math.floor(i / E))) assert.is(Object.is(a.data[i], b.data[i]), true, `untouched element ${i}`);
      }
    }),
    { seed: 103, numRuns: 60 },
  );
});

test("SGD: float64 parameters are updated in float64 (exact to 1e-15)", () => {
  const rng = new Rng(7);
  const p = param(3, 4, rng, "float64");
  const ref = Float64Array.from(p.data);
  const g = randomDenseGrad(p, rng);
  new SGD([p], { lr: 0.3 }).step();
  for (let i = 0; i < ref.length; i++) ref[i] -= 0.3 * (g[i] as number);
  assertClose(p.data, ref, { atol: 1e-15, rtol: 0 }); // same float64 arithmetic, tolerance only for safety
});

test("SGD: parameters without a gradient are skipped; dense + row-sparse are both applied; zeroGrad clears both", () => {
  const rng = new Rng(8);
  const unused = param(2, 2, rng);
  const unusedBefore = Float32Array.from(unused.data);
  const p = param(4, 2, rng);
  const ref = Float64Array.from(p.data);
  const gd = randomDenseGrad(p, rng);
  const gs = randomRowGrad(p, 4, 2, 5, rng);
  const opt = new SGD([unused, p], { lr: 0.5 });
  opt.step();
  for (let i = 0; i < ref.length; i++) ref[i] -= 0.5 * ((gd[i] as number) + (gs[i] as number));
  assert.equal(Array.from(unused.data), Array.from(unusedBefore));
  assertClose(p.data, ref, { atol: 1e-6, rtol: 1e-6 }); // one float32 rounding of values ≤ ~6
  opt.zeroGrad();
  assert.is(p.grad, null);
  assert.is(p.rowGrad, null);
  opt.step(); // nothing to apply now
  assertClose(p.data, ref, { atol: 1e-6, rtol: 1e-6 });
});

test("SGD: the lr set between steps (by a schedule) is the one used", () => {
  const p = zeros([2], { requiresGrad: true });
  const opt = new SGD([p], { lr: 1 });
  p.grad = Float32Array.from([1, -2]);
  opt.lr = 0.25;
  opt.step();
  assert.equal(Array.from(p.data), [-0.25, 0.5]); // exact in float32
});

test("SGD: bad parameters, lr and gradients are errors naming the optimizer and the parameter", () => {
  const rng = new Rng(9);
  const p = param(3, 2, rng);
  assertThrows(() => new SGD([p, zeros([2])], { lr: 0.1 }), /^SGD: parameter 1 \(2,\) does not require a gradient/);
  assertThrows(() => new SGD([p, p], { lr: 0.1 }), /^SGD: parameter 1 \(3, 2\) is the same tensor as parameter 0/);
  assertThrows(() => new SGD([p], { lr: -1 }), /^SGD: lr must be a finite number >= 0, got -1/);
  const opt = new SGD([p], { lr: 0.1 });
  p.rowGrad = { ids: Int32Array.from([0, 3]), values: new Float32Array(4), rows: 3, cols: 2 };
  assertThrows(
    () => opt.step(),
    /^SGD\.step: row-sparse gradient of parameter 0 \(3, 2\): row id 3 \(position 1\) is out of range for 3 rows/,
  );
  p.rowGrad = { ids: Int32Array.from([1, 1]), values: new Float32Array(4), rows: 3, cols: 2 };
  assertThrows(() => opt.step(), /unique and ascending, got 1 then 1 at position 1/);
  p.rowGrad = { ids: Int32Array.from([1]), values: new Float32Array(2), rows: 2, cols: 2 };
  assertThrows(() => opt.step(), /is for a \(2, 2\) table/);
  p.rowGrad = null;
  p.grad = new Float32Array(5);
  assertThrows(
    () => opt.step(),
    /^SGD\.step: dense gradient of parameter 0 \(3, 2\) is a Float32Array of 5 \(the parameter is float32 with 6\)/,
  );
  p.grad = null;
  opt.lr = Number.NaN;
  assertThrows(() => opt.step(), /^SGD\.step: lr must be a finite number >= 0, got NaN/);
});

test.run();
