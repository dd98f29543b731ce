// embeddingBag: forward against a naive float64 reference and hand calculations, gradients
// (sparse table gradient and dense weight gradient) against float64 central differences
// and against the one-hot formulation, offsets vs lengths, and bad input.
//
// Glossary: R table rows, E embedding dim, B bags, L lookups.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { embeddingBag, uniqueRows, type Bags } from "../../src/ops/embedding_bag.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, indexTensor, type IndexTensor, type Tensor } from "../../src/tensor/tensor.ts";
import { denseGradient } from "../../src/autograd/gradcheck.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

type Mode = "sum" | "mean";

/** One random problem: shapes from fast-check, values from a seeded Rng. */
interface BagCase {
  R: number;
  E: number;
  lengths: number[];
  seed: number;
  weighted: boolean;
}

interface BagData {
  table: number[]; // (R, E)
  indices: number[]; // (L,)
  weights: number[]; // (L,)
  offsets: number[]; // (B+1,)
}

// Small R against up to 20 lookups makes repeated ids within and across bags common;
// lengths of 0 give empty bags; B = 1, E = 1 and R = 1 are in range and in the examples.
const bagCase: fc.Arbitrary<BagCase> = fc.record({
  R: fc.integer({ min: 1, max: 6 }),
  E: fc.integer({ min: 1, max: 5 }),
  lengths: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  weighted: fc.boolean(),
});
const examples: [BagCase][] = [
  [{ R: 1, E: 1, lengths: [0, 3, 0], seed: 1, weighted: true }], // R = E = 1, empty bags, one id repeated
  [{ R: 4, E: 3, lengths: [4], seed: 2, weighted: false }], // B = 1
  [{ R: 2, E: 2, lengths: [0], seed: 3, weighted: true }], // L = 0
];

function build(c: BagCase): BagData {
  const rng = new Rng(c.seed);
  const L = c.lengths.reduce((s, n) => s + n, 0);
  const indices = Array.from({ length: L }, () => rng.int(c.R));
  const table = Array.from({ length: c.R * c.E }, () => rng.uniformIn(-1, 1));
  const weights = Array.from({ length: L }, () => rng.uniformIn(-2, 2));
  const offsets = [0];
  for (const n of c.lengths) offsets.push((offsets[offsets.length - 1] as number) + n);
  return { table, indices, weights, offsets };
}

/** Naive float64 pooling, written from the definition (not from the kernel). */
function refPool(
  table: ArrayLike<number>,
  E: number,
  indices: number[],
  offsets: number[],
  mode: Mode,
  w: ArrayLike<number> | null,
): Float64Array {
  const B = offsets.length - 1;
  const out = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    const n = (offsets[b + 1] as number) - (offsets[b] as number);
    for (let l = offsets[b] as number; l < (offsets[b + 1] as number); l++) {
      const wl = w === null ? 1 : (w[l] as number);
      const scale = mode === "mean" ? 1 / n : 1;
      for (let e = 0; e < E; e++) out[b * E + e] += scale * wl * (table[(indices[l] as number) * E + e] as number);
    }
  }
  return out;
}

/** The (B, R) matrix M with out = M · table: M[b, r] = scale_b · Σ_{l in b, id_l = r} w_l. */
function oneHot(
  R: number,
  indices: number[],
  offsets: number[],
  mode: Mode,
  w: ArrayLike<number> | null,
): Float64Array {
  const B = offsets.length - 1;
  const M = new Float64Array(B * R);
  for (let b = 0; b < B; b++) {
    const start = offsets[b] as number;
    const end = offsets[b + 1] as number;
    for (let l = start; l < end; l++) {
      M[b * R + (indices[l] as number)] += (w === null ? 1 : (w[l] as number)) / (mode === "mean" ? end - start : 1);
    }
  }
  return M;
}

/** C (M, N) = op(A) · Bm with plain loops; op(A) = Aᵀ when transA (A stored (K, M)). */
function matmul64(
  A: ArrayLike<number>,
  Bm: ArrayLike<number>,
  M: number,
  K: number,
  N: number,
  transA = false,
): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++)
        s += (transA ? (A[k * M + i] as number) : (A[i * K + k] as number)) * (Bm[k * N + j] as number);
      C[i * N + j] = s;
    }
  }
  return C;
}

