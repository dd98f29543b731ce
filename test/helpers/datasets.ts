// Datasets for tests of the batch format: an arbitrary of small datasets (empty bags, N = 0, no
// tables, with and without weights) and an equality check whose offsets are prefix sums
// written out here, independent of the code under test.
//
// Glossary: N samples, Dd dense features, F tables, L_t lookups of table t.

import * as assert from "uvu/assert";
import fc from "fast-check";
import type { Dataset, SparseFeature } from "../../src/data/dataset.ts";

/** Prefix sums written out here, independent of the code under test. */
export function prefixSums(lengths: ArrayLike<number>): number[] {
  const out = [0];
  for (let i = 0; i < lengths.length; i++) out.push((out[i] as number) + (lengths[i] as number));
  return out;
}

export function sameDataset(a: Dataset, b: Dataset): void {
  assert.is(a.n, b.n, "n");
  assert.is(a.denseFeatures, b.denseFeatures, "denseFeatures");
  assert.equal(Array.from(a.dense), Array.from(b.dense), "dense");
  assert.equal(Array.from(a.labels), Array.from(b.labels), "labels");
  assert.is(a.sparse.length, b.sparse.length, "tables");
  a.sparse.forEach((f, t) => {
    const g = b.sparse[t] as SparseFeature;
    assert.equal(Array.from(f.lengths), Array.from(g.lengths), `lengths.${t}`);
    assert.equal(Array.from(f.offsets), prefixSums(g.lengths), `offsets.${t}`);
    assert.equal(Array.from(f.indices), Array.from(g.indices), `indices.${t}`);
    assert.equal(
      f.weights === null ? null : Array.from(f.weights),
      g.weights === null ? null : Array.from(g.weights),
      `weights.${t}`,
    );
  });
}

/** `got` holds samples [start, end) of `all`, whose bags are single lookups (Criteo's rows: one id per table). */
export function sameRows(got: Dataset, all: Dataset, start: number, end: number): void {
  const D = all.denseFeatures;
  assert.equal(Array.from(got.labels), Array.from(all.labels.subarray(start, end)), "labels");
  assert.equal(Array.from(got.dense), Array.from(all.dense.subarray(start * D, end * D)), "dense");
  got.sparse.forEach((f, t) =>
    assert.equal(Array.from(f.indices), Array.from(all.sparse[t]?.indices.subarray(start, end) ?? []), `indices.${t}`),
  );
}

/** Datasets of at most 6 samples, 3 dense features and 3 tables. */
export const datasetArb: fc.Arbitrary<Dataset> = fc
  .record({
    n: fc.integer({ min: 0, max: 6 }),
    dd: fc.integer({ min: 0, max: 3 }),
    tables: fc.integer({ min: 0, max: 3 }),
  })
  .chain(({ n, dd, tables }) => {
    const f32 = fc.float({ noNaN: true });
    const feature = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }).chain((lens) => {
      const L = lens.reduce((a, b) => a + b, 0);
      return fc.record({
        lengths: fc.constant(Int32Array.from(lens)),
        offsets: fc.constant(Int32Array.from(prefixSums(lens))),
        indices: fc
          .array(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { minLength: L, maxLength: L })
          .map((v) => Int32Array.from(v)),
        weights: fc.option(fc.array(f32, { minLength: L, maxLength: L }).map((v) => Float32Array.from(v))),
      });
    });
    return fc.record({
      n: fc.constant(n),
      denseFeatures: fc.constant(dd),
      dense: fc.array(f32, { minLength: n * dd, maxLength: n * dd }).map((v) => Float32Array.from(v)),
      labels: fc.array(fc.constantFrom(0, 1), { minLength: n, maxLength: n }).map((v) => Float32Array.from(v)),
      sparse: fc.array(feature, { minLength: tables, maxLength: tables }),
    });
  });
