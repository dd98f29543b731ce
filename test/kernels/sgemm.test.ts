// The wasm sgemm against the reference sgemm (src/kernels/ref.ts): every transpose case,
// sizes 0, 1, tails of the 4×8 and 5×8 register tiles and several cache blocks (KC = 256,
// MC = 80, NC = 512), α and β including β = 0 over NaN garbage, with and without a bias
// row and the ReLU epilogue, leading dims with gaps, element offsets, and operands resident in wasm memory or
// staged from plain arrays.
//
// Tolerance: the wasm kernel sums float32 products in float32 (blocked), the reference in
// float64. Both stay within the textbook forward-error bound of a K-term dot product, so
//   |wasm − ref| ≤ 2·(K + 4)·u·S,  S = |α|·Σ_k |op(A)[i][k]·op(B)[k][j]| + |β·C[i][j]| + |bias[j]|,
// with u = 2⁻²⁴ (atol + rtol·|ref| in the K-scaled form of llm.c's check, tight per element).
// The ReLU keeps the bound: |max(x, 0) − max(y, 0)| ≤ |x − y|.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import * as ref from "../../src/kernels/ref.ts";
import { defaultHeap, residentF32, type Ptr } from "../../src/kernels/memory.ts";
import {
  enableRelaxedSimd,
  instantiateKernels,
  KernelError,
  sgemm,
  wasmFallbacks,
  wasmState,
} from "../../src/kernels/wasm.ts";
import { placeF32, U32, values, whereArb, type Where } from "./placement.ts";

interface Case {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  padA: number; // extra elements per stored row (leading dim − row length)
  padB: number;
  padC: number;
  offA: number;
  offB: number;
  offC: number;
  whereA: Where;
  whereB: Where;
  whereC: Where;
  bias: boolean; // add a bias (N,) to every row
  relu: boolean; // then max(·, 0)
  seed: number;
}

/** Run one case through wasm and ref; throw naming the first element out of tolerance. */
function check(c: Case): void {
  const aRows = c.transA ? c.K : c.M;
  const aCols = c.transA ? c.M : c.K;
  const bRows = c.transB ? c.N : c.K;
  const bCols = c.transB ? c.K : c.N;
  const lda = aCols + c.padA;
  const ldb = bCols + c.padB;
  const ldc = c.N + c.padC;
  const aData = values(c.seed, aRows * lda);
  const bData = values(c.seed + 1, bRows * ldb);
  // β = 0 must ignore C entirely: fill it with NaN so any read shows up in the result.
  const cData = c.beta === 0 ? new Float32Array(c.M * ldc).fill(NaN) : values(c.seed + 2, c.M * ldc);

  const a = placeF32(aData, c.whereA, c.offA);
  const b = placeF32(bData, c.whereB, c.offB);
  const cw = placeF32(cData, c.whereC, c.offC);
  const before = Float32Array.from(cw);
  const biasData = c.bias ? values(c.seed + 3, c.N) : null;
  const biasW = biasData === null ? null : placeF32(biasData, c.whereA, c.offB);
  sgemm(
    c.transA,
    c.transB,
    c.M,
    c.N,
    c.K,
    c.alpha,
    a,
    c.offA,
    lda,
    b,
    c.offB,
    ldb,
    c.beta,
    cw,
    c.offC,
    ldc,
    biasW,
    c.offB,
    c.relu,
  );

  const cr = Float32Array.from(cData);
  ref.sgemm(
    c.transA,
    c.transB,
    c.M,
    c.N,
    c.K,
    c.alpha,
    aData,
    0,
    lda,
    bData,
    0,
    ldb,
    c.beta,
    cr,
    0,
    ldc,
    biasData,
    0,
    c.relu,
  );

  const inC = (p: number): boolean => {
    const q = p - c.offC;
    return q >= 0 && q < c.M * ldc && q % ldc < c.N;
  };
  for (let p = 0; p < cw.length; p++) {
    if (!inC(p)) {
      // gaps between rows, sentinels before and after: untouched, bit for bit
      if (!Object.is(cw[p], before[p])) throw new Error(`element ${p} outside C changed: ${before[p]} → ${cw[p]}`);
      continue;
    }
    const i = Math.floor((p - c.offC) / ldc);
    const j = (p - c.offC) % ldc;
    let s =
      (c.beta === 0 ? 0 : Math.abs(c.beta * (cData[i * ldc + j] as number))) +
      (biasData === null ? 0 : Math.abs(biasData[j] as number));
    for (let k = 0; k < c.K; k++) {
      const aik = c.transA ? aData[k * lda + i] : aData[i * lda + k];
      const bkj = c.transB ? bData[j * ldb + k] : bData[k * ldb + j];
      s += Math.abs(c.alpha * (aik as number) * (bkj as number));
    }
    const want = cr[i * ldc + j] as number;
    const got = cw[p] as number;
    const tol = 2 * (c.K + 4) * U32 * s + 1e-38;
    if (!(Math.abs(got - want) <= tol)) {
      throw new Error(`C[${i}][${j}] = ${got}, reference ${want} (|diff| ${Math.abs(got - want)} > ${tol})`);
    }
  }
}

