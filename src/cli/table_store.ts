// `dlrm train --table-dir DIR --table-cache-bytes N [--table-cache-policy lookahead|lru]
// [--table-prefetch K]`:
// the tables live in files in DIR with at most N bytes of rows resident
// (src/dlrm/store/disk_tables.ts, src/train/disk_executor.ts). These flags change where the
// rows are, never the numbers: they are not run flags, and a run may be resumed with or
// without them. On N workers each rank has its own store, and the report at the end is one
// line per rank and their sum.

import { existsSync, statSync } from "node:fs";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import { HybridExecutor } from "../parallel/hybrid.ts";
import { STORE_FIGURES, storeFigures, type StoreFigures } from "../parallel/protocol.ts";
import { DiskTableExecutor, type DiskModelSource } from "../train/disk_executor.ts";
import { DEFAULT_PREFETCH } from "../train/batch_feed.ts";
import type { Executor } from "../train/executor.ts";
import { getString, nonNegativeInt, oneOf, UsageError, type FlagSpecs, type Io, type ParsedFlags } from "./args.ts";

export const TABLE_STORE_FLAGS: FlagSpecs = {
  "table-dir": {
    type: "string",
    placeholder: "dir",
    help: "keep the embedding tables in files in this directory (made anew from the seed, --init or --resume; each rank its own), with --table-cache-bytes of rows in memory; the model is the in-memory one bit for bit (default --workers 1)",
  },
  "table-cache-bytes": {
    type: "string",
    placeholder: "N[KiB|MiB|GiB]",
    help: "with --table-dir: bytes of table rows (weights and optimizer state) held in memory at most, all ranks together (default 256MiB)",
  },
  "table-cache-policy": {
    type: "string",
    placeholder: "lookahead|lru",
    help: `with --table-dir: which rows leave the cache: lookahead (default) evicts the row used farthest in the next ${DEFAULT_PREFETCH} batches (each rank its own rows of them); lru the least recently used`,
  },
  "table-io": {
    type: "string",
    placeholder: "thread|sync",
    help: "with --table-dir: rows move between the files and the cache on a reader thread while the step computes (thread, the default), or on the step's thread (sync: for comparison)",
  },
  "table-prefetch": {
    type: "int",
    placeholder: "K",
    help: `with --table-cache-policy lookahead: the missing rows of the next K batches (0 to ${DEFAULT_PREFETCH}) are read on a reader thread while the step computes (default 1; 0: read at their step)`,
  },
};

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
};

/** A byte count such as 4096, 512MiB or 1.5GB. */
export function parseBytes(verb: string, flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?$/.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2] ?? ""];
  const n = m === null || unit === undefined ? Number.NaN : Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${verb}: ${flag} must be a positive byte count (4096, 512MiB, 2GiB, 1.5GB), got "${text}"`);
  return n;
}

/** The table store the flags of verb (train, predict) ask for, or null (tables in memory). */
export function tableStoreOptions(f: ParsedFlags, verb = "train"): TableStoreOptions | null {
  const dir = getString(f, "table-dir");
  if (dir === undefined) {
    for (const name of ["table-cache-bytes", "table-cache-policy", "table-prefetch", "table-io"])
      if (f.has(name)) throw new UsageError(`${verb}: --${name} goes with --table-dir`);
    return null;
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`${verb}: --table-dir ${dir} is not a directory`);
  const bytes = getString(f, "table-cache-bytes");
  const policy = oneOf(verb, f, "table-cache-policy", ["lookahead", "lru"] as const, "lookahead");
  const prefetch = nonNegativeInt(verb, f, "table-prefetch");
  if (prefetch !== undefined && policy === "lru")
    throw new UsageError(
      `${verb}: --table-prefetch reads ahead the look-ahead's batches: it needs --table-cache-policy lookahead`,
    );
  if (prefetch !== undefined && prefetch > DEFAULT_PREFETCH)
    throw new UsageError(
      `${verb}: --table-prefetch ${prefetch} is past the ${DEFAULT_PREFETCH} batches the look-ahead sees`,
    );
  const io = oneOf(verb, f, "table-io", ["thread", "sync"] as const, "thread");
  if (io === "sync" && prefetch !== undefined && prefetch > 0)
    throw new UsageError(
      `${verb}: --table-prefetch ${prefetch} reads on the reader thread: it needs --table-io thread`,
    );
  return {
    dir,
    cacheBytes: bytes === undefined ? DEFAULT_CACHE_BYTES : parseBytes(verb, "--table-cache-bytes", bytes),
    lookAhead: policy === "lru" ? 0 : DEFAULT_PREFETCH,
    ...(prefetch === undefined ? {} : { prefetch }),
    ...(io === "sync" ? { readerThread: false, prefetch: 0 } : {}),
  };
}

