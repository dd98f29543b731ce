// A rank's file access in Node (the RankFiles of src/parallel/rank_threads.ts): checkpoints
// read and written by positional I/O of the rank's own pieces (src/dlrm/checkpoint.ts), its
// tables kept in files (--table-dir, src/dlrm/store/disk_tables.ts), and
// the thread's CPU time from /proc. Only the Node rank entry (worker.ts) imports it, so the
// rank itself (rank.ts) loads in a browser.

import { closeSync, openSync, readFileSync } from "node:fs";
import { checkCheckpoint, readPiece, writeSlices } from "../dlrm/checkpoint.ts";
import { DiskTables } from "../dlrm/store/disk_tables.ts";
import type { RankFiles } from "./rank_threads.ts";

let schedstat = true;

/**
 * CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat, ns resolution),
 * or NaN elsewhere. Time spent in Atomics.wait is not CPU time, so this is a rank's own work.
 */
export function threadCpuMs(): number {
  if (!schedstat) return Number.NaN;
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    schedstat = false;
    return Number.NaN;
  }
}

export const nodeRankFiles: RankFiles = {
  openCheckpoint(index, config, optimizer) {
    checkCheckpoint(index, config, optimizer);
    const fd = openSync(index.path, "r");
    return {
      read: (name, first, into) => readPiece(index, name, first, into, fd),
      close: () => closeSync(fd),
    };
  },
  writeSlices(tmp, slots, pieces) {
    const fd = openSync(tmp, "r+");
    try {
      writeSlices(fd, slots, pieces, tmp);
    } finally {
      closeSync(fd);
    }
  },
  openTables: (config, optimizer, source, store, shards) => new DiskTables(config, optimizer, source, store, shards),
  threadCpuMs,
};
