// dotInteraction / catInteraction / interactionWidth: forward against naive float64
// references and hand calculations, every input gradient against float64 central
// differences, the reference's bmm + lower-triangle-gather formulation, and bad input.
//
// Glossary: B batch, E embedding dim, K tables (embs), F = K + 1 features.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { catInteraction, dotInteraction, interactionWidth } from "../../src/ops/interaction.ts";
import { fromArray, type Tensor } from "../../src/tensor/tensor.ts";
import { assertClose, assertThrows, checkOp, randomValues } from "../../src/testing/index.ts";

interface Case {
  B: number;
  E: number;
  K: number;
  seed: number;
  bottomGrad: boolean;
}

const interactionCase: fc.Arbitrary<Case> = fc.record({
  B: fc.integer({ min: 1, max: 4 }),
  E: fc.integer({ min: 1, max: 5 }),
  K: fc.integer({ min: 0, max: 4 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  bottomGrad: fc.boolean(),
});
const examples: [Case][] = [
  [{ B: 1, E: 1, K: 0, seed: 1, bottomGrad: true }], // F = 1: no pairs without self
  [{ B: 1, E: 1, K: 3, seed: 2, bottomGrad: true }],
  [{ B: 3, E: 4, K: 2, seed: 3, bottomGrad: false }],
];

/** F feature arrays (B, E): bottom first, then the embs. */
function features(c: Case): number[][] {
  return Array.from({ length: c.K + 1 }, (_, k) => randomValues(c.B * c.E, c.seed * 31 + k));
}

/** Naive dot interaction from the definition: bottom, then <T_i, T_j> for j < i (j <= i). */
function refDot(T: ArrayLike<number>[], B: number, E: number, self: boolean): Float64Array {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let e = 0; e < E; e++) out.push(T[0]?.[b * E + e] as number);
    for (let i = 0; i < T.length; i++) {
      for (let j = 0; j < (self ? i + 1 : i); j++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += (T[i]?.[b * E + e] as number) * (T[j]?.[b * E + e] as number);
        out.push(s);
      }
    }
  }
  return Float64Array.from(out);
}

/** Naive concatenation: each row is T_0[b], T_1[b], … */
function refCat(T: ArrayLike<number>[], B: number, E: number): Float64Array {
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (const t of T) for (let e = 0; e < E; e++) out.push(t[b * E + e] as number);
  return Float64Array.from(out);
}

/**
 * The reference implementation's way: Z = bmm(T, Tᵀ) as (B, F, F), then gather Z[:, li, lj]
 * over index lists built i-major (j < i, or j <= i with self), and concat after bottom.
 */
function bmmGather(T: ArrayLike<number>[], B: number, E: number, self: boolean): Float64Array {
  const F = T.length;
  const Z = new Float64Array(B * F * F); // (B, F, F)
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < F; i++) {
      for (let j = 0; j < F; j++) {
        let s = 0;
        for (let e = 0; e < E; e++) s += (T[i]?.[b * E + e] as number) * (T[j]?.[b * E + e] as number);
        Z[(b * F + i) * F + j] = s;
      }
    }
  }
  const li: number[] = [];
  const lj: number[] = [];
  for (let i = 0; i < F; i++) {
    for (let j = 0; j < i + (self ? 1 : 0); j++) {
      li.push(i);
      lj.push(j);
    }
  }
  const W = E + li.length;
  const out = new Float64Array(B * W);
  for (let b = 0; b < B; b++) {
    for (let e = 0; e < E; e++) out[b * W + e] = T[0]?.[b * E + e] as number;
    for (let p = 0; p < li.length; p++)
      out[b * W + E + p] = Z[(b * F + (li[p] as number)) * F + (lj[p] as number)] as number;
  }
  return out;
}

