// Shared by the hybrid-parallel tests: a small DLRM config, and random data whose bags vary
// in length from empty to maxBag, with per-sample weights on chosen tables.
//
// Glossary: N samples, Dd dense features, R rows of a table, E embedding dim.

import { offsetsFromLengths, type Dataset } from "../../src/data/dataset.ts";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { interactionWidth } from "../../src/ops/interaction.ts";
import { Rng } from "../../src/tensor/rng.ts";

export function smallConfig(o: {
  tables: number[];
  E: number;
  pooling: "sum" | "mean";
  interaction: "dot" | "cat";
  self?: boolean;
  loss?: "bce" | "mse";
}): DLRMConfig {
  const self = o.self ?? false;
  const W = interactionWidth(o.E, o.tables.length, o.interaction, self);
  return parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 8, o.E],
    embedding_dim: o.E,
    table_sizes: o.tables,
    pooling: o.pooling,
    interaction: o.interaction,
    interaction_itself: self,
    top_mlp: [W, 6, 1],
    loss: o.loss ?? "bce",
  });
}

/** Bags of 0 .. maxBag lookups (uniform), ids uniform over each table, weights in [0.5, 1.5) where asked. */
export function bagsDataset(o: { n: number; denseFeatures: number; tableSizes: readonly number[]; maxBag: number; weighted: readonly boolean[]; seed: number }): Dataset {
  const rng = new Rng(o.seed);
  const dense = new Float32Array(o.n * o.denseFeatures);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const labels = new Float32Array(o.n);
  for (let i = 0; i < o.n; i++) labels[i] = rng.uniform() < 0.5 ? 0 : 1;
  const sparse = o.tableSizes.map((R, t) => {
    const lengths = new Int32Array(o.n);
    for (let i = 0; i < o.n; i++) lengths[i] = rng.int(o.maxBag + 1);
    const offsets = offsetsFromLengths(lengths);
    const indices = new Int32Array(offsets[o.n] as number);
    for (let l = 0; l < indices.length; l++) indices[l] = rng.int(R);
    let weights: Float32Array | null = null;
    if (o.weighted[t] === true) {
      weights = new Float32Array(indices.length);
      for (let l = 0; l < weights.length; l++) weights[l] = rng.uniformIn(0.5, 1.5);
    }
    return { lengths, offsets, indices, weights };
  });
  return { n: o.n, denseFeatures: o.denseFeatures, dense, labels, sparse };
}
