// Learned weighted pooling (the config's weighted_pooling "learned", the reference's
// --weighted-pooling learned): a plain table gets one more parameter, v_W_l.{t} (R,), ones
// at first; row r's lookups are scaled by v_W_l.{t}[r] before pooling (src/dlrm/tables/
// pool.ts gathers them at the bag's ids, as the reference's apply_emb does). It belongs to
// the piece (EmbeddingPiece.poolingWeight), so it lives wherever the piece does, split by the
// same rows. Weighted pooling excludes QR and MD (parseConfig).

import type { EmbeddingPiece, InitRule, ParameterSpec } from "./piece.ts";

/** The state_dict name of table t's learned per-row pooling weights (the reference's ParameterList v_W_l). */
export function poolingWeightName(t: number): string {
  return `v_W_l.${t}`;
}

/** The initial value of every learned pooling weight: one, as the reference's torch.ones(n). */
export const POOLING_WEIGHT_INIT: InitRule = { kind: "constant", value: 1 };

/** The pooling weights of a piece as a parameter, or null when it has none. */
export function poolingWeightSpec(p: EmbeddingPiece): ParameterSpec | null {
  return p.poolingWeight === null ? null : { name: p.poolingWeight, shape: [p.rows], init: POOLING_WEIGHT_INIT };
}
