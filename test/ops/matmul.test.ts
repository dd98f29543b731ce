// Tests of src/ops/matmul.ts: matmul (2-D and batched 3-D, all four transpose-flag
// combinations) and linear. Properties over random sizes (0, 1, K = 1, non-multiples of 4)
// against a naive float64 reference and float64 central differences (checkOp); the flags
// against explicitly transposed copies; linear against matmul + bias; hand-computed cases;
// bad input.
//
// Glossary: M rows of op(a), K the shared dim, N columns of op(b), P batch items;
// for linear B batch rows, I input features, O output features.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { gradcheck } from "../../src/autograd/gradcheck.ts";
import { add, relu } from "../../src/ops/elementwise.ts";
import { linear, matmul } from "../../src/ops/matmul.ts";
import { transpose } from "../../src/ops/shape.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, randn, zeros, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

// Forward: a dot product of K float32 values in [-1, 1], against float64. A float32
// accumulation (as a SIMD kernel does) errs by at most ~K·2^-24·Σ|a·b| ≤ K²·6e-8; with
// K ≤ 9 that is < 5e-6.
const FWD = { atol: 1e-5, rtol: 1e-5 };
// Gradients: sums of at most 9 products of float32 values (|g| < 1) compared with float64
// central differences of a bilinear function (error ~1e-9).
const BWD = { atol: 1e-5, rtol: 1e-4 };

// ---------------------------------------------------------------------------------------
// Naive float64 references

/** op(t)[i][k] of a stored (rows, cols) matrix at offset off: t or tᵀ. */
function at(t: Float64Array, off: number, cols: number, trans: boolean, i: number, k: number): number {
  return (trans ? t[off + k * cols + i] : t[off + i * cols + k]) as number;
}

/** P products op(a)·op(b), each (M, K)·(K, N), stored back to back. */
function matmulRef(P: number, M: number, N: number, K: number, transA: boolean, transB: boolean) {
  return (a: Float64Array, b: Float64Array): Float64Array => {
    const y = new Float64Array(P * M * N);
    for (let p = 0; p < P; p++) {
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            s += at(a, p * M * K, transA ? M : K, transA, i, k) * at(b, p * K * N, transB ? K : N, transB, k, j);
          }
          y[p * M * N + i * N + j] = s;
        }
      }
    }
    return y;
  };
}

/** x (B, I) · Wᵀ + b with W (O, I). */
function linearRef(B: number, I: number, O: number, withBias: boolean) {
  return (x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array => {
    const y = new Float64Array(B * O);
    for (let r = 0; r < B; r++) {
      for (let o = 0; o < O; o++) {
        let s = withBias ? ((b as Float64Array)[o] as number) : 0;
        for (let i = 0; i < I; i++) s += (x[r * I + i] as number) * (w[o * I + i] as number);
        y[r * O + o] = s;
      }
    }
    return y;
  };
}

/** The stored shape of an operand: (rows, cols), swapped when transposed. */
function stored(rows: number, cols: number, trans: boolean): number[] {
  return trans ? [cols, rows] : [rows, cols];
}

/** A naive transposed copy of each (R, C) matrix of a (P, R, C) or (R, C) tensor. */
function transposedCopy(t: Tensor): Tensor {
  const batched = t.rank === 3;
  const P = batched ? (t.shape[0] as number) : 1;
  const [R, C] = t.shape.slice(-2) as [number, number];
  const out = new Float32Array(t.size);
  for (let p = 0; p < P; p++) {
    for (let r = 0; r < R; r++)
      for (let c = 0; c < C; c++) out[p * R * C + c * R + r] = t.data[p * R * C + r * C + c] as number;
  }
  return fromArray(out, batched ? [P, C, R] : [C, R], { requiresGrad: t.requiresGrad });
}

// Sizes 1–9 (1 for K = 1 and vectors; 5–9 are not multiples of 4), now and then 0.
const dim = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 9 }), weight: 10 },
  { arbitrary: fc.constant(0), weight: 1 },
);
const flags = fc.record({ transA: fc.boolean(), transB: fc.boolean() });

// ---------------------------------------------------------------------------------------
// matmul: properties

