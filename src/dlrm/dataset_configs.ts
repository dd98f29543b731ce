// The built-in models for real data sets: what `dlrm train --data movielens:<dir>` and
// `--data criteo:<files>` train when no --model is given. The table sizes come from the
// data (MovieLens's u.user and u.item, Criteo's dictionary); everything else is fixed here,
// with the number of passes over the data (epochs) that the run fields of a config cannot
// hold.
//
// Glossary: Dd dense features, E embedding dim, F tables, W interaction width.

import { parseConfig, type DLRMConfig } from "./config.ts";
import { interactionWidth } from "../ops/interaction.ts";

export interface BuiltinModel {
  config: DLRMConfig;
  /** Passes over the training data when neither --steps nor --epochs is given. */
  epochs: number;
  /** Adagrad's starting accumulator value (PyTorch's initial_accumulator_value), when the optimizer is adagrad. */
  adagradInitialAccumulator: number;
  /** Models trained from consecutive seeds whose predictions are averaged (1: a single model). */
  ensemble: number;
  /** Adagrad's weight decay per table (PyTorch's weight_decay, lazily on touched rows), or null for none. */
  tableWeightDecay: readonly number[] | null;
}

/**
 * MovieLens-100K (docs/results.md has the runs that chose it): E = 16, a small bottom MLP
 * for the 3 dense features, dot interaction, one hidden top layer, Adagrad at lr 0.05 with
 * its accumulators starting at 3e-6, batch 128, two epochs. The model overfits the user and
 * item rows after about two epochs (test AUC falls from the third on); lower learning rates,
 * lr decay, larger batches or more epochs all did worse on held-out data. The small
 * starting accumulator keeps Adagrad's first step on a coordinate from being ±lr whatever
 * its gradient (PyTorch starts at 0); it raised every split's mean AUC a little.
 */
export function movielensModel(tableSizes: readonly number[], denseFeatures: number): BuiltinModel {
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
    "built-in MovieLens config",
  );
  return { config, epochs: 2, adagradInitialAccumulator: 3e-6, ensemble: 1, tableWeightDecay: null };
}

/**
 * Criteo: the reference's Kaggle model (facebookresearch/dlrm bench/dlrm_s_criteo_kaggle.sh:
 * --arch-sparse-feature-size=16 --arch-mlp-bot=13-512-256-64-16 --arch-mlp-top=512-256-1,
 * bce, SGD at lr 0.1, mini-batch 128, one epoch).
 */
export function criteoModel(tableSizes: readonly number[], denseFeatures: number): BuiltinModel {
  const E = 16;
  const W = interactionWidth(E, tableSizes.length, "dot", false);
  const config = parseConfig(
    {
      dense_features: denseFeatures,
      bottom_mlp: [denseFeatures, 512, 256, 64, E],
      embedding_dim: E,
      table_sizes: [...tableSizes],
      pooling: "sum",
      interaction: "dot",
      interaction_itself: false,
      top_mlp: [W, 512, 256, 1],
      loss: "bce",
      optimizer: "sgd",
      lr: 0.1,
      batch_size: 128,
      steps: 1,
    },
    "built-in Criteo config",
  );
  return { config, epochs: 1, adagradInitialAccumulator: 0, ensemble: 1, tableWeightDecay: null };
}
