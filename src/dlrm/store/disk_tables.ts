// A model's embedding tables kept on disk (`dlrm train --table-dir DIR --table-cache-bytes N`):
// each table piece (src/dlrm/tables/) is a file of row records in DIR (row_file.ts: a row's
// weights and its optimizer state together), and at most N bytes of records are resident, in
// one cache per piece (row_cache.ts). A step serves each piece's ids from its cache: the
// missing rows are read, the ids become slots of the cache's resident block, and the normal
// embedding bag, backward and sparse optimizer update run on that block; the rows the step
// updated are dirty and go back to the file when they leave the cache, at a save and at the
// end. Which rows leave is decided from the next k batches (exact look-ahead), or by LRU;
// with look-ahead, the missing rows of the next d batches are read ahead. The reads and
// write-backs run on one reader thread (row_thread.ts) for all pieces while the step
// computes, when the caches' arrays are shared memory (the wasm kernels); else on this thread.
//
// The files are made at the start of a run from the seed's counter-based streams
// (src/dlrm/init.ts: the values the in-memory model has; on one thread per core,
// file_makers.ts) or from a checkpoint's rows, so the model is the in-memory one bit for bit, and a checkpoint is written from the files after a
// flush. The files are the run's working copy, not a checkpoint: after a crash they may hold
// a mix of steps; the last checkpoint written (atomically) is what a run resumes from.
//
// Glossary: R rows of a piece, W its width, F floats per record, C slots of a cache, N bytes
// of records resident in all, B batch, L lookups.

import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { SparseInput } from "../../data/batch.ts";
import { embeddingBag } from "../../ops/embedding_bag.ts";
import { stateArray, stateTensorName, type OptimizerSpec } from "../../optim/make.ts";
import type { Optimizer } from "../../optim/optimizer.ts";
import { OpError } from "../../tensor/shape.ts";
import { streamKey } from "../../tensor/philox.ts";
import { allocResident } from "../../tensor/storage.ts";
import { IndexTensor, Tensor } from "../../tensor/tensor.ts";
import type { CheckpointSlice } from "../checkpoint_bytes.ts";
import type { DLRMConfig } from "../config.ts";
import { fillInitialRows } from "../init.ts";
import { tableLayout } from "../tables/layout.ts";
import { pieceIds, type EmbeddingPiece } from "../tables/piece.ts";
import { rowRange, type RowRange } from "../tables/pool.ts";
import { emptyCounts, RowCache, type CacheCounts } from "./row_cache.ts";
import { makeFilesOnThreads, makersCanShare, type FileJob } from "./file_makers.ts";
import { chunkRows, RowFile } from "./row_file.ts";
import { SyncMover, type RowMover, type SlotArray } from "./row_mover.ts";
import { ThreadMover } from "./row_thread.ts";
import { rowRecord, type RowRecord } from "./row_record.ts";

/** Where the tables' first values come from: the seed's streams, or a checkpoint's tensors. */
// read(name, first, into): elements [first, first + into.length) of a checkpoint tensor.
export type TableSource =
  | { kind: "seed"; seed: number }
  | { kind: "checkpoint"; read: (name: string, first: number, into: Float32Array) => void; withOptimizer: boolean };

/** A coming batch as the caches plan with it: each table's bags (a Dataset of one batch is one). */
export interface ForeseenBatch {
  sparse: readonly { offsets: Int32Array; indices: Int32Array }[];
}

/** A piece kept on disk: all its rows (rows null), or a rank's range of them. */
export interface StoredShard {
  piece: number;
  rows: RowRange | null;
}

export interface TableStoreOptions {
  dir: string;
  /** Bytes of row records resident at most, all pieces together. */
  cacheBytes: number;
  /** Batches after the current one whose rows decide evictions (0: least recently used). */
  lookAhead: number;
  /** Of those, the first ones whose missing rows are read ahead of their step (default 1 with look-ahead; at most lookAhead). */
  prefetch?: number;
  /** Move rows on a reader thread when the arrays allow it (default true); false: on the step's thread. */
  readerThread?: boolean;
  /** Threads that make the files from the seed (default: one per core, at most 4; 1: on this thread). */
  makers?: number;
}