test("matmul 2-D with every flag combination matches float64 and central differences (tol: FWD, BWD)", () => {
  fc.assert(
    fc.property(dim, dim, dim, flags, fc.nat(), (M, N, K, { transA, transB }, s) => {
      checkOp({
        inputs: [
          { data: randomValues(M * K, s), shape: stored(M, K, transA) },
          { data: randomValues(K * N, s + 1), shape: stored(K, N, transB) },
        ],
        op: (a, b) => {
          const y = matmul(a, b, { transA, transB });
          assert.equal(y.shape, [M, N]);
          return y;
        },
        ref: matmulRef(1, M, N, K, transA, transB),
        forward: FWD,
        backward: BWD,
        seed: s,
      });
    }),
    { seed: 301, numRuns: 80 },
  );
});

test("matmul batched 3-D with every flag combination matches float64 and central differences (tol: FWD, BWD)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), dim, dim, dim, flags, fc.nat(), (P, M, N, K, { transA, transB }, s) => {
      checkOp({
        inputs: [
          { data: randomValues(P * M * K, s), shape: [P, ...stored(M, K, transA)] },
          { data: randomValues(P * K * N, s + 1), shape: [P, ...stored(K, N, transB)] },
        ],
        op: (a, b) => {
          const y = matmul(a, b, { transA, transB });
          assert.equal(y.shape, [P, M, N]);
          return y;
        },
        ref: matmulRef(P, M, N, K, transA, transB),
        forward: FWD,
        backward: BWD,
        seed: s,
      });
    }),
    { seed: 302, numRuns: 60 },
  );
});

/** matmul(a', b', flags) against matmul(a, b) on transposed copies: values and gradients. */
function flagsAgainstCopies(batchedCase: boolean, seed: number): void {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3 }), dim, dim, dim, flags, fc.nat(), (P, M, N, K, { transA, transB }, s) => {
      const lead = batchedCase ? [P] : [];
      const rng = new Rng(s);
      const a = randn([...lead, M, K], { rng, requiresGrad: true }); // (…, M, K)
      const b = randn([...lead, K, N], { rng, requiresGrad: true }); // (…, K, N)
      const aStored = transA ? transposedCopy(a) : fromArray(a.data.slice(), a.shape, { requiresGrad: true });
      const bStored = transB ? transposedCopy(b) : fromArray(b.data.slice(), b.shape, { requiresGrad: true });
      const plain = matmul(a, b);
      const flagged = matmul(aStored, bStored, { transA, transB });
      // Same products in the same K order; FWD allows a kernel that sums in another order.
      assertClose(flagged.data, plain.data, FWD, "forward");
      const g = randn(plain.shape, { rng });
      plain.backward(g);
      flagged.backward(g);
      // The stored operand's gradient, transposed back when its flag was set.
      const back = (t: Tensor, trans: boolean): Tensor => {
        const grad = fromArray(t.grad ?? new Float32Array(t.size), t.shape);
        return trans ? transposedCopy(grad) : grad;
      };
      assertClose(back(aStored, transA).data, a.grad ?? [], BWD, "gradient of a");
      assertClose(back(bStored, transB).data, b.grad ?? [], BWD, "gradient of b");
    }),
    { seed, numRuns: 50 },
  );
}

test("matmul 2-D: transpose flags equal matmul of transposed copies, all four combinations, values and gradients (tol: FWD, BWD)", () => {
  flagsAgainstCopies(false, 303);
});

test("matmul batched: transpose flags equal matmul of transposed copies, all four combinations, values and gradients (tol: FWD, BWD)", () => {
  flagsAgainstCopies(true, 304);
});

test("matmul: a batched product equals the 2-D product of each item (tol: FWD)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), dim, dim, dim, fc.nat(), (P, M, N, K, s) => {
      const rng = new Rng(s);
      const a = randn([P, M, K], { rng });
      const b = randn([P, K, N], { rng });
      const y = matmul(a, b);
      for (let p = 0; p < P; p++) {
        const ap = fromArray(a.data.slice(p * M * K, (p + 1) * M * K), [M, K]);
        const bp = fromArray(b.data.slice(p * K * N, (p + 1) * K * N), [K, N]);
        assertClose(y.data.slice(p * M * N, (p + 1) * M * N), matmul(ap, bp).data, FWD, `item ${p}`);
      }
    }),
    { seed: 305, numRuns: 40 },
  );
});

