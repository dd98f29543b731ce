// The model `dlrm preprocess csv` derives for a user's own data: one embedding table per
// categorical column, sized by its vocabulary (or hash buckets), and a bottom MLP over the
// dense columns; everything else is the configuration that trains MovieLens-100K's single
// model well (docs/results.md, "The single model"; smallClickConfig), a small DLRM that suits
// click logs of thousands to millions of rows: E = 16, dot interaction, one hidden top layer,
// Adagrad at lr 0.05 with a small starting accumulator, batch 128, two epochs.
//
// Glossary: Dd dense features, F tables.

import { smallClickConfig, type BuiltinModel } from "./builtin_models.ts";

export function tabularModel(tableSizes: readonly number[], denseFeatures: number): BuiltinModel {
  const config = smallClickConfig(tableSizes, denseFeatures, "the model of dlrm preprocess csv");
  return { config, epochs: 2, adagradInitialAccumulator: 3e-6, ensemble: 1, tableWeightDecay: null };
}
