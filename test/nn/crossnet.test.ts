// The cross networks (src/nn/crossnet.ts): the forward against a naive float64 evaluation of
// each paper's formula, every input's gradient (x_0 and every kernel and bias) against float64
// central differences (gradcheck), TorchRec's names, shapes and initialisation, and bad input.
//
// Glossary: B batch, N input width, r low rank, L layers.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { lowRankCross, LowRankCrossNet, vectorCross, VectorCrossNet } from "../../src/nn/crossnet.ts";
import { fromArray, type Tensor } from "../../src/tensor/tensor.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { assertClose, assertThrows, gradcheck, randomValues } from "../../src/testing/index.ts";

const f64 = (values: number[], shape: number[], grad = true): Tensor => {
  const t = fromArray(values, shape, { dtype: "float64" });
  t.requiresGrad = grad;
  return t;
};

/** x_{l+1}[b, i] = x_0[b, i] · (Σ_k W[i, k] Σ_j V[k, j] x_l[b, j] + bias[i]) + x_l[b, i], from the definition. */
function refLowRank(x0: number[], W: number[][], V: number[][], b: number[][], B: number, N: number, r: number) {
  let x = [...x0];
  for (let l = 0; l < W.length; l++) {
    const next = new Array<number>(B * N);
    for (let s = 0; s < B; s++) {
      const v = Array.from({ length: r }, (_, k) => {
        let acc = 0;
        for (let j = 0; j < N; j++) acc += V[l][k * N + j] * x[s * N + j];
        return acc;
      });
      for (let i = 0; i < N; i++) {
        let w = b[l][i];
        for (let k = 0; k < r; k++) w += W[l][i * r + k] * v[k];
        next[s * N + i] = x0[s * N + i] * w + x[s * N + i];
      }
    }
    x = next;
  }
  return x;
}

/** x_{l+1} = x_0 x_lᵀ w_l + b_l + x_l with the (N, N) outer product formed, as the paper writes it. */
function refVector(x0: number[], w: number[][], b: number[][], B: number, N: number) {
  let x = [...x0];
  for (let l = 0; l < w.length; l++) {
    const next = new Array<number>(B * N);
    for (let s = 0; s < B; s++)
      for (let i = 0; i < N; i++) {
        let acc = 0;
        for (let j = 0; j < N; j++) acc += x0[s * N + i] * x[s * N + j] * w[l][j]; // (x_0 x_lᵀ)[i, j] w_l[j]
        next[s * N + i] = acc + b[l][i] + x[s * N + i];
      }
    x = next;
  }
  return x;
}

const dims = fc.record({
  B: fc.integer({ min: 1, max: 3 }),
  N: fc.integer({ min: 1, max: 5 }),
  r: fc.integer({ min: 1, max: 3 }),
  L: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

test("lowRankCross: forward = the formula, and every input's gradient = central differences", () => {
  fc.assert(
    fc.property(dims, ({ B, N, r, L, seed }) => {
      const x0 = randomValues(B * N, seed);
      const W = Array.from({ length: L }, (_, l) => randomValues(N * r, seed + 10 + l));
      const V = Array.from({ length: L }, (_, l) => randomValues(r * N, seed + 20 + l));
      const b = Array.from({ length: L }, (_, l) => randomValues(N, seed + 30 + l));
      const inputs = [
        f64(x0, [B, N]),
        ...W.map((w) => f64(w, [N, r])),
        ...V.map((v) => f64(v, [r, N])),
        ...b.map((v) => f64(v, [N])),
      ];
      const fn = (...t: Tensor[]): Tensor =>
        lowRankCross(t[0], t.slice(1, 1 + L), t.slice(1 + L, 1 + 2 * L), t.slice(1 + 2 * L));
      assertClose(fn(...inputs).data, refLowRank(x0, W, V, b, B, N, r), { atol: 1e-12, rtol: 1e-12 }, "x_L");
      const g = gradcheck(fn, inputs, { seed });
      assert.ok(g.ok, JSON.stringify(g.mismatches.slice(0, 3)));
    }),
    { numRuns: 25, seed: 28 },
  );
});

test("vectorCross: forward = x_0 x_lᵀ w_l + b_l + x_l with the outer product, and gradients = central differences", () => {
  fc.assert(
    fc.property(dims, ({ B, N, L, seed }) => {
      const x0 = randomValues(B * N, seed);
      const w = Array.from({ length: L }, (_, l) => randomValues(N, seed + 10 + l));
      const b = Array.from({ length: L }, (_, l) => randomValues(N, seed + 30 + l));
      const inputs = [f64(x0, [B, N]), ...w.map((v) => f64(v, [N, 1])), ...b.map((v) => f64(v, [N, 1]))];
      const fn = (...t: Tensor[]): Tensor => vectorCross(t[0], t.slice(1, 1 + L), t.slice(1 + L));
      assertClose(fn(...inputs).data, refVector(x0, w, b, B, N), { atol: 1e-12, rtol: 1e-12 }, "x_L");
      const g = gradcheck(fn, inputs, { seed });
      assert.ok(g.ok, JSON.stringify(g.mismatches.slice(0, 3)));
    }),
    { numRuns: 25, seed: 28 },
  );
});

test("LowRankCrossNet: TorchRec's names and shapes, xavier-normal kernels, zero biases", () => {
  const net = new LowRankCrossNet(40, 2, 30, new Rng(1));
  const shapes = net.namedParameters().map(([n, p]) => `${n} (${p.shape.join(", ")})`);
  assert.equal(shapes, [
    "W_kernels.0 (40, 30)",
    "W_kernels.1 (40, 30)",
    "V_kernels.0 (30, 40)",
    "V_kernels.1 (30, 40)",
    "bias.0 (40)",
    "bias.1 (40)",
  ]);
  const W = net.W[0].data;
  let ss = 0;
  for (const v of W) ss += v * v;
  const std = Math.sqrt(ss / W.length);
  assert.ok(Math.abs(std - Math.sqrt(2 / 70)) < 0.02, `W std ${std}, xavier ${Math.sqrt(2 / 70)}`);
  assert.ok(
    net.b.every((b) => b.data.every((v) => v === 0)),
    "biases start at zero",
  );
});

test("VectorCrossNet: TorchRec's names and shapes", () => {
  const net = new VectorCrossNet(6, 2, null);
  assert.equal(
    net.namedParameters().map(([n, p]) => `${n} (${p.shape.join(", ")})`),
    ["kernels.0 (6, 1)", "kernels.1 (6, 1)", "bias.0 (6, 1)", "bias.1 (6, 1)"],
  );
});

test("cross networks: an input of the wrong width, and bad sizes, are errors naming the module", () => {
  const x = fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
  assertThrows(
    () => new LowRankCrossNet(4, 1, 2, null).forward(x),
    /LowRankCrossNet: input must be \(B, 4\), got \(2, 3\)/,
  );
  assertThrows(() => new VectorCrossNet(4, 1, null).forward(x), /VectorCrossNet: input must be \(B, 4\), got \(2, 3\)/);
  assertThrows(() => new LowRankCrossNet(4, 1, 0, null), /LowRankCrossNet: low_rank must be a positive integer, got 0/);
  assertThrows(() => new VectorCrossNet(4, 0, null), /VectorCrossNet: num_layers must be a positive integer, got 0/);
});

test.run();