/** One piece on disk: its file, its cache, and the cache's weights (C, W), the parameter the step trains. */
interface StoredPiece {
  piece: EmbeddingPiece;
  /** Its rows of the piece (null: all), the first of them, how many. */
  range: RowRange | null;
  rowStart: number;
  rows: number;
  record: RowRecord;
  file: RowFile;
  cache: RowCache;
  weight: Tensor;
}

export class DiskTables {
  readonly lookAhead: number;
  readonly prefetch: number;
  /** Milliseconds making the files took, and the bytes they hold. */
  readonly madeMs: number;
  readonly fileBytes: number;
  readonly #readerThread: boolean;
  readonly #stored: StoredPiece[];
  readonly #spec: OptimizerSpec;
  #mover: RowMover | null = null;
  #threaded = false;
  #waitedMs = 0; // of a closed mover
  /** Each coming batch's ids per stored piece, worked out once however many windows it is in. */
  #foreseen = new WeakMap<ForeseenBatch, Int32Array[]>();

  /** shards: what is kept, in the order pool() returns it (default: every piece whole). */
  constructor(
    config: DLRMConfig,
    spec: OptimizerSpec,
    source: TableSource,
    o: TableStoreOptions,
    shards: readonly StoredShard[] | null = null,
  ) {
    this.lookAhead = o.lookAhead;
    this.prefetch = Math.min(o.prefetch ?? (o.lookAhead > 0 ? 1 : 0), o.lookAhead);
    this.#readerThread = o.readerThread ?? true;
    this.#spec = spec;
    const layout = tableLayout(config).pieces;
    const kept = shards ?? layout.map((_, i) => ({ piece: i, rows: null }));
    const pieces = kept.map((k) => layout[k.piece]);
    const ranges = kept.map((k) => k.rows);
    const rowsOf = kept.map((k, i) => (k.rows === null ? pieces[i].rows : k.rows.rowEnd - k.rows.rowStart));
    for (const p of pieces)
      if (p.poolingWeight !== null)
        throw new Error(
          `--table-dir: ${p.label} has learned pooling weights (${p.poolingWeight}), which are not kept on disk; train it in memory`,
        );
    const records = pieces.map((p) => rowRecord(p.dim, spec));
    const capacities = cacheRows(
      pieces.map((p, i) => ({
        rows: rowsOf[i],
        rowBytes: 4 * records[i].floats,
        label: p.label,
      })),
      o.cacheBytes,
    );
    this.#stored = [];
    const t0 = performance.now();
    const chunkFloats = Math.max(...records.map((r, i) => Math.min(rowsOf[i], chunkRows(r.floats)) * r.floats));
    const floats = records.reduce((a, r, i) => a + r.floats * rowsOf[i], 0);
    // Threads pay once the files are several chunks (they take ~50 ms to start).
    const makers = o.makers ?? (floats < 8 * chunkFloats ? 1 : defaultMakers());
    // The chunks of records the files are made in, in the wasm memory (the generator writes them in place).
    const chunks = [allocResident(chunkFloats)];
    const threaded = makers > 1 && onThreads(source, pieces) && makersCanShare(chunks[0] as Float32Array);
    while (threaded && chunks.length < makers) chunks.push(allocResident(chunkFloats));
    try {
      const jobs: FileJob[] = [];
      pieces.forEach((piece, i) => {
        const record = records[i];
        const range = ranges[i];
        const rows = rowsOf[i];
        const rowStart = range === null ? 0 : range.rowStart;
        const name = range === null ? piece.name : `${piece.name}.${range.rowStart}-${range.rowEnd}`;
        const path = join(o.dir, `${name}.rows`);
        let file: RowFile;
        if (threaded && source.kind === "seed" && piece.init.kind === "uniform") {
          file = RowFile.create(path, rows, record.floats, null);
          const state = record.parts.filter((p) => p.key !== null);
          const [lo, hi] = [piece.init.lo, piece.init.hi];
          const key = streamKey(source.seed, piece.name);
          jobs.push({ fd: file.fd, path, rowStart, rows, F: record.floats, W: piece.dim, key, lo, hi, state });
        } else file = makeFile(path, piece, rowStart, rows, record, source, chunks[0] as Float32Array);
        const C = Math.min(capacities[i], rows);
        const cache = new RowCache(file, C, rangeLabel(piece, range));
        const weight = new Tensor(allocResident(C * piece.dim), [C, piece.dim], true); // (C, W)
        this.#stored.push({ piece, range, rowStart, rows, record, file, cache, weight });
      });
      makeFilesOnThreads(jobs, chunks);
    } catch (e) {
      this.close();
      throw e;
    }
    this.madeMs = performance.now() - t0;
    this.fileBytes = this.#stored.reduce((a, s) => a + s.rows * 4 * s.record.floats, 0);
  }