const size = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17), fc.integer({ min: 0, max: 70 }));
const caseArb: fc.Arbitrary<Case> = fc.record({
  transA: fc.boolean(),
  transB: fc.boolean(),
  M: size,
  N: size,
  K: size,
  alpha: fc.constantFrom(1, -0.5, 2.5, 0),
  beta: fc.constantFrom(0, 1, -1.5, 0.25),
  padA: fc.integer({ min: 0, max: 3 }),
  padB: fc.integer({ min: 0, max: 3 }),
  padC: fc.integer({ min: 0, max: 3 }),
  offA: fc.integer({ min: 0, max: 9 }),
  offB: fc.integer({ min: 0, max: 9 }),
  offC: fc.integer({ min: 0, max: 9 }),
  whereA: whereArb,
  whereB: whereArb,
  whereC: whereArb,
  bias: fc.boolean(),
  relu: fc.boolean(),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

test("sgemm: wasm equals ref on random shapes, transposes, α/β, offsets and placements", () => {
  fc.assert(
    fc.property(caseArb, (c) => check(c)),
    { seed: 4101, numRuns: 120 },
  );
});

test("sgemm: sizes that cross every cache block (KC, MC, NC) in all four transpose cases", () => {
  // M = 87 > MC = 80, N = 515 > NC, K = 260 > KC: the second block of each is a short tail.
  for (const [transA, transB, beta] of [
    [false, false, 0],
    [false, true, 0.5],
    [true, false, 0.5],
    [true, true, 0],
  ] as const) {
    check({
      transA,
      transB,
      M: 87,
      N: 515,
      K: 260,
      alpha: 0.75,
      beta,
      padA: 1,
      padB: 2,
      padC: 3,
      offA: 5,
      offB: 3,
      offC: 1,
      whereA: "resident",
      whereB: transB ? "plain" : "resident",
      whereC: beta === 0 ? "resident" : "plain",
      // the ReLU must wait for the last K block (K = 260 is two), after β·C and the bias
      bias: transA,
      relu: transB,
      seed: 17,
    });
  }
});

test("sgemm: the MLP shapes (x·Wᵀ forward, dy·W and dyᵀ·x backward), small batch", () => {
  const B = 33; // batch: not a multiple of 4
  const I = 13; // inputs
  const O = 35; // outputs
  const base = { padA: 0, padB: 0, padC: 0, offA: 0, offB: 0, offC: 0, alpha: 1, seed: 5 } as const;
  check({
    ...base,
    transA: false,
    transB: true,
    M: B,
    N: O,
    K: I,
    beta: 0,
    whereA: "plain",
    whereB: "resident",
    whereC: "plain",
    bias: true,
    relu: true,
  });
  check({
    ...base,
    transA: false,
    transB: false,
    M: B,
    N: I,
    K: O,
    beta: 1,
    whereA: "plain",
    whereB: "resident",
    whereC: "plain",
    bias: false,
    relu: false,
  });
  check({
    ...base,
    transA: true,
    transB: false,
    M: O,
    N: I,
    K: B,
    beta: 1,
    whereA: "plain",
    whereB: "plain",
    whereC: "resident",
    bias: false,
    relu: false,
  });
});

test("sgemm: both builds, plain and relaxed (fused multiply-add), equal ref within the bound", () => {
  const builds = enableRelaxedSimd() ? (["plain", "relaxed"] as const) : (["plain"] as const);
  const heap = defaultHeap();
  const work = heap.alloc(wasmState().raw.sgemm_f32_work_bytes());
  for (const build of builds) {
    const raw = instantiateKernels(heap.memory, build);
    fc.assert(
      fc.property(caseArb, (c) => {
        const aRows = c.transA ? c.K : c.M;
        const aCols = c.transA ? c.M : c.K;
        const bRows = c.transB ? c.N : c.K;
        const bCols = c.transB ? c.K : c.N;
        const a = residentF32(heap, Math.max(1, aRows * aCols));
        const b = residentF32(heap, Math.max(1, bRows * bCols));
        const cw = residentF32(heap, Math.max(1, c.M * c.N));
        a.set(values(c.seed, aRows * aCols));
        b.set(values(c.seed + 1, bRows * bCols));
        const c0 = values(c.seed + 2, c.M * c.N);
        cw.set(c0);
        const addr = (x: Float32Array): Ptr => heap.addressOf(x) as Ptr;
        const bias = residentF32(heap, Math.max(1, c.N));
        bias.set(values(c.seed + 3, c.N));
        raw.sgemm_f32(
          c.transA ? 1 : 0,
          c.transB ? 1 : 0,
          c.M,
          c.N,
          c.K,
          c.alpha,
          addr(a),
          aCols,
          addr(b),
          bCols,
          c.beta,
          addr(cw),
          c.N,
          work,
          c.bias ? addr(bias) : 0,
          c.relu ? 1 : 0,
        );
        const cr = Float64Array.from(c0);
        ref.sgemm(
          c.transA,
          c.transB,
          c.M,
          c.N,
          c.K,
          c.alpha,
          a,
          0,
          aCols,
          b,
          0,
          bCols,
          c.beta,
          cr,
          0,
          c.N,
          c.bias ? bias : null,
          0,
          c.relu,
        );
        for (let i = 0; i < c.M; i++) {
          for (let j = 0; j < c.N; j++) {
            let S = Math.abs(c.beta * (c0[i * c.N + j] as number)) + (c.bias ? Math.abs(bias[j] as number) : 0);
            for (let k = 0; k < c.K; k++) {
              const aik = (c.transA ? a[k * aCols + i] : a[i * aCols + k]) as number;
              const bkj = (c.transB ? b[j * bCols + k] : b[k * bCols + j]) as number;
              S += Math.abs(c.alpha * aik * bkj);
            }
            const tol = 2 * (c.K + 4) * U32 * S + 1e-38; // the bound of the file header
            const d = Math.abs((cw[i * c.N + j] as number) - (cr[i * c.N + j] as number));
            if (!(d <= tol)) throw new Error(`${build}: C[${i}][${j}] differs by ${d} > ${tol}`);
          }
        }
      }),
      { seed: 4102, numRuns: 40 },
    );
  }
  heap.free(work);
});

test("sgemm: the bias and the ReLU come after the product sum, rounded once each, in both builds", () => {
  // The epilogue's order is part of the numbers (golden parity, resumed runs): C = max(fl(α·acc) +
  // bias, 0) with the sum acc the same as without a bias. So a Linear layer's fused forward
  // must give, bit for bit, the GEMM without bias or ReLU followed by float32 + bias and max,
  // for sizes across the register tiles' edges and K up to one K block (KC = 256; past it the
  // bias joins the first block's partial sum, and the ReLU waits for the last block).
  const builds = enableRelaxedSimd() ? (["plain", "relaxed"] as const) : (["plain"] as const);
  const heap = defaultHeap();
  const work = heap.alloc(wasmState().raw.sgemm_f32_work_bytes());
  const dims = fc.record({
    M: fc.integer({ min: 1, max: 23 }),
    N: fc.integer({ min: 1, max: 37 }),
    K: fc.constantFrom(1, 13, 64, 256),
    alpha: fc.constantFrom(1, 0.5, -1.25),
    relu: fc.boolean(),
    transB: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1000 }),
  });
  for (const build of builds) {
    const raw = instantiateKernels(heap.memory, build);
    fc.assert(
      fc.property(dims, ({ M, N, K, alpha, relu, transB, seed }) => {
        const x = residentF32(heap, M * K);
        const w = residentF32(heap, N * K);
        const bias = residentF32(heap, N);
        const fused = residentF32(heap, M * N);
        const plain = residentF32(heap, M * N);
        x.set(values(seed, M * K));
        w.set(values(seed + 1, N * K));
        bias.set(values(seed + 2, N));
        fused.fill(Number.NaN); // β = 0: C is only written
        plain.fill(Number.NaN);
        const addr = (v: Float32Array): Ptr => heap.addressOf(v) as Ptr;
        const ldb = transB ? K : N;
        const call = (c: Float32Array, b: Ptr | 0, r: number): void =>
          raw.sgemm_f32(0, transB ? 1 : 0, M, N, K, alpha, addr(x), K, addr(w), ldb, 0, addr(c), N, work, b, r);
        call(fused, addr(bias), relu ? 1 : 0);
        call(plain, 0, 0);
        for (let i = 0; i < M * N; i++) {
          let want = Math.fround((plain[i] as number) + (bias[i % N] as number));
          if (relu) want = Math.max(want, 0); // max(−0, 0) is +0 here, as in f32x4.max
          if (!Object.is(fused[i], want))
            throw new Error(`${build} M=${M} N=${N} K=${K}: C[${i}] is ${fused[i]}, expected ${want}`);
        }
      }),
      { seed: 2611, numRuns: 60 },
    );
  }
  heap.free(work);
});