// ---------------------------------------------------------------------------------------
// matmul: hand-computed cases

test("matmul by hand: (2, 3)·(3, 2), and its gradients for an all-ones upstream gradient", () => {
  const a = fromArray(
    [
      [1, 2, 3],
      [4, 5, 6],
    ],
    undefined,
    { requiresGrad: true },
  );
  const b = fromArray(
    [
      [7, 8],
      [9, 10],
      [11, 12],
    ],
    undefined,
    { requiresGrad: true },
  );
  const y = matmul(a, b);
  // [1·7 + 2·9 + 3·11, 1·8 + 2·10 + 3·12] = [58, 64]; [4·7 + 5·9 + 6·11, …] = [139, 154]
  assert.equal(y.toArray(), [
    [58, 64],
    [139, 154],
  ]);
  y.backward(
    fromArray([
      [1, 1],
      [1, 1],
    ]),
  );
  // da = g·bᵀ: every row is the row sums of b, [15, 19, 23]; db = aᵀ·g: every column is
  // the column sums of a, [5, 7, 9].
  assert.equal(Array.from(a.grad ?? []), [15, 19, 23, 15, 19, 23]);
  assert.equal(Array.from(b.grad ?? []), [5, 5, 7, 7, 9, 9]);
});

test("matmul by hand: a·aᵀ through transB (the Gram matrix), and a batch of two (1, 2)·(2, 1) products", () => {
  const a = fromArray([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  // [1+4+9, 4+10+18; ·, 16+25+36] = [14, 32; 32, 77]
  assert.equal(matmul(a, a, { transB: true }).toArray(), [
    [14, 32],
    [32, 77],
  ]);
  // aᵀ·a through transA: (3, 3), entry [i][j] = Σ_r a[r][i]·a[r][j]
  assert.equal(matmul(a, a, { transA: true }).toArray(), [
    [17, 22, 27],
    [22, 29, 36],
    [27, 36, 45],
  ]);
  const p = fromArray([1, 2, -1, 0.5], [2, 1, 2]);
  const q = fromArray([3, 4, 2, 4], [2, 2, 1]);
  // 1·3 + 2·4 = 11; -1·2 + 0.5·4 = 0
  assert.equal(matmul(p, q).toArray(), [[[11]], [[0]]]);
});

test("matmul with K = 0 gives zeros, and an empty M gives an empty result with zero gradients", () => {
  // An empty sum is 0, whatever the output buffer held.
  assert.equal(Array.from(matmul(zeros([2, 0]), zeros([0, 3])).data), [0, 0, 0, 0, 0, 0]);
  assert.equal(Array.from(matmul(zeros([2, 1, 0]), zeros([2, 1, 0]), { transB: true }).data), [0, 0]);
  const b = fromArray([1, 2, 3, 4, 5, 6], [3, 2], { requiresGrad: true });
  const y = matmul(zeros([0, 3], { requiresGrad: true }), b);
  assert.equal(y.shape, [0, 2]);
  y.backward(new Float32Array(0));
  assert.equal(Array.from(b.grad ?? []), [0, 0, 0, 0, 0, 0]);
});

test("matmul adds (+=) into existing gradients: a used on both sides (a·aᵀ) passes a float64 gradcheck (atol 1e-8, rtol 1e-6)", () => {
  const rng = new Rng(11);
  const a = randn([3, 5], { rng, dtype: "float64", requiresGrad: true });
  const b = randn([2, 3, 4], { rng, dtype: "float64", requiresGrad: true });
  // d(a·aᵀ)/da needs both products summed into one buffer (β = 1).
  const gram = gradcheck((x) => matmul(x, x, { transB: true }), [a], { atol: 1e-8, rtol: 1e-6 });
  assert.ok(gram.ok, JSON.stringify(gram.mismatches));
  const batchedGram = gradcheck((x) => matmul(x, x, { transA: true }), [b], { atol: 1e-8, rtol: 1e-6 });
  assert.ok(batchedGram.ok, JSON.stringify(batchedGram.mismatches));
  assert.is(matmul(a, a, { transB: true }).dtype, "float64");
});

test("matmul: two backward passes give twice the gradients of one, for every flag combination, 2-D and batched (atol 1e-12)", () => {
  const rng = new Rng(13);
  for (const lead of [[], [2]]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        // float64 so that g + g is compared with 2g exactly enough: M = 3, N = 4, K = 5.
        const a = randn([...lead, ...stored(3, 5, transA)], { rng, dtype: "float64", requiresGrad: true });
        const b = randn([...lead, ...stored(5, 4, transB)], { rng, dtype: "float64", requiresGrad: true });
        const g = randn([...lead, 3, 4], { rng, dtype: "float64" });
        matmul(a, b, { transA, transB }).backward(g);
        const once = [Array.from(a.grad ?? []), Array.from(b.grad ?? [])];
        matmul(a, b, { transA, transB }).backward(g);
        const what = `lead [${lead.join(", ")}], transA=${transA}, transB=${transB}`;
        assertClose(
          a.grad ?? [],
          (once[0] as number[]).map((v) => 2 * v),
          { atol: 1e-12, rtol: 0 },
          `gradient of a, ${what}`,
        );
        assertClose(
          b.grad ?? [],
          (once[1] as number[]).map((v) => 2 * v),
          { atol: 1e-12, rtol: 0 },
          `gradient of b, ${what}`,
        );
      }
    }
  }
});

