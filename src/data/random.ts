// The reference's random data (dlrm_data_pytorch.py generate_random_input_batch /
// generate_random_output_batch, with --round-targets): dense features uniform in [0, 1),
// per table a bag of lookups whose size is fixed or drawn, ids uniform over the table,
// and 0/1 labels.
//
// One deliberate difference: the reference de-duplicates each bag (np.unique), so a
// "fixed" bag size is not fixed (facebookresearch/dlrm#96). Here a bag has exactly the
// drawn number of lookups, repeats allowed, as an embedding bag allows.
//
// Sample i of a stream is drawn from its own generator (src/data/generated.ts), so any
// range of samples is made on its own.
//
// Glossary: N samples, Dd dense features, F tables, K max lookups per bag.

import type { Dataset } from "./dataset.ts";
import { drawSamples, STREAM, type SampleLayout } from "./generated.ts";

/** What random data is drawn from: the model's shapes, the bag flags, the seed. */
export interface RandomSpec {
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

export interface RandomDataOptions extends RandomSpec {
  n: number;
}

/** The sample layout of random data (also synthetic-trace's, before its ids are replaced). */
export function randomLayout(o: RandomSpec): SampleLayout {
  const K = o.numIndicesPerLookup;
  if (!Number.isInteger(K) || K < 0)
    throw new Error(`random data: --num-indices-per-lookup must be a non-negative integer, got ${K}`);
  return {
    denseFeatures: o.denseFeatures,
    tableSizes: o.tableSizes,
    maxBag: Math.max(1, K),
    bagLength: o.numIndicesPerLookupFixed
      ? () => K
      : (rng, R) => Math.max(1, Math.round(rng.uniform() * Math.min(R, K))),
    weights: o.perSampleWeights === true,
  };
}

/** Samples [first, first + n) of random data's stream `stream`: labels are round(u). */
export function randomSamples(o: RandomSpec, stream: number, first: number, n: number): Dataset {
  const { data, labelDraws } = drawSamples(randomLayout(o), o.seed, stream, first, n);
  for (let i = 0; i < n; i++) data.labels[i] = Math.round(labelDraws[i]);
  return data;
}

/** The first n samples of random data's training stream. */
export function randomDataset(o: RandomDataOptions): Dataset {
  return randomSamples(o, STREAM.train, 0, o.n);
}
