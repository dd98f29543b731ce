// The model `dlrm preprocess csv` derives for a user's own data: one embedding table per
// categorical column, sized by its vocabulary (or hash buckets), and a bottom MLP over the
// dense columns; everything else is the configuration that trains MovieLens-100K's single
// model well (docs/results.md, "The single model"), a small DLRM that suits click logs of
// thousands to millions of rows: E = 16, dot interaction, one hidden top layer, Adagrad at
// lr 0.05 with a small starting accumulator, batch 128, two epochs.
//
// Glossary: Dd dense features, E embedding dim, F tables, W interaction width.

import { parseConfig } from "./config.ts";
import type { BuiltinModel } from "./dataset_configs.ts";
import { interactionWidth } from "../ops/interaction.ts";

export function tabularModel(tableSizes: readonly number[], denseFeatures: number): BuiltinModel {
  const E = 16;
  const W = interactionWidth(E, tableSizes.length, "dot", false);
  const config = parseConfig(
    {
      dense_features: denseFeatures,
      bottom_mlp: [denseFeatures, 32, E],
      embedding_dim: E,
      table_sizes: [...tableSizes],
      pooling: "sum",
      interaction: "dot",
      interaction_itself: false,
      top_mlp: [W, 16, 1],
      loss: "bce",
      optimizer: "adagrad",
      lr: 0.05,
      batch_size: 128,
      steps: 1,
    },
    "the model of dlrm preprocess csv",
  );
  return { config, epochs: 2, adagradInitialAccumulator: 3e-6, ensemble: 1, tableWeightDecay: null };
}
