// The reference's random data (dlrm_data_pytorch.py generate_random_input_batch /
// generate_random_output_batch, with --round-targets): dense features uniform in [0, 1),
// per table a bag of lookups whose size is fixed or drawn, ids uniform over the table,
// and 0/1 labels.
//
// One deliberate difference: the reference de-duplicates each bag (np.unique), so a
// "fixed" bag size is not fixed (facebookresearch/dlrm#96). Here a bag has exactly the
// drawn number of lookups, repeats allowed, as an embedding bag allows.
//
// Glossary: N samples, Dd dense features, F tables, K max lookups per bag.

import { offsetsFromLengths, type Dataset } from "./dataset.ts";
import { Rng } from "../tensor/rng.ts";

export interface RandomDataOptions {
  n: number;
  denseFeatures: number;
  tableSizes: readonly number[];
  /** K: lookups per bag (fixed) or the maximum (variable). */
  numIndicesPerLookup: number;
  /** Every bag has exactly K lookups; otherwise max(1, round(u · min(R, K))) like the reference. */
  numIndicesPerLookupFixed: boolean;
  seed: number;
  /** Draw a per-lookup weight uniform in [0, 1) for every lookup. */
  perSampleWeights?: boolean;
}

/** Elements of the largest typed array. */
const MAX_ARRAY = 2 ** 32;

export function randomDataset(o: RandomDataOptions): Dataset {
  if (!Number.isInteger(o.n) || o.n < 0) throw new Error(`random data: n must be a non-negative integer, got ${o.n}`);
  if (!Number.isInteger(o.numIndicesPerLookup) || o.numIndicesPerLookup < 0) {
    throw new Error(
      `random data: --num-indices-per-lookup must be a non-negative integer, got ${o.numIndicesPerLookup}`,
    );
  }
  if (o.n * o.denseFeatures > MAX_ARRAY) {
    throw new Error(
      `random data: ${o.n} samples (--data-size) × ${o.denseFeatures} dense features (dense_features) are ${o.n * o.denseFeatures} values, more than one array holds (${MAX_ARRAY})`,
    );
  }
  const rng = new Rng(o.seed);
  const dense = new Float32Array(o.n * o.denseFeatures);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const sparse = o.tableSizes.map((R) => {
    const lengths = new Int32Array(o.n);
    for (let i = 0; i < o.n; i++) {
      lengths[i] = o.numIndicesPerLookupFixed
        ? o.numIndicesPerLookup
        : Math.max(1, Math.round(rng.uniform() * Math.min(R, o.numIndicesPerLookup)));
    }
    const offsets = offsetsFromLengths(lengths);
    const indices = new Int32Array(offsets[o.n]);
    for (let l = 0; l < indices.length; l++) indices[l] = rng.int(R);
    let weights: Float32Array | null = null;
    if (o.perSampleWeights === true) {
      weights = new Float32Array(indices.length);
      for (let l = 0; l < weights.length; l++) weights[l] = rng.uniform();
    }
    return { lengths, offsets, indices, weights };
  });
  const labels = new Float32Array(o.n);
  for (let i = 0; i < o.n; i++) labels[i] = Math.round(rng.uniform());
  return { n: o.n, denseFeatures: o.denseFeatures, dense, labels, sparse };
}
