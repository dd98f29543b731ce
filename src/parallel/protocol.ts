// What the main thread and the rank workers of a hybrid-parallel run share: the phases of a
// step, the command words, the status and result arrays, and what a rank is started with.
//
//   control  Int32   [seq, then two command entries (command, step, slot), (pad…), then per
//            rank r: phase, step, heartbeat, done]
//            seq counts the commands issued. Command k (from 1) sits in entry k mod 2: the
//            main thread writes the entry, then increments seq and notifies; each rank takes
//            the commands one by one, in order. Two entries let the main thread issue the
//            next step while the ranks still run the current one, so that a rank goes from
//            step to step without waiting for the main thread (which has at most two commands
//            outstanding, so it never overwrites an entry not yet taken). Each rank keeps its
//            status current, so an error can say where a rank was when it died or stalled.
//            done is the last command the rank finished; a rank that finishes command k and
//            then sees every rank's done at k or past it tells the main thread (one "done"
//            message per command, not one per rank: each wakes the main thread, on the cores
//            the ranks compute on). With sequentially consistent stores and loads, of two ranks
//            finishing together at least one sees the other's store, so a command is always
//            reported, sometimes twice.
//   numbers  Float64 [lr of batch slot 0, lr of slot 1, then per rank r and slot: RESULT_FIELDS values,
//            then per rank r: STORE_FIGURES values]
//            The learning rate of the step staged in each slot; each rank's results of the
//            last step of each slot (read by the main thread before it reuses the slot); each
//            rank's table store's figures, written when told CMD_STORE_FIGURES (once, after
//            training: no step writes them).
//
// Glossary: N ranks, r a rank, B batch, E embedding dim.

