// Atomic file writes: the bytes go to a temporary file in the destination's folder, reach
// the disk (fsync), and only then does a rename make them visible under the real name. On
// failure, or if the process exits midway, the temporary files are removed and existing
// files of those names are left as they were (temporary names and the cleanup of a dead
// process's leftovers: temp_file.ts). Writes are positional and at most 64 MiB each (Node
// refuses a single write over 2 GiB), so files past 2 and 4 GiB are written like small ones.
//
// Several files that belong together (a batch file and its dictionary) are all written and
// made durable before the first rename, so a failure leaves the old set or none; a crash
// between two renames can still pair a new file with an old one, so readers that care record
// and check a shared id.

import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { removeStaleTemps, tempPathFor } from "./temp_file.ts";

/** Hands the file's bytes, in order, to write. */
export type Fill = (write: (chunk: Uint8Array) => void) => void;

/** A failed write: the file it was writing (or renaming), with the cause's message. */
export class AtomicWriteError extends Error {
  override name = "AtomicWriteError";
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.path = path;
  }
}

const MAX_WRITE = 64 * 1024 * 1024;

/** Write path atomically from the chunks fill hands to write; returns the bytes written. */
export function writeFileAtomically(path: string, fill: Fill): number {
  return writeFilesTogether([{ path, fill }])[0] as number;
}

/** Write every file to its temporary file, then rename them all into place, in the order given; returns the bytes of each. */
export function writeFilesTogether(files: readonly { path: string; fill: Fill }[]): number[] {
  const temps: string[] = [];
  const removeTemps = (): void => {
    for (const tmp of temps) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already renamed
      }
    }
  };
  let current = files[0]?.path ?? "";
  let fd: number | null = null;
  process.on("exit", removeTemps);
  try {
    const sizes = files.map((f) => {
      current = f.path;
      removeStaleTemps(f.path); // those of processes that died while writing it
      const tmp = tempPathFor(f.path);
      fd = openSync(tmp, "wx");
      temps.push(tmp);
      const out = fd;
      let position = 0;
      f.fill((chunk) => {
        for (let done = 0; done < chunk.length;) {
          const n = writeSync(out, chunk, done, Math.min(MAX_WRITE, chunk.length - done), position);
          done += n;
          position += n;
        }
      });
      fsyncSync(fd); // the bytes reach the disk before the rename makes them visible
      closeSync(fd);
      fd = null;
      return position;
    });
    files.forEach((f, i) => {
      current = f.path;
      renameSync(temps[i] as string, f.path);
    });
    return sizes;
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    removeTemps();
    throw new AtomicWriteError(current, e);
  } finally {
    process.off("exit", removeTemps);
  }
}