  /** The parameters the optimizer trains for the tables: each piece's resident block under its name. */
  parameters(): [string, Tensor][] {
    return this.#stored.map((s) => [s.piece.name, s.weight]);
  }

  /**
   * Give each cache its optimizer state arrays (parameter first + i of optimizer is piece i's
   * block), and the mover of their rows: the reader thread when every array is shared memory.
   */
  attach(optimizer: Optimizer, first: number): void {
    const arrays: SlotArray[][] = this.#stored.map((s, i) =>
      s.record.parts.map((part) => ({
        data: (part.key === null ? s.weight.data : stateArray(optimizer, first + i, part.key)) as Float32Array,
        perRow: part.perRow,
      })),
    );
    const threaded =
      this.#readerThread &&
      this.#stored.every((s, i) =>
        ThreadMover.canServe({ io: s.file, fd: s.file.fd, label: s.file.path, arrays: arrays[i] as SlotArray[] }),
      );
    this.#threaded = threaded;
    this.#mover = threaded ? new ThreadMover() : new SyncMover();
    const mover = this.#mover;
    this.#stored.forEach((s, i) => s.cache.attach(arrays[i] as SlotArray[], mover, s.file));
  }

  /** Whether rows move on a reader thread. */
  get threaded(): boolean {
    return this.#threaded;
  }

  /**
   * Each piece's pooled bags (B, W) of a batch, in pieces order; ahead: the next batches, whose
   * rows stay resident in preference (their first lookAhead are used), and whose missing rows
   * are read ahead (the first `prefetch` of them) while the step runs.
   */
  pool(sparse: readonly SparseInput[], ahead: readonly ForeseenBatch[], mode: "sum" | "mean"): Tensor[] {
    const next = ahead.slice(0, this.lookAhead);
    const own = this.#stored.map(({ piece, range }) => {
      const sp = sparse[piece.table];
      const ids = pieceIds(piece, sp.indices.data, sp.offsets.data); // (L,) in [0, piece.rows)
      if (range === null) return { ids, offsets: sp.offsets, weights: sp.weights };
      // A rank's rows: the lookups that fall in them, from 0, mean as weights 1/|bag| (src/dlrm/tables/pool.ts).
      const dataWeights = sp.weights === null ? null : sp.weights.data;
      const f = rowRange(ids, sp.offsets.data, dataWeights, range, mode === "mean");
      const w = f.weights === null ? null : new Tensor(f.weights, [f.indices.length]);
      return { ids: f.indices, offsets: new IndexTensor(f.offsets), weights: w };
    });
    const windows = own.map((o, i) => [o.ids, ...next.map((d) => this.#foreseenIds(d, i))]);
    // Every piece's missing rows are asked for before any read ahead, so the step waits for its own rows only.
    const slots = this.#stored.map((s, i) => s.cache.serve(windows[i] as Int32Array[])); // (L,) each
    if (this.prefetch > 0) this.#stored.forEach((s, i) => s.cache.prefetch(windows[i] as Int32Array[], this.prefetch));
    return this.#stored.map(({ piece, range, cache, weight }, i) => {
      cache.ready();
      const o = own[i] as (typeof own)[number];
      return embeddingBag(
        weight,
        new IndexTensor(slots[i] as Int32Array),
        { offsets: o.offsets },
        { mode: range === null ? mode : "sum", perSampleWeights: o.weights, table: rangeLabel(piece, range) },
      );
    });
  }

  /** The last batch was trained: its rows go back to disk before they leave the caches. */
  markDirty(): void {
    for (const s of this.#stored) s.cache.markDirty();
  }

  /** Write every dirty row back to its file. */
  flush(): void {
    for (const s of this.#stored) s.cache.flush();
  }

  /** The caches' counts, all pieces together. */
  counts(): CacheCounts {
    const sum = emptyCounts();
    for (const s of this.#stored)
      for (const k of Object.keys(sum) as (keyof CacheCounts)[]) sum[k] += s.cache.counts[k];
    return sum;
  }

  /** Milliseconds the steps waited for rows being read (at their step, or still in flight from ahead). */
  waitedMs(): number {
    return this.#waitedMs + (this.#mover?.waitedMs ?? 0);
  }

  /** Bytes of records the caches hold at most. */
  residentBytes(): number {
    return this.#stored.reduce((a, s) => a + s.cache.capacity * 4 * s.record.floats, 0);
  }

  /**
   * Hand the tables to write(pieces) as checkpoint slices (weights, and optimizer state
   * when withOptimizer), a chunk of rows at a time, after writing back every dirty row.
   */
  writeSlices(write: (slices: CheckpointSlice[]) => void, withOptimizer: boolean): void {
    this.flush();
    for (const { piece, rowStart, rows, record, file } of this.#stored) {
      const F = record.floats;
      const perChunk = chunkRows(F);
      const buf = new Float32Array(Math.min(rows, perChunk) * F);
      const parts = record.parts.filter((p) => p.key === null || withOptimizer);
      const outs = parts.map((p) => new Float32Array(Math.min(rows, perChunk) * p.perRow));
      for (let r = 0; r < rows; r += perChunk) {
        const n = Math.min(perChunk, rows - r);
        file.readRecords(r, buf.subarray(0, n * F));
        const slices = parts.map((p, k) => {
          const out = (outs[k] as Float32Array).subarray(0, n * p.perRow);
          unpack(buf, F, p.offset, p.perRow, n, out);
          const name = p.key === null ? piece.name : stateTensorName(piece.name, p.key);
          return { name, first: (rowStart + r) * p.perRow, data: out };
        });
        write(slices);
      }
    }
  }

  /** Write back, stop the reader thread and close the files (they hold the trained tables). */
  close(): void {
    let failure: unknown = null;
    for (const s of this.#stored) {
      try {
        if (this.#mover !== null) s.cache.flush();
      } catch (e) {
        failure ??= e;
      }
    }
    try {
      this.#mover?.close();
    } catch (e) {
      failure ??= e;
    }
    this.#waitedMs += this.#mover?.waitedMs ?? 0;
    this.#mover = null;
    for (const s of this.#stored) s.file.close();
    if (failure !== null) throw failure;
  }

  /** A coming batch's ids of stored piece i (of a range: those in it, from 0). */
  #foreseenIds(d: ForeseenBatch, i: number): Int32Array {
    let per = this.#foreseen.get(d);
    if (per === undefined) {
      per = [];
      this.#foreseen.set(d, per);
    }
    let ids = per[i];
    if (ids === undefined) {
      const s = this.#stored[i] as StoredPiece;
      ids = foreseenIds(s.piece, d, s.range);
      per[i] = ids;
    }
    return ids;
  }
}

/**
 * Each piece's cache rows out of cacheBytes: a piece gets at most an equal share of what the
 * smaller pieces leave (small tables are held whole), and at least one row.
 */
export function cacheRows(
  pieces: readonly { rows: number; rowBytes: number; label: string }[],
  cacheBytes: number,
): number[] {
  const order = pieces
    .map((_, i) => i)
    .sort((a, b) => {
      const pa = pieces[a] as { rows: number; rowBytes: number };
      const pb = pieces[b] as { rows: number; rowBytes: number };
      return pa.rows * pa.rowBytes - pb.rows * pb.rowBytes || a - b;
    });
  const out = new Array<number>(pieces.length).fill(0);
  let left = cacheBytes;
  order.forEach((i, k) => {
    const p = pieces[i] as { rows: number; rowBytes: number; label: string };
    const share = Math.floor(left / (order.length - k));
    const rows = Math.min(p.rows, Math.floor(share / p.rowBytes));
    if (rows < 1)
      throw new OpError(
        "--table-cache-bytes",
        `${cacheBytes} bytes leave ${share} for ${p.label}, less than one row of ${p.rowBytes} bytes`,
      );
    out[i] = rows;
    left -= rows * p.rowBytes;
  });
  return out;
}

/** Threads that make files when not told: one per core, at most 4 (the disk is the limit past that). */
function defaultMakers(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** Whether the files can be made on threads: drawn from the seed, every piece by a uniform rule (the wasm kernel's). */
function onThreads(source: TableSource, pieces: readonly EmbeddingPiece[]): boolean {
  return source.kind === "seed" && pieces.every((p) => p.init.kind === "uniform");
}

/** "table 3", or "table 3 rows [a, b)" for a rank's range. */
function rangeLabel(piece: EmbeddingPiece, range: RowRange | null): string {
  return range === null ? piece.label : `${piece.label} rows [${range.rowStart}, ${range.rowEnd})`;
}

/** A coming batch's ids of a piece (of a range: those in it, from 0); a batch with bad ids is left out (its step reports them). */
function foreseenIds(piece: EmbeddingPiece, d: ForeseenBatch, range: RowRange | null): Int32Array {
  const f = d.sparse[piece.table];
  if (f === undefined) return new Int32Array(0);
  try {
    const ids = pieceIds(piece, f.indices, f.offsets);
    return range === null ? ids : rowRange(ids, f.offsets, null, range, false).indices;
  } catch {
    return new Int32Array(0);
  }
}

/** Copy floats [offset, offset + perRow) of n records of F floats into out (n · perRow). */
function unpack(records: Float32Array, F: number, offset: number, perRow: number, n: number, out: Float32Array): void {
  if (perRow === F) {
    out.set(records.subarray(0, n * F));
    return;
  }
  for (let i = 0; i < n; i++) out.set(records.subarray(i * F + offset, i * F + offset + perRow), i * perRow);
}

/**
 * The file of rows [rowStart, rowStart + rows) of a piece, made anew from the source, a chunk
 * of records at a time in `chunk` (resident: the generator draws the weights straight into
 * the records, each row's state is set around them, and the chunk is written in one go).
 */
function makeFile(
  path: string,
  piece: EmbeddingPiece,
  rowStart: number,
  rows: number,
  record: RowRecord,
  source: TableSource,
  chunk: Float32Array,
): RowFile {
  const F = record.floats;
  const W = piece.dim;
  let scratch = new Float32Array(0);
  return RowFile.create(
    path,
    rows,
    F,
    (firstInFile, into) => {
      const first = rowStart + firstInFile; // the piece's row
      const n = into.length / F;
      for (const part of record.parts) {
        const P = part.perRow;
        if (source.kind === "seed") {
          if (part.key === null) fillInitialRows(source.seed, piece.name, piece.init, into, first * W, n, W, F);
          else setRows(into, F, part.offset, P, n, part.initial);
        } else if (part.key === null || source.withOptimizer) {
          if (scratch.length < n * P) scratch = new Float32Array(n * P);
          const values = scratch.subarray(0, n * P);
          source.read(part.key === null ? piece.name : stateTensorName(piece.name, part.key), first * P, values);
          for (let k = 0; k < n; k++) into.set(values.subarray(k * P, (k + 1) * P), k * F + part.offset);
        } else setRows(into, F, part.offset, P, n, part.initial);
      }
    },
    chunk,
  );
}

/** Floats [at, at + P) of each of n records of F floats to v. */
function setRows(into: Float32Array, F: number, at: number, P: number, n: number, v: number): void {
  if (P === 1) for (let k = 0; k < n; k++) into[k * F + at] = v;
  else for (let k = 0; k < n; k++) into.fill(v, k * F + at, k * F + at + P);
}
