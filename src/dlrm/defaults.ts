// The built-in model: what `npm start` and `dlrm train` without --model train. Sized so
// that `npm start` (one pass over steps × batch synthetic samples) takes about a minute on
// two cores, with tables large enough that the embeddings, not only the dense features,
// must be learnt. Adagrad rather than SGD: with the batch-mean loss, each embedding row's
// SGD step is divided by the batch size, and the rare rows of the large tables then barely
// move within a short run; Adagrad's per-coordinate steps learn them (measured on the
// synthetic data: SGD lr 0.5 reaches AUC ≈ 0.74, Adagrad lr 0.03 ≈ 0.80, teacher ≈ 0.86).

import { parseConfig, type DLRMConfig } from "./config.ts";

export function defaultConfig(): DLRMConfig {
  const tables = [10, 20, 50, 100, 200, 500, 1000, 2000];
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
      optimizer: "adagrad",
      lr: 0.03,
      batch_size: 256,
      steps: 6000,
      bag_size: [1, 1],
      index_dtype: "int32",
      per_sample_weights: false,
    },
    "built-in default config",
  );
}
