// The built-in model: what `npm start` and `dlrm train` without --model train. Sized so
// that one epoch over the default synthetic data takes well under a minute on two cores,
// with tables large enough that the embeddings, not only the dense features, must be learnt.

import { parseConfig, type DLRMConfig } from "./config.ts";

export function defaultConfig(): DLRMConfig {
  const tables = [20, 50, 100, 200, 500, 1000, 2000, 5000];
  const E = 16;
  const F = tables.length + 1;
  return parseConfig(
    {
      dense_features: 13,
      bottom_mlp: [13, 64, E],
      embedding_dim: E,
      table_sizes: tables,
      pooling: "sum",
      interaction: "dot",
      interaction_itself: false,
      top_mlp: [E + (F * (F - 1)) / 2, 64, 1],
      loss: "bce",
      optimizer: "sgd",
      lr: 0.1,
      batch_size: 128,
      steps: 3000,
      bag_size: [1, 1],
      index_dtype: "int32",
      per_sample_weights: false,
    },
    "built-in default config",
  );
}