// float32 op vs float64 reference: dots of <= 5 products of values in [-1, 1], so forward
// atol 1e-5 + rtol 1e-5; gradients atol 1e-5 + rtol 1e-4 (the reference is quadratic, so
// central differences have no truncation error, only rounding).
const TOL = { forward: { atol: 1e-5, rtol: 1e-5 }, backward: { atol: 1e-5, rtol: 1e-4 } };

for (const self of [false, true]) {
  test(`property (dot, self=${self}): forward vs float64 reference, every gradient vs central differences`, () => {
    fc.assert(
      fc.property(interactionCase, (c) => {
        const T = features(c);
        checkOp({
          inputs: T.map((data, k) => ({ data, shape: [c.B, c.E], grad: k > 0 || c.bottomGrad })),
          op: (bottom: Tensor, ...embs: Tensor[]) => dotInteraction(bottom, embs, { self }),
          ref: (...xs: Float64Array[]) => refDot(xs, c.B, c.E, self),
          ...TOL,
          seed: c.seed,
        });
      }),
      { seed: self ? 202 : 201, numRuns: 60, examples },
    );
  });
}

test("property (cat): forward vs float64 reference, every gradient vs central differences", () => {
  fc.assert(
    fc.property(interactionCase, (c) => {
      const T = features(c);
      checkOp({
        inputs: T.map((data, k) => ({ data, shape: [c.B, c.E], grad: k > 0 || c.bottomGrad })),
        op: (bottom: Tensor, ...embs: Tensor[]) => catInteraction(bottom, embs),
        ref: (...xs: Float64Array[]) => refCat(xs, c.B, c.E),
        ...TOL,
        seed: c.seed,
      });
    }),
    { seed: 203, numRuns: 50, examples },
  );
});

test("property: dot interaction equals bmm(T, Tᵀ) followed by the lower-triangle gather", () => {
  fc.assert(
    fc.property(interactionCase, fc.boolean(), (c, self) => {
      const T = features(c);
      const ts = T.map((data) => fromArray(data, [c.B, c.E], { dtype: "float64" }));
      const out = dotInteraction(ts[0] as Tensor, ts.slice(1), { self });
      const expected = bmmGather(T, c.B, c.E, self);
      assert.equal(out.shape, [c.B, interactionWidth(c.E, c.K, "dot", self)]);
      // float64 both ways, same products summed in the same order: atol 1e-12
      assertClose(out.data, expected, { atol: 1e-12, rtol: 0 });
    }),
    { seed: 204, numRuns: 60 },
  );
});

test("hand-computed: dot layout is bottom, then pairs i-major; with self the diagonal joins", () => {
  const bottom = fromArray([[1, 2]]);
  const embs = [fromArray([[3, 4]]), fromArray([[5, 6]])];
  // <T1,T0> = 11, <T2,T0> = 17, <T2,T1> = 39; diagonal: |T0|² = 5, |T1|² = 25, |T2|² = 61
  assert.equal(dotInteraction(bottom, embs).toArray(), [[1, 2, 11, 17, 39]]);
  assert.equal(dotInteraction(bottom, embs, { self: true }).toArray(), [[1, 2, 5, 11, 25, 17, 39, 61]]);
  assert.equal(catInteraction(bottom, embs).toArray(), [[1, 2, 3, 4, 5, 6]]);
});

test("hand-computed: dot gradient goes to both operands of a pair, twice on the diagonal", () => {
  const bottom = fromArray([[1, 2]], undefined, { requiresGrad: true });
  const emb = fromArray([[3, 4]], undefined, { requiresGrad: true });
  // out = [1, 2, |b|², <e,b>, |e|²]; upstream [0, 1, 1, 1, 1]
  const out = dotInteraction(bottom, [emb], { self: true });
  out.backward(new Float32Array([0, 1, 1, 1, 1]));
  // d/db = [0, 1] + 2b + e = [0, 1] + [2, 4] + [3, 4]; d/de = b + 2e = [1, 2] + [6, 8]
  assert.equal(Array.from(bottom.grad ?? []), [5, 9]);
  assert.equal(Array.from(emb.grad ?? []), [7, 10]);
});