// ---------------------------------------------------------------------------------------
// matmul: bad input

test("matmul rejects inner dims that differ, naming both shapes and the transpose flags", () => {
  const a = zeros([32, 13]);
  const b = zeros([16, 64]);
  assertThrows(
    () => matmul(a, b),
    /^matmul: inner dims differ \(13 vs 16\) — a is \(32, 13\), b is \(16, 64\), transA=false, transB=false$/,
  );
  assertThrows(
    () => matmul(a, b, { transA: true }),
    /^matmul: inner dims differ \(32 vs 16\) — a is \(32, 13\), b is \(16, 64\), transA=true, transB=false$/,
  );
  assertThrows(
    () => matmul(a, zeros([13, 64]), { transB: true }),
    /^matmul: inner dims differ \(13 vs 64\) — a is \(32, 13\), b is \(13, 64\), transA=false, transB=true$/,
  );
  assertThrows(
    () => matmul(zeros([2, 4, 3]), zeros([2, 4, 5])),
    /^matmul: inner dims differ \(3 vs 4\) — a is \(2, 4, 3\), b is \(2, 4, 5\)/,
  );
});

test("matmul rejects batch mismatches, wrong ranks, mixed dtypes and non-tensors", () => {
  assertThrows(
    () => matmul(zeros([3, 2, 4]), zeros([2, 4, 5])),
    /^matmul: batch sizes differ \(3 vs 2\) — a is \(3, 2, 4\), b is \(2, 4, 5\), transA=false, transB=false$/,
  );
  assertThrows(
    () => matmul(zeros([3, 2, 4]), zeros([4, 5])),
    /^matmul: needs two 2-D or two 3-D \(batched\) tensors, got 3-D and 2-D — a is \(3, 2, 4\), b is \(4, 5\)/,
  );
  assertThrows(
    () => matmul(zeros([4]), zeros([4])),
    /^matmul: needs two 2-D or two 3-D \(batched\) tensors, got 1-D and 1-D/,
  );
  assertThrows(
    () => matmul(zeros([2, 2]), zeros([2, 2], { dtype: "float64" })),
    /^matmul: inputs must share a dtype — a is float32, b is float64$/,
  );
  // @ts-expect-error a plain array is not a Tensor
  assertThrows(() => matmul([[1]], zeros([1, 1])), /^matmul: a must be a Tensor, got Array$/);
});

// ---------------------------------------------------------------------------------------
// linear

/** A random tensor and an independent copy of it (same values), for comparing two computations. */
function twin(rng: Rng, shape: number[], requiresGrad = true): [Tensor, Tensor] {
  const t = randn(shape, { rng, requiresGrad });
  return [t, fromArray(t.data.slice(), shape, { requiresGrad })];
}

/** Backpropagate the same random output gradient through both results. */
function backwardBoth(rng: Rng, y1: Tensor, y2: Tensor): void {
  const g = randn([...y1.shape], { rng });
  y1.backward(g);
  y2.backward(g);
}

