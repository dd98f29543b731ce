// Pooling one piece of a table (src/dlrm/tables.ts) over a batch's bags: the one
// place that turns a table's ids into the piece's lookups, on one thread (DLRM.pool) and on
// a rank that holds the piece or a range of its rows (src/parallel/rank.ts).
//
// A rank holding rows [lo, hi) of a piece pools only the lookups that fall in them,
// renumbered from 0 (rowRange); the owners' partial sums add up to the whole bag's pooled
// vector in the all-to-all (src/ops/all_to_all.ts). Mean pooling becomes a weighted sum with
// weight 1/|bag| (the whole bag's length) for that.
//
// Glossary: B bags (samples), L lookups, R rows.

import type { SparseInput } from "../../data/batch.ts";
import { checkIds, embeddingBag, gatherRowWeights } from "../../ops/embedding_bag.ts";
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
  const ids = pieceIds(piece, sparse.indices.data); // (L,)
  if (rows === null) {
    const indices = ids === sparse.indices.data ? sparse.indices : new IndexTensor(ids);
    const perSampleWeights = lookupWeights(rowWeights, indices, sparse.weights, piece.label);
    return embeddingBag(weight, indices, { offsets: sparse.offsets }, { mode, perSampleWeights, table: piece.label });
  }
  const label = `${piece.label} rows [${rows.rowStart}, ${rows.rowEnd})`;
  const dataWeights = sparse.weights === null ? null : sparse.weights.data;
  const f = rowRange(ids, sparse.offsets.data, dataWeights, rows, piece.rows, mode === "mean", piece.label);
  const indices = new IndexTensor(f.indices); // ids within the rows, as their row weights are numbered
  const w = f.weights === null ? null : new Tensor(f.weights, [f.indices.length]);
  const perSampleWeights = lookupWeights(rowWeights, indices, w, label);
  return embeddingBag(
    weight,
    indices,
    { offsets: new IndexTensor(f.offsets) },
    { mode: "sum", perSampleWeights, table: label },
  );
}

/** A piece's lookups in a batch's bags of its table: the piece's ids and each lookup's weight, (L,) both. */
export function pieceLookups(
  piece: EmbeddingPiece,
  sparse: SparseInput,
  rowWeights: Tensor | null,
): { indices: IndexTensor; weights: Tensor | null } {
  const ids = pieceIds(piece, sparse.indices.data); // (L,)
  const indices = ids === sparse.indices.data ? sparse.indices : new IndexTensor(ids);
  return { indices, weights: lookupWeights(rowWeights, indices, sparse.weights, piece.label) };
}

/** The per-sample weights (L,) of a lookup: the learned row weights at its ids (if any) times the data's (if any). */
export function lookupWeights(
  rowWeights: Tensor | null,
  indices: IndexTensor,
  dataWeights: Tensor | null,
  table: string,
): Tensor | null {
  if (rowWeights === null) return dataWeights;
  const gathered = gatherRowWeights(rowWeights, indices, { table }); // (L,)
  return dataWeights === null ? gathered : mul(gathered, dataWeights);
}

/**
 * The lookups of a batch that fall in rows [lo, hi) of a piece of R rows, renumbered from 0,
 * with their bags' offsets (B + 1,). Every id is checked against the whole piece first. Mean
 * pooling becomes a weighted sum with weight 1/|bag| (the whole bag's length), so the
 * partial sums of the row ranges add up to the mean.
 */
export function rowRange(
  ids: Int32Array, // (L,)
  offsets: Int32Array, // (B + 1,)
  weights: FloatArray | null, // (L,)
  rows: RowRange,
  R: number,
  mean: boolean,
  table: string,
): { indices: Int32Array; offsets: Int32Array; weights: Float32Array | null } {
  checkIds("embeddingBag", ids, offsets, R, table); // against the whole piece: no id outside it is dropped unseen
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