test("the same tensor passed as several features gets all their gradients", () => {
  const x = randomValues(6, 7);
  // float32 op: atol 1e-5 + rtol 1e-4 as above
  checkOp({
    inputs: [{ data: x, shape: [2, 3] }],
    op: (t: Tensor) => dotInteraction(t, [t, t], { self: true }),
    ref: (t: Float64Array) => refDot([t, t, t], 2, 3, true),
    ...TOL,
  });
});

test("interactionWidth: the Criteo Kaggle shapes by hand, and it matches the outputs", () => {
  // E = 16, 26 tables: F = 27, 16 + 27·26/2 = 367 (no self), 16 + 27·28/2 = 394, cat 16·27 = 432
  assert.is(interactionWidth(16, 26, "dot", false), 367);
  assert.is(interactionWidth(16, 26, "dot", true), 394);
  assert.is(interactionWidth(16, 26, "cat", false), 432);
  assert.is(interactionWidth(4, 0, "dot", false), 4);
  assert.is(interactionWidth(4, 0, "dot", true), 5);
  const bottom = fromArray(randomValues(6, 1), [2, 3]);
  const embs = [1, 2, 3, 4].map((k) => fromArray(randomValues(6, k + 1), [2, 3]));
  assert.is(dotInteraction(bottom, embs).shape[1], interactionWidth(3, 4, "dot", false));
  assert.is(dotInteraction(bottom, embs, { self: true }).shape[1], interactionWidth(3, 4, "dot", true));
  assert.is(catInteraction(bottom, embs).shape[1], interactionWidth(3, 4, "cat", false));
});

test("float64 in gives float64 out; mixed dtypes are rejected", () => {
  const b64 = fromArray([[1, 2]], undefined, { dtype: "float64" });
  assert.is(dotInteraction(b64, [b64]).dtype, "float64");
  assert.is(catInteraction(b64, [b64]).dtype, "float64");
  assertThrows(
    () => dotInteraction(b64, [fromArray([[1, 2]])]),
    /^dotInteraction: inputs must share a dtype — bottom is float64, embs\[0\] is float32$/,
  );
});

test("bad input: mismatched batch size or embedding dim, wrong rank, bad width arguments", () => {
  const bottom = fromArray(randomValues(8, 1), [4, 2]);
  const ok = fromArray(randomValues(8, 2), [4, 2]);
  assertThrows(
    () => dotInteraction(bottom, [ok, fromArray(randomValues(6, 3), [3, 2])]),
    /^dotInteraction: batch sizes differ: bottom has B = 4, embs\[1\] has 3 — bottom is \(4, 2\), embs\[1\] is \(3, 2\)$/,
  );
  assertThrows(
    () => catInteraction(bottom, [fromArray(randomValues(12, 3), [4, 3])]),
    /^catInteraction: embedding dims differ: bottom has E = 2, embs\[0\] has 3 — bottom is \(4, 2\), embs\[0\] is \(4, 3\)$/,
  );
  assertThrows(
    () => dotInteraction(fromArray([1, 2]), [ok]),
    /^dotInteraction: bottom must be 2-D, got 1-D — bottom is \(2,\)$/,
  );
  assertThrows(
    () => catInteraction(bottom, [fromArray(randomValues(8, 3), [4, 2, 1])]),
    /^catInteraction: embs\[0\] must be 2-D, got 3-D/,
  );
  assertThrows(
    () => interactionWidth(16, -1, "dot", false),
    /^interactionWidth: numTables must be a non-negative integer, got -1$/,
  );
  const untypedWidth = interactionWidth as (E: number, numTables: number, op: string, self: boolean) => number;
  assertThrows(() => untypedWidth(16, 2, "sum", false), /^interactionWidth: op must be "dot" or "cat", got "sum"$/);
});

test.run();
