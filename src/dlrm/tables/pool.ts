// Pooling one piece of a table (src/dlrm/tables.ts) over a batch's bags: the one
// place that turns a table's ids into the piece's lookups, on one thread (DLRM.pool) and on
// a rank that holds the piece or a range of its rows (src/parallel/rank.ts).
//
// A batch's ids are checked once, on their way into the piece (pieceIds); what is derived
// from them reaches the ops as in range (idsBelow). A rank holding rows [lo, hi) of a piece
// pools only the lookups that fall in them, renumbered from 0 (rowRange); the owners' partial
// sums add up to the whole bag's pooled vector in the all-to-all (src/ops/all_to_all.ts). Mean
// pooling becomes a weighted sum with weight 1/|bag| (the whole bag's length) for that.
//
// Glossary: B bags (samples), L lookups, R rows.

import type { SparseInput } from "../../data/batch.ts";
import { embeddingBag, gatherRowWeights } from "../../ops/embedding_bag.ts";
import { mul } from "../../ops/elementwise.ts";
import { allocFloat, allocInt32 } from "../../tensor/storage.ts";
import { IndexTensor, Tensor } from "../../tensor/tensor.ts";
import type { FloatArray } from "../../tensor/types.ts";
import { pieceIds, type EmbeddingPiece } from "./piece.ts";

/** Rows [rowStart, rowEnd) of a piece. */
export interface RowRange {
  rowStart: number;
  rowEnd: number;
}

/**
 * Pool a piece (weight: its rows, all or `rows` of them) over a batch's bags of its table:
 * (B, dim). With learned pooling weights rowWeights (the same rows), each lookup's weight is
 * rowWeights at its id, times the data's own per-sample weight when the batch has one.
 */
export function poolPiece(
  piece: EmbeddingPiece,
  weight: Tensor,
  rowWeights: Tensor | null,
  sparse: SparseInput,
  mode: "sum" | "mean",
  rows: RowRange | null = null,
): Tensor {
  const ids = pieceIds(piece, sparse.indices.data, sparse.offsets.data); // (L,) in [0, piece.rows)
  if (rows === null) {
    const indices = ids === sparse.indices.data ? sparse.indices : new IndexTensor(ids);
    const idsBelow = piece.rows;
    const perSampleWeights = lookupWeights(rowWeights, indices, sparse.weights, piece.label, idsBelow);
    const opts = { mode, perSampleWeights, table: piece.label, idsBelow };
    return embeddingBag(weight, indices, { offsets: sparse.offsets }, opts);
  }
  const label = `${piece.label} rows [${rows.rowStart}, ${rows.rowEnd})`;
  const dataWeights = sparse.weights === null ? null : sparse.weights.data;
  const f = rowRange(ids, sparse.offsets.data, dataWeights, rows, mode === "mean");
  const indices = new IndexTensor(f.indices); // ids within the rows, as their row weights are numbered
  const w = f.weights === null ? null : new Tensor(f.weights, [f.indices.length]);
  const idsBelow = rows.rowEnd - rows.rowStart;
  const perSampleWeights = lookupWeights(rowWeights, indices, w, label, idsBelow);
  const opts = { mode: "sum" as const, perSampleWeights, table: label, idsBelow };
  return embeddingBag(weight, indices, { offsets: new IndexTensor(f.offsets) }, opts);
}

/** A piece's lookups in a batch's bags of its table: the piece's ids and each lookup's weight, (L,) both. */
export function pieceLookups(
  piece: EmbeddingPiece,
  sparse: SparseInput,
  rowWeights: Tensor | null,
): { indices: IndexTensor; weights: Tensor | null } {
  const ids = pieceIds(piece, sparse.indices.data, sparse.offsets.data); // (L,) in [0, piece.rows)
  const indices = ids === sparse.indices.data ? sparse.indices : new IndexTensor(ids);
  return { indices, weights: lookupWeights(rowWeights, indices, sparse.weights, piece.label, piece.rows) };
}

/**
 * The per-sample weights (L,) of a lookup: the learned row weights at its ids (if any) times
 * the data's (if any). The ids are checked to lie in [0, idsBelow).
 */
export function lookupWeights(
  rowWeights: Tensor | null,
  indices: IndexTensor,
  dataWeights: Tensor | null,
  table: string,
  idsBelow: number,
): Tensor | null {
  if (rowWeights === null) return dataWeights;
  const gathered = gatherRowWeights(rowWeights, indices, { table, idsBelow }); // (L,)
  return dataWeights === null ? gathered : mul(gathered, dataWeights);
}

/**
 * The lookups of a batch that fall in rows [lo, hi) of a piece, renumbered from 0, with their
 * bags' offsets (B + 1,). The ids are the piece's, checked against all its rows (pieceIds), so
 * none outside the piece is dropped unseen. Mean pooling becomes a weighted sum with weight
 * 1/|bag| (the whole bag's length), so the partial sums of the row ranges add up to the mean.
 */
export function rowRange(
  ids: Int32Array, // (L,)
  offsets: Int32Array, // (B + 1,)
  weights: FloatArray | null, // (L,)
  rows: RowRange,
  mean: boolean,
): { indices: Int32Array; offsets: Int32Array; weights: Float32Array | null } {
  const L = ids.length;
  const B = offsets.length - 1;
  const lo = rows.rowStart;
  const hi = rows.rowEnd;
  const out = allocInt32(L); // step storage, as every array of a step
  const outW = weights !== null || mean ? (allocFloat("float32", L) as Float32Array) : null;
  const outOffsets = allocInt32(B + 1);
  let n = 0;
  for (let b = 0; b < B; b++) {
    const a = offsets[b];
    const e = offsets[b + 1];
    const scale = mean && e > a ? 1 / (e - a) : 1;
    for (let l = a; l < e; l++) {
      const id = ids[l];
      if (id < lo || id >= hi) continue;
      out[n] = id - lo;
      if (outW !== null) outW[n] = (weights === null ? 1 : weights[l]) * scale;
      n++;
    }
    outOffsets[b + 1] = n;
  }
  return { indices: out.subarray(0, n), offsets: outOffsets, weights: outW === null ? null : outW.subarray(0, n) };
}