/** The gradients of x, weight and bias agree between the two computations (tol: BWD). */
function assertSameGrads([x1, w1, b1]: Tensor[], [x2, w2, b2]: Tensor[]): void {
  assertClose(x1?.grad ?? [], x2?.grad ?? [], BWD, "gradient of x");
  assertClose(w1?.grad ?? [], w2?.grad ?? [], BWD, "gradient of weight");
  assertClose(b1?.grad ?? [], b2?.grad ?? [], BWD, "gradient of bias");
}

test("linear matches x·Wᵀ + b in float64 and central differences, with and without bias (tol: FWD, BWD)", () => {
  fc.assert(
    fc.property(dim, dim, dim, fc.boolean(), fc.nat(), (B, I, O, withBias, s) => {
      const inputs = [
        { data: randomValues(B * I, s), shape: [B, I] },
        { data: randomValues(O * I, s + 1), shape: [O, I] },
      ];
      if (withBias) inputs.push({ data: randomValues(O, s + 2), shape: [O] });
      checkOp({
        inputs,
        op: (x, w, b) => {
          const y = linear(x as Tensor, w as Tensor, withBias ? (b as Tensor) : null);
          assert.equal(y.shape, [B, O]);
          return y;
        },
        ref: linearRef(B, I, O, withBias),
        forward: FWD,
        backward: BWD,
        seed: s,
      });
    }),
    { seed: 306, numRuns: 80 },
  );
});

test("linear equals add(matmul(x, transpose(W)), bias): values and all three gradients (tol: FWD, BWD)", () => {
  fc.assert(
    fc.property(dim, dim, dim, fc.nat(), (B, I, O, s) => {
      const rng = new Rng(s);
      const [x1, x2] = twin(rng, [B, I]);
      const [w1, w2] = twin(rng, [O, I]);
      const [b1, b2] = twin(rng, [O]);
      const y1 = linear(x1, w1, b1);
      const y2 = add(matmul(x2, transpose(w2)), b2);
      assertClose(y1.data, y2.data, FWD, "forward");
      backwardBoth(rng, y1, y2);
      assertSameGrads([x1, w1, b1], [x2, w2, b2]);
    }),
    { seed: 307, numRuns: 50 },
  );
});

test("linear with relu equals relu(linear(…)): values and the gradients of whichever inputs train (tol: FWD, BWD)", () => {
  // Every input's requiresGrad is drawn, so both backward paths run: the fused mask + bias
  // sums (relu_bwd_col_sum) when the bias trains, the mask alone when it does not.
  fc.assert(
    fc.property(
      dim,
      dim,
      dim,
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      fc.boolean(),
      fc.nat(),
      (B, I, O, withBias, gx, gw, gb, s) => {
        const rng = new Rng(s);
        const [x1, x2] = twin(rng, [B, I], gx);
        const [w1, w2] = twin(rng, [O, I], gw);
        const [b1, b2] = twin(rng, [O], gb);
        const y1 = linear(x1, w1, withBias ? b1 : null, "relu");
        const y2 = relu(linear(x2, w2, withBias ? b2 : null));
        assertClose(y1.data, y2.data, FWD, "forward");
        if (!(gx || gw || (withBias && gb))) return;
        backwardBoth(rng, y1, y2);
        assertSameGrads([x1, w1, b1], [x2, w2, b2]);
      },
    ),
    { seed: 308, numRuns: 60 },
  );
});

test("linear with relu by hand: negative pre-activations give 0 and pass no gradient", () => {
  const x = fromArray([1, -1], [1, 2], { requiresGrad: true });
  const w = fromArray([1, 1, 2, -1, -3, 0], [3, 2], { requiresGrad: true });
  const b = fromArray([0.5, -4, 1], [3], { requiresGrad: true });
  // z = x·Wᵀ + b = [0 + 0.5, 3 - 4, -3 + 1] = [0.5, -1, -2] → y = [0.5, 0, 0]
  const y = linear(x, w, b, "relu");
  assert.equal(Array.from(y.data), [0.5, 0, 0]);
  y.backward(fromArray([2, 3, 5], [1, 3]));
  // only output 0 passes its gradient 2: db = [2, 0, 0], dW row 0 = 2·x, dx = 2·W[0]
  assert.equal(Array.from(b.grad ?? []), [2, 0, 0]);
  assert.equal(Array.from(w.grad ?? []), [2, -2, 0, 0, 0, 0]);
  assert.equal(Array.from(x.grad ?? []), [2, 2]);
  assertThrows(() => linear(x, w, b, "gelu" as "relu"), /linear: activation must be "none" or "relu", got "gelu"/);
});

