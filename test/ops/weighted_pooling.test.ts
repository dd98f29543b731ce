// Learned weighted pooling at the op level: gatherRowWeights (one weight per lookup from a
// (R,) vector of per-row weights) feeding embeddingBag's perSampleWeights, as the reference's
// apply_emb does (`v_W_l[k].gather(0, ids)` into EmbeddingBag). Forward against a float64
// definition, both gradients (the table's and the row weights') against central differences,
// the row weights' gradient row-sparse on the touched rows only, and bad ids.
//
// Glossary: R table rows, E embedding dim, B bags, L lookups, v the (R,) row weights.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { embeddingBag, gatherRowWeights } from "../../src/ops/embedding_bag.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { fromArray, indexTensor, type Tensor } from "../../src/tensor/tensor.ts";
import { assertThrows, checkOp } from "../../src/testing/index.ts";

/** Pooling with weights v[ids[l]], written from the definition: out[b] = s_b Σ_l v[ids[l]] · table[ids[l]]. */
function refWeightedPool(
  table: Float64Array,
  v: Float64Array,
  E: number,
  ids: readonly number[],
  offsets: readonly number[],
  mode: "sum" | "mean",
): Float64Array {
  const B = offsets.length - 1;
  const out = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    const n = (offsets[b + 1] as number) - (offsets[b] as number);
    const scale = mode === "mean" && n > 0 ? 1 / n : 1;
    for (let l = offsets[b] as number; l < (offsets[b + 1] as number); l++) {
      const r = ids[l] as number;
      for (let e = 0; e < E; e++) out[b * E + e] += scale * (v[r] as number) * (table[r * E + e] as number);
    }
  }
  return out;
}

const bagCase = fc.record({
  R: fc.integer({ min: 1, max: 6 }),
  E: fc.integer({ min: 1, max: 4 }),
  lengths: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 5 }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

for (const mode of ["sum", "mean"] as const) {
  test(`property (${mode}): pooling with gathered row weights vs float64, gradients of table and row weights vs central differences`, () => {
    fc.assert(
      fc.property(bagCase, (c) => {
        const rng = new Rng(c.seed);
        const L = c.lengths.reduce((s, n) => s + n, 0);
        const ids = Array.from({ length: L }, () => rng.int(c.R)); // small R: repeated ids are common
        const offsets = [0];
        for (const n of c.lengths) offsets.push((offsets[offsets.length - 1] as number) + n);
        const table = Array.from({ length: c.R * c.E }, () => rng.uniformIn(-1, 1));
        const v = Array.from({ length: c.R }, () => rng.uniformIn(0.5, 1.5));
        const idx = indexTensor(ids);
        checkOp({
          inputs: [
            { data: table, shape: [c.R, c.E] },
            { data: v, shape: [c.R] },
          ],
          op: (t: Tensor, w: Tensor) =>
            embeddingBag(
              t,
              idx,
              { offsets: indexTensor(offsets) },
              { mode, perSampleWeights: gatherRowWeights(w, idx) },
            ),
          ref: (t: Float64Array, w: Float64Array) => refWeightedPool(t, w, c.E, ids, offsets, mode),
          // sums of <= 4 products of size <= 1.5: float32 rounding well inside these
          forward: { atol: 1e-5, rtol: 1e-5 },
          backward: { atol: 1e-5, rtol: 1e-4 },
          seed: c.seed,
        });
      }),
      { seed: mode === "sum" ? 201 : 202, numRuns: 60 },
    );
  });
}

test("the row weights' gradient is row-sparse: the touched rows once each, ascending, with summed gradients", () => {
  const v = fromArray([1, 2, 3, 4, 5], [5], { requiresGrad: true });
  const idx = indexTensor([3, 1, 3, 3]);
  const w = gatherRowWeights(v, idx);
  assert.equal([...w.data], [4, 2, 4, 4]);
  w.backward(Float32Array.from([0.5, 1, 2, 4]));
  assert.is(v.grad, null, "no dense (R,) gradient");
  const rg = v.rowGrad;
  assert.ok(rg !== null);
  assert.equal([...rg.ids], [1, 3]);
  assert.equal([...rg.values], [1, 6.5]); // row 3: 0.5 + 2 + 4
  assert.is(rg.cols, 1);
});

test("bad input: an id out of the row weights' range, and a row-weight tensor that is not a vector", () => {
  assertThrows(
    () => gatherRowWeights(fromArray([1, 1, 1]), indexTensor([0, 3]), { table: "table 2" }),
    /^gatherRowWeights: index 3 \(lookup 1\) out of range for the 3 row weights of table 2$/,
  );
  assertThrows(
    () => gatherRowWeights(fromArray([[1], [1]]), indexTensor([0])),
    /^gatherRowWeights: rowWeights must be 1-D, got 2-D/,
  );
});

test.run();
