// Atomic file writes: the bytes go to a temporary file in the destination's folder, reach
// the disk (fsync), and only then does a rename make them visible under the real name. On
// failure, or if the process exits midway, the temporary file is removed and an existing
// file of that name is left as it was (temporary names and the cleanup of a dead process's
// leftovers: temp_file.ts). Writes are positional, so files past 2 and 4 GiB are
// written like small ones.

import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { removeStaleTemps, tempPathFor } from "./temp_file.ts";

/** Write path atomically from the chunks fill hands to write, in order; returns the bytes written. */
export function writeFileAtomically(path: string, fill: (write: (chunk: Uint8Array) => void) => void): number {
  removeStaleTemps(path); // those of processes that died while writing it
  const tmp = tempPathFor(path);
  const removeTmp = (): void => {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
  };
  let fd: number | null = null;
  let position = 0;
  process.on("exit", removeTmp);
  try {
    fd = openSync(tmp, "wx");
    const out = fd;
    fill((chunk) => {
      for (let done = 0; done < chunk.length;) {
        const n = writeSync(out, chunk, done, chunk.length - done, position);
        done += n;
        position += n;
      }
    });
    fsyncSync(fd); // the bytes reach the disk before the rename makes them visible
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
    return position;
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    removeTmp();
    throw e;
  } finally {
    process.off("exit", removeTmp);
  }
}