const offsetsOf = (d: BagData): Bags => ({ offsets: indexTensor(d.offsets) });

for (const mode of ["sum", "mean"] as const) {
  test(`property (${mode}): forward vs float64 reference, table and weight gradients vs central differences`, () => {
    fc.assert(
      fc.property(bagCase, (c) => {
        const d = build(c);
        const idx = indexTensor(d.indices);
        const table = { data: d.table, shape: [c.R, c.E] };
        // float32 op vs float64 reference: sums of <= 4 terms of size <= 2, so forward
        // atol 1e-5 + rtol 1e-5; gradients atol 1e-5 + rtol 1e-4 (the reference is linear in
        // table and in the weights, so central differences are exact up to rounding).
        const tol = { forward: { atol: 1e-5, rtol: 1e-5 }, backward: { atol: 1e-5, rtol: 1e-4 }, seed: c.seed };
        if (c.weighted) {
          checkOp({
            inputs: [table, { data: d.weights, shape: [d.indices.length] }],
            op: (t: Tensor, w: Tensor) => embeddingBag(t, idx, offsetsOf(d), { mode, perSampleWeights: w }),
            ref: (t: Float64Array, w: Float64Array) => refPool(t, c.E, d.indices, d.offsets, mode, w),
            ...tol,
          });
        } else {
          checkOp({
            inputs: [table],
            op: (t: Tensor) => embeddingBag(t, idx, offsetsOf(d), { mode }),
            ref: (t: Float64Array) => refPool(t, c.E, d.indices, d.offsets, mode, null),
            ...tol,
          });
        }
      }),
      { seed: mode === "sum" ? 101 : 102, numRuns: 60, examples },
    );
  });
}

