// What a rank holds of the model: its shards of the table pieces, each in the memory the
// rank's table placement gives it (src/dlrm/tables/memories.ts; its optimizer state follows it
// there), made from the model's counter-based streams (src/dlrm/init.ts) for the rows they hold; and, as slices of a
// checkpoint, (rank 0 only) the head and its optimizer state, and its own rows with theirs. A rank reads exactly these from a
// checkpoint file (positional reads of its own rows only) and writes them into the new one;
// src/parallel/rank.ts does the file access through the host.
//
// A state tensor's first dimension is its parameter's rows, so rows [a, b) of a shard are
// elements [a·perRow, b·perRow) of it.

import type { CheckpointSlice } from "../dlrm/checkpoint_bytes.ts";
import type { CheckpointReader } from "./rank_threads.ts";
import { fillInitial } from "../dlrm/init.ts";
import { POOLING_WEIGHT_INIT } from "../dlrm/tables/learned_pooling.ts";
import { type EmbeddingPiece } from "../dlrm/tables/piece.ts";
import { stateArray, stateTensorName, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { allocResident } from "../tensor/storage.ts";
import { Tensor } from "../tensor/tensor.ts";
import type { Shard } from "./plan.ts";
import type { WasmHeap } from "../kernels/memory.ts";

/** A shard of a table piece that a rank holds: its rows of the piece (and of its learned pooling weights). */
export interface OwnShard {
  shard: Shard;
  piece: EmbeddingPiece;
  /** The piece's state_dict name. */
  name: string;
  /** W. */
  dim: number;
  weight: Tensor; // (rowEnd - rowStart, W)
  /** Its rows of the piece's learned pooling weights, or null. */
  rowWeights: Tensor | null; // (rowEnd - rowStart,)
}

/**
 * A shard of piece in memory (null: the step's; else a table memory, src/dlrm/tables/memories.ts):
 * its initial values from the streams of seed, or zeros (null) for values loaded next.
 */
export function makeOwnShard(
  piece: EmbeddingPiece,
  shard: Shard,
  seed: number | null,
  memory: WasmHeap | null = null,
): OwnShard {
  const rows = shard.rowEnd - shard.rowStart;
  const W = piece.dim;
  const weight = new Tensor(allocResident(rows * W, memory), [rows, W], true); // (rows, W)
  if (seed !== null) fillInitial(seed, piece.name, piece.init, weight.data, shard.rowStart * W);
  let rowWeights: Tensor | null = null;
  if (piece.poolingWeight !== null) {
    rowWeights = new Tensor(allocResident(rows, memory), [rows], true); // (rows,)
    if (seed !== null) fillInitial(seed, piece.poolingWeight, POOLING_WEIGHT_INIT, rowWeights.data);
  }
  return { shard, piece, name: piece.name, dim: W, weight, rowWeights };
}

/** What one rank holds of the model. */
export interface RankHoldings {
  r: number;
  headParams: readonly [string, Tensor][];
  own: readonly OwnShard[];
  optimizer: Optimizer;
  spec: OptimizerSpec;
}

/** The checkpoint slices a rank holds, with the full shape of the tensor each is part of. */
export function holdingSlices(
  h: RankHoldings,
  withOptimizer: boolean,
): { piece: CheckpointSlice; fullShape: number[] }[] {
  const out: { piece: CheckpointSlice; fullShape: number[] }[] = [];
  const params = h.optimizer.params;
  const add = (name: string, p: Tensor, fullShape: number[], rowStart: number, rowSparse: boolean): void => {
    const perRow = fullShape.slice(1).reduce((a, b) => a * b, 1);
    out.push({ piece: { name, first: rowStart * perRow, data: p.data as Float32Array }, fullShape });
    if (!withOptimizer) return;
    const i = params.indexOf(p);
    for (const s of stateTensors(h.spec, fullShape, rowSparse)) {
      const stPerRow = s.shape.slice(1).reduce((a, b) => a * b, 1);
      const data = stateArray(h.optimizer, i, s.key) as Float32Array;
      out.push({ piece: { name: stateTensorName(name, s.key), first: rowStart * stPerRow, data }, fullShape: s.shape });
    }
  };
  if (h.r === 0) for (const [name, p] of h.headParams) add(name, p, [...p.shape], 0, false);
  for (const o of h.own) add(o.name, o.weight, [o.piece.rows, o.dim], o.shard.rowStart, true);
  for (const o of h.own)
    if (o.rowWeights !== null)
      add(o.piece.poolingWeight as string, o.rowWeights, [o.piece.rows], o.shard.rowStart, true);
  return out;
}

/** Read what a rank holds (and its optimizer state) from an open checkpoint, then close it. */
export function readHoldings(file: CheckpointReader, h: RankHoldings, withOptimizer: boolean): void {
  try {
    // Every rank needs the head; rank 0's slices have it, the others read it here.
    if (h.r !== 0) for (const [name, p] of h.headParams) file.read(name, 0, p.data as Float32Array);
    if (h.r !== 0 && withOptimizer) {
      for (const [name, p] of h.headParams) {
        const i = h.optimizer.params.indexOf(p);
        for (const s of stateTensors(h.spec, p.shape, false))
          file.read(stateTensorName(name, s.key), 0, stateArray(h.optimizer, i, s.key) as Float32Array);
      }
    }
    for (const { piece } of holdingSlices(h, withOptimizer)) file.read(piece.name, piece.first, piece.data);
  } finally {
    file.close();
  }
}
