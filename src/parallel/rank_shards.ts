// A rank's own shards of the table pieces (whole pieces or row ranges, by the sharding plan,
// src/parallel/plan.ts), and what its step asks of them (src/parallel/rank.ts): their
// parameters for the optimizer, each shard's pooled bags of a batch, and the end of an update.
//
// They sit in one of two places, for the whole run:
//   - in the rank's wasm memories (OwnShard, rank_holdings.ts): its step's memory while they
//     fit, then table memories of their own (src/dlrm/tables/memories.ts places them once,
//     with room for their optimizer state), made from the model's counter-based streams, or
//     read from a checkpoint with the rest of the rank's holdings;
//   - with --table-dir, in files behind a cache (src/dlrm/store/disk_tables.ts), made anew at
//     the start from the same streams or from the checkpoint's rows, through the host's file
//     access (RankFiles: none in a browser). The store is the run's working copy: its rows go
//     into a checkpoint by writeStored, and back to its files at close.
//
// Glossary: B batch, W a piece's width.

import type { CheckpointSlice } from "../dlrm/checkpoint_bytes.ts";
import type { DiskTables, ForeseenBatch, TableSource } from "../dlrm/store/disk_tables.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import { rangePart, TableMemories } from "../dlrm/tables/memories.ts";
import { poolPiece } from "../dlrm/tables/pool.ts";
import type { SparseInput } from "../data/batch.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { storeFigures, type RankInit, type StoreFigures } from "./protocol.ts";
import { makeOwnShard, type OwnShard } from "./rank_holdings.ts";
import type { RankFiles } from "./rank_threads.ts";

/** What a rank asks of its shards kept in files (the store of src/dlrm/store/disk_tables.ts). */
export type RankStore = Pick<
  DiskTables,
  | "parameters"
  | "attach"
  | "pool"
  | "markDirty"
  | "writeSlices"
  | "close"
  | "prefetch"
  | "threaded"
  | "residentBytes"
  | "fileBytes"
  | "madeMs"
  | "counts"
  | "waitedMs"
>;

export class RankShards {
  /** Its shards in its memory, in the plan's order; none when they are in files. */
  readonly own: OwnShard[];
  /** Its shards in files behind a cache (--table-dir), in the plan's order; null: in memory. */
  readonly #store: RankStore | null;
  /** Which memory each of own lives in (the step's, or a table memory); null when they are in files. */
  readonly memories: TableMemories | null;

  /** files: the host's file access (Node), which a store needs; null where there is none (a browser). */
  constructor(init: RankInit, files: RankFiles | null) {
    const shards = init.plan.perRank[init.rank].shards;
    const pieces = tableLayout(init.config).pieces;
    const seed = init.source.kind === "seed" ? init.source.seed : null;
    this.#store = init.store == null ? null : openStore(init, files);
    this.memories =
      this.#store !== null
        ? null
        : new TableMemories(
            shards.map((s) => rangePart(pieces[s.table], s)),
            init.optimizer,
          );
    const memories = this.memories;
    this.own =
      memories === null
        ? []
        : shards.map((shard, i) => makeOwnShard(pieces[shard.table], shard, seed, memories.memoryOf(i)));
  }

  /** The parameters the optimizer trains for the shards: weights, then learned pooling weights, then the store's blocks. */
  parameters(): [string, Tensor][] {
    return [
      ...this.own.map((o): [string, Tensor] => [o.name, o.weight]),
      ...this.own.flatMap((o): [string, Tensor][] =>
        o.rowWeights === null ? [] : [[o.piece.poolingWeight as string, o.rowWeights]],
      ),
      ...(this.#store?.parameters() ?? []),
    ];
  }

  /** Hand the store's caches their optimizer state: the shards' parameters are optimizer's from `first` on. */
  attach(optimizer: Optimizer, first: number): void {
    this.#store?.attach(optimizer, first);
  }

  /**
   * Each shard's pooled bags (B, W) of the batch, in the plan's order, with the model's own
   * pooling; ahead: the coming batches' ids, which the store's caches plan with.
   */
  pool(sparse: readonly SparseInput[], mode: "sum" | "mean", ahead: readonly ForeseenBatch[] = []): Tensor[] {
    if (this.#store !== null) return this.#store.pool(sparse, ahead, mode);
    return this.own.map((o) =>
      poolPiece(o.piece, o.weight, o.rowWeights, sparse[o.piece.table], mode, o.shard.whole ? null : o.shard),
    );
  }

  /** The step's update is done: the stored rows it served are dirty. */
  updated(): void {
    this.#store?.markDirty();
  }

  /** Write the stored shards' slices (with their optimizer state, if asked) into the checkpoint being made. */
  writeStored(write: (slices: CheckpointSlice[]) => void, withOptimizer: boolean): void {
    this.#store?.writeSlices(write, withOptimizer);
  }

  /** What the store of its shards did so far (rows asked for, read, written, ...); null when they are in memory. */
  storeFigures(): StoreFigures | null {
    return this.#store === null ? null : storeFigures(this.#store);
  }

  /** Write the store's dirty rows back and close its files. */
  close(): void {
    this.#store?.close();
  }
}

/** The rank's shards in files in init.store's directory, made from the seed's streams or the checkpoint's rows. */
function openStore(init: RankInit, files: RankFiles | null): RankStore {
  const store = init.store as NonNullable<RankInit["store"]>;
  if (files === null)
    throw new Error(`cannot keep the tables in ${store.dir}: this host gives the ranks no file access`);
  const kept = init.plan.perRank[init.rank].shards.map((s) => ({
    piece: s.table,
    rows: s.whole ? null : { rowStart: s.rowStart, rowEnd: s.rowEnd },
  }));
  const src = init.source;
  if (src.kind === "seed")
    return files.openTables(init.config, init.optimizer, { kind: "seed", seed: src.seed }, store, kept);
  const reader = files.openCheckpoint(src.index, init.config, src.withOptimizer ? init.optimizer : null);
  try {
    const source: TableSource = { kind: "checkpoint", read: reader.read, withOptimizer: src.withOptimizer };
    return files.openTables(init.config, init.optimizer, source, store, kept);
  } finally {
    reader.close();
  }
}
