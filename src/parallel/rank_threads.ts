// What a hybrid run needs of the host to have rank threads, said without naming the host, so
// that the executor (src/parallel/hybrid.ts) and the rank's command loop (rank_loop.ts) run
// in Node (node:worker_threads, src/parallel/spawn.ts, worker.ts) and in a browser (module
// Workers, spawn_browser.ts, worker_browser.ts) alike:
//   - the main thread's side: start N rank threads (StartRanks), talk to each (RankThread),
//     stop them all (RankGroup);
//   - a rank's side: its link to the main thread (RankPort), and its file access (RankFiles:
//     checkpoints read and written by position; none in a browser, where a checkpoint is
//     made in shared memory instead).
//
// Glossary: N ranks, r a rank.

import type { CheckpointSlice, TensorSlot } from "../dlrm/checkpoint_bytes.ts";
import type { DiskTables, StoredShard, TableSource, TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import type { RankInit, RankMessage, RankRequest } from "./protocol.ts";

/** What the main thread hears from one rank thread. */
export interface RankEvents {
  message(m: RankMessage): void;
  /** An uncaught error of the thread. */
  error(e: Error): void;
  /** The thread ended (Node tells; a browser Worker never does). */
  exit(code: number): void;
}

/** One rank thread as the main thread sees it. */
export interface RankThread {
  postMessage(m: RankRequest): void;
  /** Listen to the thread; returns what stops listening. */
  listen(on: RankEvents): () => void;
}

/** N rank threads started together, and how to stop them all. */
export interface RankGroup {
  readonly threads: readonly RankThread[];
  /**
   * End every thread still running (even inside Atomics.wait) and wait (at most timeoutMs)
   * until all have ended; resolves to the ranks that did not end in time (normally none).
   */
  stop(timeoutMs?: number): Promise<number[]>;
}

/** Start N rank threads, rank r with init(r); resolves once each has been handed its init. */
export type StartRanks = (N: number, init: (r: number) => RankInit) => Promise<RankGroup>;

/** A rank's link to the main thread. */
export interface RankPort {
  post(m: RankMessage): void;
  /** The request the main thread posted before it issued the command that takes it (CMD_SAVE, CMD_PEERS). */
  request(): RankRequest | Promise<RankRequest>;
  close(): void;
}

/** An open checkpoint file a rank reads its pieces from. */
export interface CheckpointReader {
  /** Elements [first, first + into.length) of float tensor name, into `into`. */
  read(name: string, first: number, into: Float32Array): void;
  close(): void;
}

/** A rank's file access (Node); null where there is none (a browser). */
export interface RankFiles {
  /** Open the checkpoint of this index, checked against the model of config (and its optimizer state, given). */
  openCheckpoint(index: SafetensorsIndex, config: DLRMConfig, optimizer: OptimizerSpec | null): CheckpointReader;
  /** Write pieces at their slots into the checkpoint file being made at tmp. */
  writeSlices(tmp: string, slots: ReadonlyMap<string, TensorSlot>, pieces: readonly CheckpointSlice[]): void;
  /** The rank's tables in files in store.dir (src/dlrm/store/disk_tables.ts), made anew from source. */
  openTables(
    config: DLRMConfig,
    optimizer: OptimizerSpec,
    source: TableSource,
    store: TableStoreOptions,
    shards: readonly StoredShard[],
  ): DiskTables;
  /** CPU time of the calling thread in ms, NaN where unknown. */
  threadCpuMs(): number;
}