test("hand-computed: sum and mean over bags {2, 0}, {}, {2}; the empty bag pools to zeros", () => {
  const table = fromArray([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const idx = indexTensor([2, 0, 2]);
  const bags = { offsets: indexTensor([0, 2, 2, 3]) };
  // exact: small integers and halves are exact in float32
  assert.equal(embeddingBag(table, idx, bags).toArray(), [
    [6, 8],
    [0, 0],
    [5, 6],
  ]);
  assert.equal(embeddingBag(table, idx, bags, { mode: "mean" }).toArray(), [
    [3, 4],
    [0, 0],
    [5, 6],
  ]);
});

test("hand-computed: weighted mean forward, table and weight gradients", () => {
  const table = fromArray(
    [
      [1, 2],
      [3, 4],
    ],
    undefined,
    { requiresGrad: true },
  );
  const w = fromArray([0.5, 2, -1], undefined, { requiresGrad: true });
  const out = embeddingBag(
    table,
    indexTensor([0, 1, 1]),
    { lengths: indexTensor([2, 1]) },
    { mode: "mean", perSampleWeights: w },
  );
  // bag 0: (0.5·[1, 2] + 2·[3, 4]) / 2 = [3.25, 4.5]; bag 1: -1·[3, 4]
  assert.equal(out.toArray(), [
    [3.25, 4.5],
    [-3, -4],
  ]);
  out.backward(new Float32Array([1, 0, 0, 1]));
  // dw_l = scale_b·<table[id_l], dout_b>: 0.5·1, 0.5·3, 1·4
  assert.equal(Array.from(w.grad ?? []), [0.5, 1.5, 4]);
  // row 0: 0.5·0.5·[1, 0]; row 1: 0.5·2·[1, 0] + (-1)·[0, 1]
  assert.equal(Array.from(table.rowGrad?.ids ?? []), [0, 1]);
  assert.equal(Array.from(table.rowGrad?.values ?? []), [0.25, 0, 1, -1]);
  assert.is(table.grad, null);
});

test("property: embeddingBag equals the one-hot matrix (B, R) times the table", () => {
  fc.assert(
    fc.property(bagCase, fc.constantFrom<Mode>("sum", "mean"), (c, mode) => {
      const d = build(c);
      const w = c.weighted ? d.weights : null;
      const out = embeddingBag(
        fromArray(Float64Array.from(d.table), [c.R, c.E], { dtype: "float64" }),
        indexTensor(d.indices),
        offsetsOf(d),
        {
          mode,
          perSampleWeights: w === null ? null : fromArray(w, [w.length], { dtype: "float64" }),
        },
      );
      const B = c.lengths.length;
      const expected = matmul64(oneHot(c.R, d.indices, d.offsets, mode, w), d.table, B, c.R, c.E);
      assert.equal(out.shape, [B, c.E]);
      // float64 both ways, different summation order: atol 1e-12
      assertClose(out.data, expected, { atol: 1e-12, rtol: 0 });
    }),
    { seed: 103, numRuns: 60, examples: examples.map(([c]): [BagCase, Mode] => [c, "mean"]) },
  );
});

test("property: the sparse table gradient densified equals the dense reference Mᵀ · dout", () => {
  fc.assert(
    fc.property(bagCase, fc.constantFrom<Mode>("sum", "mean"), (c, mode) => {
      const d = build(c);
      const B = c.lengths.length;
      const w = c.weighted ? d.weights : null;
      const table = fromArray(Float64Array.from(d.table), [c.R, c.E], { dtype: "float64", requiresGrad: true });
      const out = embeddingBag(table, indexTensor(d.indices), offsetsOf(d), {
        mode,
        perSampleWeights: w === null ? null : fromArray(w, [w.length], { dtype: "float64" }),
      });
      const dout = Float64Array.from(randomValues(B * c.E, c.seed));
      out.backward(dout);
      const M = oneHot(c.R, d.indices, d.offsets, mode, w); // (B, R)
      const expected = matmul64(M, dout, c.R, B, c.E, true); // (R, E) = Mᵀ · dout
      // No dense table-sized gradient; the sparse ids are exactly the touched rows, ascending.
      assert.is(table.grad, null);
      const touched = [...new Set(d.indices)].sort((a, b) => a - b);
      const g = table.rowGrad;
      if (d.indices.length === 0) {
        assert.ok(g === null || g.ids.length === 0);
      } else {
        assert.ok(g !== null);
        assert.equal(Array.from(g.ids), touched);
        assert.is(g.values.length, touched.length * c.E);
        assert.is(g.rows, c.R);
        assert.is(g.cols, c.E);
      }
      // float64 both ways: atol 1e-12
      assertClose(denseGradient(table), expected, { atol: 1e-12, rtol: 0 });
    }),
    { seed: 104, numRuns: 60, examples: examples.map(([c]): [BagCase, Mode] => [c, "sum"]) },
  );
});

test("property: uniqueRows gives the distinct ids ascending and each lookup's slot among them", () => {
  // Ids up to 2^31 - 1 take several radix passes; small ranges force many repeats.
  const idsArb = fc
    .integer({ min: 0, max: 30 })
    .chain((bits) => fc.array(fc.integer({ min: 0, max: 2 ** bits }), { maxLength: 3000 }));
  fc.assert(
    fc.property(idsArb, (list) => {
      const ids = Int32Array.from(list);
      const { unique, slots } = uniqueRows(ids);
      const expected = [...new Set(list)].sort((a, b) => a - b);
      assert.equal(Array.from(unique), expected);
      assert.is(slots.length, list.length);
      for (let l = 0; l < list.length; l++) assert.is(unique[slots[l] as number], list[l]);
    }),
    { seed: 105, numRuns: 80, examples: [[[]], [[0]], [[2 ** 31 - 1, 0, 2 ** 31 - 1, 5]]] },
  );
});

test("property: offsets and lengths forms give identical outputs and gradients", () => {
  fc.assert(
    fc.property(bagCase, fc.constantFrom<Mode>("sum", "mean"), (c, mode) => {
      const d = build(c);
      const run = (bags: Bags): { out: number[]; gt: Float64Array; gw: number[] } => {
        const table = fromArray(d.table, [c.R, c.E], { requiresGrad: true });
        const w = fromArray(d.weights, [d.weights.length], { requiresGrad: true });
        const out = embeddingBag(table, indexTensor(d.indices), bags, {
          mode,
          perSampleWeights: c.weighted ? w : null,
        });
        out.backward(Float32Array.from(randomValues(out.size, 5)));
        return { out: Array.from(out.data), gt: denseGradient(table), gw: Array.from(w.grad ?? []) };
      };
      const a = run({ offsets: indexTensor(d.offsets) });
      const b = run({ lengths: indexTensor(c.lengths) });
      // the same kernel on the same offsets: bitwise equal
      assert.equal(a.out, b.out);
      assert.equal(Array.from(a.gt), Array.from(b.gt));
      assert.equal(a.gw, b.gw);
    }),
    { seed: 105, numRuns: 40 },
  );
});

test("gradients accumulate across two lookups of the same table (sparse rows merged)", () => {
  const tableData = randomValues(5 * 3, 11);
  const table = fromArray(tableData, [5, 3], { dtype: "float64", requiresGrad: true });
  const d1 = Float64Array.from(randomValues(2 * 3, 12));
  const d2 = Float64Array.from(randomValues(1 * 3, 13));
  embeddingBag(table, indexTensor([4, 1, 1]), { lengths: indexTensor([1, 2]) }).backward(d1);
  embeddingBag(table, indexTensor([1, 2]), { lengths: indexTensor([2]) }, { mode: "mean" }).backward(d2);
  // by hand: row 4 gets d1[0]; row 1 gets 2·d1[1] + d2/2; row 2 gets d2/2
  const expected = new Float64Array(15);
  for (let e = 0; e < 3; e++) {
    expected[4 * 3 + e] = d1[e] as number;
    expected[1 * 3 + e] = 2 * (d1[3 + e] as number) + (d2[e] as number) / 2;
    expected[2 * 3 + e] = (d2[e] as number) / 2;
  }
  assert.equal(Array.from(table.rowGrad?.ids ?? []), [1, 2, 4]);
  assertClose(denseGradient(table), expected, { atol: 1e-12, rtol: 0 }); // float64: atol 1e-12
});

test("only inputs that require a gradient get one; float64 in gives float64 out", () => {
  const table = fromArray(
    [
      [1, 2],
      [3, 4],
    ],
    undefined,
    { dtype: "float64" },
  );
  const w = fromArray([2, 3], undefined, { dtype: "float64", requiresGrad: true });
  const out = embeddingBag(table, indexTensor([1, 1]), { lengths: indexTensor([2]) }, { perSampleWeights: w });
  assert.is(out.dtype, "float64");
  assert.equal(out.toArray(), [[15, 20]]); // 2·[3, 4] + 3·[3, 4]
  out.backward(new Float64Array([1, 1]));
  assert.is(table.rowGrad, null);
  assert.is(table.grad, null);
  assert.equal(Array.from(w.grad ?? []), [7, 7]); // <[3, 4], [1, 1]>
});

test("bad input: an out-of-range id names the table, the id, the row count and the bag", () => {
  const table = fromArray(randomValues(10, 1), [5, 2]);
  const bags = { lengths: indexTensor([1, 2]) };
  assertThrows(
    () => embeddingBag(table, indexTensor([0, 3, 7]), bags, { table: "table 3" }),
    /^embeddingBag: index 7 out of range for table 3 with 5 rows \(bag 1\)$/,
  );
  assertThrows(
    () => embeddingBag(table, indexTensor([-1, 0, 0]), bags),
    /^embeddingBag: index -1 out of range for table with 5 rows \(bag 0\)$/,
  );
  assertThrows(
    () => embeddingBag(table, indexTensor([0, 0, 5]), bags),
    /index 5 out of range for table with 5 rows \(bag 1\)/,
  );
});

test("bad input: negative lengths and lengths that do not sum to L", () => {
  const table = fromArray(randomValues(10, 1), [5, 2]);
  const idx = indexTensor([0, 1, 2]);
  assertThrows(
    () => embeddingBag(table, idx, { lengths: indexTensor([4, -1]) }),
    /^embeddingBag: lengths\[1\] is -1; a bag length must be non-negative$/,
  );
  assertThrows(
    () => embeddingBag(table, idx, { lengths: indexTensor([2, 2]) }),
    /^embeddingBag: lengths sum to 4 but indices holds L = 3 lookups — lengths is \(2,\), indices is \(3,\)$/,
  );
});

test("bad input: offsets not starting at 0, decreasing, not ending at L, or empty", () => {
  const table = fromArray(randomValues(10, 1), [5, 2]);
  const idx = indexTensor([0, 1, 2]);
  const run = (o: number[]): unknown => embeddingBag(table, idx, { offsets: indexTensor(o) });
  assertThrows(() => run([1, 2, 3]), /^embeddingBag: offsets\[0\] must be 0, got 1$/);
  assertThrows(
    () => run([0, 2, 1, 3]),
    /^embeddingBag: offsets must be non-decreasing, but offsets\[2\] = 1 < offsets\[1\] = 2$/,
  );
  assertThrows(
    () => run([0, 1, 2]),
    /^embeddingBag: offsets\[B\] must equal the number of lookups L = 3, got 2 — offsets is \(3,\), indices is \(3,\)$/,
  );
  assertThrows(() => run([]), /^embeddingBag: offsets must hold B\+1 >= 1 entries .* — offsets is \(0,\)$/);
});

// JavaScript callers have no type checker: bad-type cases call through an untyped signature.
const untyped = embeddingBag as (table: Tensor, indices: unknown, bags: unknown, opts?: unknown) => Tensor;

test("bad input: weights of the wrong length, mixed dtypes, bad mode, table not 2-D", () => {
  const table = fromArray(randomValues(10, 1), [5, 2]);
  const idx = indexTensor([0, 1, 2]);
  const bags = { lengths: indexTensor([3]) };
  assertThrows(
    () => embeddingBag(table, idx, bags, { perSampleWeights: fromArray([1, 2]) }),
    /^embeddingBag: perSampleWeights must be \(L,\) with one weight per lookup, L = 3 — perSampleWeights is \(2,\), indices is \(3,\)$/,
  );
  assertThrows(
    () => embeddingBag(table, idx, bags, { perSampleWeights: fromArray([1, 2, 3], undefined, { dtype: "float64" }) }),
    /^embeddingBag: inputs must share a dtype — table is float32, perSampleWeights is float64$/,
  );
  assertThrows(
    () => untyped(table, idx, bags, { mode: "max" }),
    /^embeddingBag: mode must be "sum" or "mean", got "max"$/,
  );
  assertThrows(
    () => embeddingBag(fromArray([1, 2, 3]), idx, bags),
    /^embeddingBag: table must be 2-D, got 1-D — table is \(3,\)$/,
  );
});

test("bad input: a float tensor as indices, offsets or lengths, and malformed bags", () => {
  const table = fromArray(randomValues(10, 1), [5, 2]);
  const idx: IndexTensor = indexTensor([0, 1]);
  assertThrows(
    () => untyped(table, fromArray([0, 1]), { lengths: indexTensor([2]) }),
    /^embeddingBag: indices must be an IndexTensor of int32 ids, got Tensor$/,
  );
  assertThrows(
    () => untyped(table, idx, { lengths: fromArray([2]) }),
    /^embeddingBag: lengths must be an IndexTensor of int32 ids, got Tensor$/,
  );
  assertThrows(
    () => untyped(table, idx, { offsets: fromArray([0, 2]) }),
    /^embeddingBag: offsets must be an IndexTensor of int32 ids, got Tensor$/,
  );
  assertThrows(
    () => untyped(table, idx, {}),
    /^embeddingBag: bags must hold exactly one of offsets \(B\+1,\) or lengths \(B,\), got neither$/,
  );
  assertThrows(() => untyped(table, idx, { offsets: indexTensor([0, 2]), lengths: indexTensor([2]) }), /got both$/);
  assertThrows(
    () => untyped(table, indexTensor([0, 1], [1, 2]), { lengths: indexTensor([2]) }),
    /^embeddingBag: indices must be 1-D, got 2-D — indices is \(1, 2\)$/,
  );
});

test.run();