test("linear by hand: (2, 2) inputs through a (3, 2) weight plus bias, and its gradients", () => {
  const x = fromArray(
    [
      [1, 2],
      [3, 4],
    ],
    undefined,
    { requiresGrad: true },
  );
  const w = fromArray(
    [
      [1, 0],
      [0, 1],
      [1, 1],
    ],
    undefined,
    { requiresGrad: true },
  );
  const b = fromArray([0.5, -1, 2], undefined, { requiresGrad: true });
  const y = linear(x, w, b);
  // x·Wᵀ = [[1, 2, 3], [3, 4, 7]]; + b
  assert.equal(y.toArray(), [
    [1.5, 1, 5],
    [3.5, 3, 9],
  ]);
  y.backward(
    fromArray([
      [1, 1, 1],
      [1, 1, 1],
    ]),
  );
  // dx = g·W: column sums of W, [2, 2] per row; dW = gᵀ·x: column sums of x, [4, 6] per
  // row; db = column sums of g = [2, 2, 2].
  assert.equal(Array.from(x.grad ?? []), [2, 2, 2, 2]);
  assert.equal(Array.from(w.grad ?? []), [4, 6, 4, 6, 4, 6]);
  assert.equal(Array.from(b.grad ?? []), [2, 2, 2]);
  assert.equal(linear(x, w, null).toArray(), [
    [1, 2, 3],
    [3, 4, 7],
  ]);
});

test("linear runs in float64 and passes gradcheck (atol 1e-8, rtol 1e-6); gradients accumulate across calls", () => {
  const rng = new Rng(12);
  const x = randn([4, 3], { rng, dtype: "float64", requiresGrad: true });
  const w = randn([5, 3], { rng, dtype: "float64", requiresGrad: true });
  const b = randn([5], { rng, dtype: "float64", requiresGrad: true });
  assert.is(linear(x, w, b).dtype, "float64");
  const r = gradcheck((p, q, c) => linear(p, q, c), [x, w, b], { atol: 1e-8, rtol: 1e-6 });
  assert.ok(r.ok, JSON.stringify(r.mismatches));

  // Two backward passes with the same upstream gradient: twice the gradients of one.
  const g = randn([4, 5], { rng, dtype: "float64" });
  linear(x, w, b).backward(g);
  const once = [x, w, b].map((t) => Array.from(t.grad ?? []));
  linear(x, w, b).backward(g);
  [x, w, b].forEach((t, i) =>
    assertClose(
      t.grad ?? [],
      (once[i] as number[]).map((v) => 2 * v),
      { atol: 1e-12, rtol: 1e-12 },
      `input ${i}`,
    ),
  );
});

test("linear rejects feature mismatches, a wrong bias, wrong ranks and mixed dtypes", () => {
  const x = zeros([32, 13]);
  const w = zeros([64, 16]);
  assertThrows(
    () => linear(x, w, null),
    /^linear: x has 13 features but weight \(out, in\) takes 16 — x is \(32, 13\), weight is \(64, 16\)$/,
  );
  assertThrows(
    () => linear(zeros([32, 16]), w, zeros([32])),
    /^linear: bias must be \(64,\), one value per output — weight is \(64, 16\), bias is \(32,\)$/,
  );
  assertThrows(() => linear(zeros([32, 16]), w, zeros([1, 64])), /^linear: bias must be \(64,\)/);
  assertThrows(() => linear(zeros([16]), w, null), /^linear: x must be 2-D, got 1-D — x is \(16,\)$/);
  assertThrows(() => linear(zeros([2, 16]), zeros([16]), null), /^linear: weight must be 2-D, got 1-D/);
  assertThrows(
    () => linear(zeros([2, 16]), w, zeros([64], { dtype: "float64" })),
    /^linear: inputs must share a dtype — x is float32, weight is float32, bias is float64$/,
  );
  // @ts-expect-error undefined is not a bias; pass null for none
  assertThrows(() => linear(zeros([2, 16]), w, undefined), /^linear: bias must be a Tensor, got undefined$/);
});

test.run();
