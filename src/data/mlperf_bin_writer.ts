// Writing the MLPerf binary format of Criteo data (src/data/mlperf_bin.ts describes it and
// reads it): samples appended as they come to a temporary file, renamed into place when
// complete. A writer for the CLI's `dlrm preprocess criteo --out x.bin`, so Node's (node:fs).

import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { MLPERF_DENSE, MLPERF_ROW_BYTES, MLPERF_SPARSE } from "./mlperf_bin.ts";
import { replaceAtomically } from "../io/atomic_file.ts";

/** Writes samples to a .bin file as they come (temp file, renamed into place when complete). */
export async function writeMlperfBin(
  path: string,
  fill: (append: (label: number, dense: ArrayLike<number>, ids: ArrayLike<number>) => void) => Promise<void>,
): Promise<number> {
  let rows = 0;
  await replaceAtomically(path, async (tmp) => {
    const fd = openSync(tmp, "w");
    try {
      const BLOCK = 8192; // samples buffered per write
      const buf = Buffer.alloc(BLOCK * MLPERF_ROW_BYTES);
      let used = 0;
      const flush = (): void => {
        let done = 0;
        while (done < used) done += writeSync(fd, buf, done, used - done);
        used = 0;
      };
      await fill((label, dense, ids) => {
        buf.writeInt32LE(label, used);
        for (let d = 0; d < MLPERF_DENSE; d++) buf.writeInt32LE(dense[d], used + 4 * (1 + d));
        for (let t = 0; t < MLPERF_SPARSE; t++) buf.writeInt32LE(ids[t], used + 4 * (1 + MLPERF_DENSE + t));
        used += MLPERF_ROW_BYTES;
        rows++;
        if (used === buf.length) flush();
      });
      flush();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
  return rows;
}
