// The small DLRM that the tests of tables spread over several wasm memories share: 8 tables of
// 100 to 400 rows × 8, so that a per-memory cap of the largest table's bytes with its optimizer
// state (DLRM_TABLE_MEMORY_BYTES) puts it, and each of the others, in a memory of its own or
// shares one between smaller ones.

import type { DLRMConfig } from "../../src/dlrm/config.ts";

export const SPREAD_TABLES_CONFIG = {
  dense_features: 4,
  bottom_mlp: [4, 8, 8],
  embedding_dim: 8,
  table_sizes: [400, 400, 300, 300, 200, 200, 100, 100],
  pooling: "sum",
  interaction: "dot",
  interaction_itself: false,
  top_mlp: [44, 8, 1],
  loss: "bce",
} as DLRMConfig;