test("sgemm: float64 arrays go to the reference kernel and give its exact result", () => {
  const a = Float64Array.from(values(1, 6)); // (2, 3)
  const b = Float64Array.from(values(2, 12)); // (3, 4)
  const c1 = new Float64Array(8);
  const c2 = new Float64Array(8);
  sgemm(false, false, 2, 4, 3, 1, a, 0, 3, b, 0, 4, 0, c1, 0, 4);
  ref.sgemm(false, false, 2, 4, 3, 1, a, 0, 3, b, 0, 4, 0, c2, 0, 4);
  assert.equal(Array.from(c1), Array.from(c2)); // tolerance: none, same code
});

test("wasmFallbacks counts each call that ran on the reference kernel, by op and reason", () => {
  const count = (): number => wasmFallbacks()["sgemm: float64"] ?? 0;
  const before = count();
  const a = Float64Array.from(values(1, 6)); // (2, 3)
  const b = Float64Array.from(values(2, 12)); // (3, 4)
  sgemm(false, false, 2, 4, 3, 1, a, 0, 3, b, 0, 4, 0, new Float64Array(8), 0, 4);
  sgemm(false, false, 2, 4, 3, 1, a, 0, 3, b, 0, 4, 0, new Float64Array(8), 0, 4);
  assert.is(count(), before + 2);
  const f32 = (n: number, seed: number): Float32Array => Float32Array.from(values(seed, n));
  sgemm(false, false, 2, 4, 3, 1, f32(6, 1), 0, 3, f32(12, 2), 0, 4, 0, new Float32Array(8), 0, 4); // staged, not a fallback
  assert.is(count(), before + 2);
});