/** --table-dir and --table-cache-bytes for dlrm predict: the checkpoint's tables copied into files, served through the cache. */
export const PREDICT_TABLE_STORE_FLAGS: FlagSpecs = {
  "table-dir": {
    type: "string",
    placeholder: "dir",
    help: "copy the checkpoint's tables into files in this directory and predict with --table-cache-bytes of rows in memory (the checkpoint is only read)",
  },
  "table-cache-bytes": TABLE_STORE_FLAGS["table-cache-bytes"],
};

/** The executor of a run whose tables are on disk. */
export function startDiskExecutor(
  config: DLRMConfig,
  spec: OptimizerSpec,
  source: DiskModelSource,
  store: TableStoreOptions,
): Executor {
  return new DiskTableExecutor(config, spec, source, store);
}

/**
 * What the table store did in a run, as a line on stderr (JSON after the colon): on N workers
 * one per rank (its shards' store), then the ranks' sum with the one-worker line's label.
 */
export async function reportTableStore(executor: Executor, io: Io): Promise<void> {
  const write = (label: string, f: StoreFigures, lookAhead: number): void => {
    io.stderr.write(`dlrm train: ${label}: ${JSON.stringify(storeLine(f, lookAhead))}\n`);
  };
  if (executor instanceof DiskTableExecutor) {
    write("table store", storeFigures(executor.tables), executor.lookAhead);
    return;
  }
  if (!(executor instanceof HybridExecutor)) return;
  const ranks = await executor.storeFigures();
  if (ranks === null) return;
  ranks.forEach((f, r) => write(`table store (rank ${r} of ${ranks.length})`, f, executor.lookAhead));
  write("table store", sumFigures(ranks), executor.lookAhead);
}

/** The ranks' figures together: counts, bytes and milliseconds summed; a reader thread if every rank had one. */
function sumFigures(ranks: readonly StoreFigures[]): StoreFigures {
  const sum = Object.fromEntries(STORE_FIGURES.map((k) => [k, ranks.reduce((a, f) => a + f[k], 0)])) as StoreFigures;
  sum.prefetch = ranks[0]?.prefetch ?? 0; // the same on every rank: a setting, not a count
  sum.readerThread = ranks.every((f) => f.readerThread === 1) ? 1 : 0;
  return sum;
}

/** The line's fields, in its order. */
function storeLine(f: StoreFigures, lookAhead: number): Record<string, unknown> {
  return {
    policy: lookAhead > 0 ? `lookahead ${lookAhead}, prefetch ${f.prefetch}` : "lru",
    reader_thread: f.readerThread === 1,
    resident_bytes: f.residentBytes,
    file_bytes: f.fileBytes,
    files_made_ms: Math.round(f.madeMs),
    lookups: f.lookups,
    hits: f.hits,
    hit_rate: f.lookups === 0 ? null : Math.round((f.hits / f.lookups) * 1e4) / 1e4,
    rows_read: f.reads,
    rows_read_ahead: f.readAhead,
    rows_written: f.writes,
    wait_ms: Math.round(f.waitedMs),
    bytes_read: f.bytesRead,
    bytes_written: f.bytesWritten,
  };
}