import type { DiskTables, TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { TensorSlot } from "../dlrm/checkpoint.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import type { CommBuffers } from "./collectives.ts";
import type { ShardingPlan } from "./plan.ts";
import type { BatchSlotLayout } from "./batch_slots.ts";

/** The phases of a training step whose time is measured, in step order (named as the DLRM paper's hybrid step). */
export const STEP_PHASES = [
  "lookup",
  "all-to-all forward",
  "MLP forward",
  "MLP backward",
  "all-to-all backward",
  "embedding backward",
  "all-reduce",
  "update",
] as const;
export type StepPhase = (typeof STEP_PHASES)[number];

/** Every phase a rank can be in: the step's, and those around and beside it. */
export const PHASES = ["starting", "waiting for a command", ...STEP_PHASES, "predict", "save"] as const;
export type Phase = (typeof PHASES)[number];

/** Train a step on a staged batch. */
export const CMD_STEP = 1;
/** Predict a staged batch into its slot. */
export const CMD_PREDICT = 2;
/** Write this rank's pieces into a checkpoint (a file, or bytes in shared memory); the request (a SaveRequest) waits on the rank's port. */
export const CMD_SAVE = 3;
export const CMD_STOP = 4;
/** Take the peers' head arrays (a PeersRequest waits on the rank's port): sent once, after every rank is ready. */
export const CMD_PEERS = 5;
/**
 * Write its table store's figures into its store words (tables in files only): issued once,
 * when no step is in flight. Shared memory, no message: the same in a browser's rank Worker
 * (which has no store, having no file access).
 */
export const CMD_STORE_FIGURES = 6;

/** Control word indices. */
export const SEQ = 0;
/** The entry of command seq (1, 2, …): its words command, step, slot. */
export const commandEntry = (seq: number): number => 1 + 3 * (seq & 1);
export const COMMAND = 0;
export const ARG_STEP = 1;
export const ARG_SLOT = 2;
const STATUS = 8;
const STATUS_FIELDS = 4;
export const statusPhase = (r: number): number => STATUS + STATUS_FIELDS * r;
export const statusStep = (r: number): number => STATUS + STATUS_FIELDS * r + 1;
export const statusHeartbeat = (r: number): number => STATUS + STATUS_FIELDS * r + 2;
export const statusDone = (r: number): number => STATUS + STATUS_FIELDS * r + 3;

/** Whether every one of N ranks has finished command seq (its done word at seq or past it). */
export function allDone(control: Int32Array, N: number, seq: number): boolean {
  for (let q = 0; q < N; q++) if (Atomics.load(control, statusDone(q)) < seq) return false;
  return true;
}
export const controlWords = (N: number): number => STATUS + STATUS_FIELDS * N;

/**
 * Float64 fields: lr per batch slot, then per rank and slot [loss sum, first bad
 * prediction (-1: none), its value, slice size, the thread's CPU ms in the step (NaN where
 * unknown), the slice's correct predictions (correctPredictions), ms per STEP_PHASES].
 */
export const SLOTS = 2;
export const lrWord = (slot: number): number => slot;
export const RESULT_FIELDS = 6 + STEP_PHASES.length;
export const resultBase = (r: number, slot: number): number => SLOTS + RESULT_FIELDS * (SLOTS * r + slot);
export const RES_LOSS = 0;
export const RES_BAD_INDEX = 1;
export const RES_BAD_VALUE = 2;
export const RES_SLICE = 3;
export const RES_CPU = 4;
export const RES_CORRECT = 5;
export const RES_TIMES = 6;

/**
 * What a table store (src/dlrm/store/disk_tables.ts) did, as numbers: how many coming
 * batches' missing rows it reads ahead, whether a reader thread moved the rows (1) or the step's thread (0), the bytes of
 * rows resident at most and in the files, the ms making the files took, the caches' counts
 * (CacheCounts: distinct rows asked for batch by batch, hits, rows read and of them ahead,
 * written, evicted, bytes read and written), and the ms the steps waited for rows. A rank
 * writes its own into its store words; the one-thread executor's are made the same way.
 */
export const STORE_FIGURES = [
  "prefetch",
  "readerThread",
  "residentBytes",
  "fileBytes",
  "madeMs",
  "lookups",
  "hits",
  "reads",
  "readAhead",
  "writes",
  "evictions",
  "bytesRead",
  "bytesWritten",
  "waitedMs",
] as const;
export type StoreFigures = Record<(typeof STORE_FIGURES)[number], number>;

/** The figures of a store now (after a save they include the rows it wrote back). */
export function storeFigures(
  tables: Pick<DiskTables, "prefetch" | "threaded" | "residentBytes" | "fileBytes" | "madeMs" | "counts" | "waitedMs">,
): StoreFigures {
  const c = tables.counts();
  return {
    prefetch: tables.prefetch,
    readerThread: tables.threaded ? 1 : 0,
    residentBytes: tables.residentBytes(),
    fileBytes: tables.fileBytes,
    madeMs: tables.madeMs,
    lookups: c.lookups,
    hits: c.hits,
    reads: c.reads,
    readAhead: c.readAhead,
    writes: c.writes,
    evictions: c.evictions,
    bytesRead: c.bytesRead,
    bytesWritten: c.bytesWritten,
    waitedMs: tables.waitedMs(),
  };
}

/** Where rank r of N writes its StoreFigures in numbers, after every rank's results. */
export const storeBase = (N: number, r: number): number => SLOTS + RESULT_FIELDS * SLOTS * N + STORE_FIGURES.length * r;
export const numberWords = (N: number): number => storeBase(N, N);

export function writeStoreFigures(numbers: Float64Array, N: number, r: number, f: StoreFigures): void {
  const base = storeBase(N, r);
  STORE_FIGURES.forEach((k, i) => (numbers[base + i] = f[k]));
}

export function readStoreFigures(numbers: Float64Array, N: number, r: number): StoreFigures {
  const base = storeBase(N, r);
  return Object.fromEntries(STORE_FIGURES.map((k, i) => [k, numbers[base + i]])) as StoreFigures;
}

/**
 * A deliberate failure, for tests of the failure path: rank `rank` exits (as a crash
 * would), throws, or stalls for `ms` when it enters `phase` of step `step`.
 */
export interface Fault {
  rank: number;
  step: number;
  phase: Phase;
  action: "exit" | "throw" | "stall";
  /** stall: how long (default 60 s; the run's timeout should end it first). */
  ms?: number;
}

/** workerData of a rank. */
export interface RankInit {
  rank: number;
  ranks: number;
  config: DLRMConfig;
  plan: ShardingPlan;
  optimizer: OptimizerSpec;
  /**
   * Where the parameters come from: the model's streams of a seed, or a checkpoint (with its
   * optimizer state, to resume), by the index its opener read in the file's format.
   */
  source: { kind: "seed"; seed: number } | { kind: "file"; index: SafetensorsIndex; withOptimizer: boolean };
  comm: CommBuffers;
  control: SharedArrayBuffer;
  numbers: SharedArrayBuffer;
  batchSlots: { layout: BatchSlotLayout; slots: SharedArrayBuffer[] };
  timeoutMs: number;
  /** Measure the rank thread's CPU time in each step (RES_CPU; a read of /proc per step in Node): only when asked. */
  stepCpu: boolean;
  fault: Fault | null;
  /** Its tables in files (src/dlrm/store/), with its share of the cache; null: in its memory. */
  store?: TableStoreOptions | null;
}

/** Where the ranks write a checkpoint: the temporary file beside its path (Node), or its bytes in shared memory (a browser). */
export type SaveTarget = { kind: "file"; tmp: string } | { kind: "memory"; buffer: SharedArrayBuffer };

/** What a rank reads from its port when told CMD_SAVE: where the checkpoint goes and the byte offset of each tensor in it. */
export interface SaveRequest {
  kind: "save";
  target: SaveTarget;
  /** Each tensor's byte offset in the file and its dtype there. */
  slots: [string, TensorSlot][];
  withOptimizer: boolean;
}

/** A Float32Array of one thread's shared memory, as another thread can view it. */
export interface SharedArray {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/**
 * Where a rank keeps its head's gradients (one flat array) and parameters (one array each),
 * in its wasm memory, which is shared: its peers read their chunks there themselves
 * (src/parallel/head_sync.ts). Null where they are not in shared memory (DLRM_KERNELS=js).
 */
export type HeadArrays = { grads: SharedArray; params: SharedArray[] } | null;

/** What a rank reads from its port when told CMD_PEERS: every rank's HeadArrays, by rank. */
export interface PeersRequest {
  kind: "peers";
  heads: HeadArrays[];
}

/** What the main thread posts to a rank's port before the command that takes it. */
export type RankRequest = SaveRequest | PeersRequest;

/** Messages from a rank to the main thread. */
export type RankMessage =
  | { type: "ready"; rank: number; head: HeadArrays }
  /** Every rank has finished command seq (and every command before it). */
  | { type: "done"; rank: number; seq: number }
  | {
      type: "error";
      rank: number;
      step: number;
      phase: Phase;
      message: string;
      stack: string;
      /** Set when a collective failed: why, and the peer it waited for (or the rank that aborted). */
      collective: { reason: "timeout" | "aborted" | "usage"; peer: number | null } | null;
    };

/** Samples [start, end) of the batch that rank q computes the MLPs for: the first B mod N ranks take one more. */
export function batchSlice(B: number, N: number, q: number): [number, number] {
  const k = Math.floor(B / N);
  const m = B % N;
  const start = q * k + Math.min(q, m);
  return [start, start + k + (q < m ? 1 : 0)];
}