test("sgemm: a hand-computed 2×2 product with accumulate", () => {
  // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]; C = 2·AB + 1·[[1, 1], [1, 1]]
  const a = Float32Array.of(1, 2, 3, 4);
  const b = Float32Array.of(5, 6, 7, 8);
  const c = Float32Array.of(1, 1, 1, 1);
  sgemm(false, false, 2, 2, 2, 2, a, 0, 2, b, 0, 2, 1, c, 0, 2);
  assert.equal(Array.from(c), [39, 45, 87, 101]); // exact in float32
});

test("sgemm: extents outside the arrays and overlapping rows of C are errors", () => {
  const a = new Float32Array(3);
  const b = new Float32Array(4);
  const c = new Float32Array(4);
  assert.throws(
    () => sgemm(false, false, 2, 2, 2, 1, a, 0, 2, b, 0, 2, 0, c, 0, 2),
    (e: unknown) =>
      e instanceof KernelError &&
      /sgemm: A \(2×2, leading dim 2, offset 0\) needs elements up to 4 but the array has 3/.test(e.message),
  );
  assert.throws(
    () => sgemm(false, false, 2, 2, 1, 1, b, 0, 1, b, 0, 2, 0, c, 1, 2),
    (e: unknown) =>
      e instanceof KernelError &&
      /sgemm: C \(2×2, leading dim 2, offset 1\) needs elements up to 5 but the array has 4/.test(e.message),
  );
  assert.throws(
    () => sgemm(false, false, 2, 2, 1, 1, b, 0, 1, b, 0, 2, 0, c, 0, 1),
    (e: unknown) =>
      e instanceof KernelError &&
      /sgemm: leading dim of C \(1\) is below N \(2\), so rows of C overlap/.test(e.message),
  );
  assert.throws(
    () => sgemm(false, false, -1, 2, 1, 1, b, 0, 1, b, 0, 2, 0, c, 0, 2),
    /sgemm: M must be a non-negative int32, got -1/,
  );
});

test.run();
