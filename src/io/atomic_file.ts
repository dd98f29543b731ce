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
  return writeFilesTogether([{ path, fill }])[0];
}

/** The temporary files of one atomic write, removed on failure and if the process exits first. */
class Temps {
  readonly #paths: string[] = [];
  readonly #removeAll = (): void => {
    for (const tmp of this.#paths) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already renamed
      }
    }
  };
  constructor() {
    process.on("exit", this.#removeAll);
  }
  /** A fresh temporary name beside path (after removing those of dead processes). */
  claim(path: string): string {
    removeStaleTemps(path);
    const tmp = tempPathFor(path);
    this.#paths.push(tmp);
    return tmp;
  }
  removeAll(): void {
    this.#removeAll();
  }
  dispose(): void {
    process.off("exit", this.#removeAll);
  }
}

/** Write every file to its temporary file, then rename them all into place, in the order given; returns the bytes of each. */
export function writeFilesTogether(files: readonly { path: string; fill: Fill }[]): number[] {
  const temps = new Temps();
  const names: string[] = [];
  let current = files[0]?.path ?? "";
  let fd: number | null = null;
  try {
    const sizes = files.map((f) => {
      current = f.path;
      const tmp = temps.claim(f.path);
      names.push(tmp);
      fd = openSync(tmp, "wx");
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
      renameSync(names[i], f.path);
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
    temps.removeAll();
    throw new AtomicWriteError(current, e);
  } finally {
    temps.dispose();
  }
}

/**
 * Replace path atomically with a file that write(tmp) makes at a temporary name (for writers
 * that fill it by position from several threads, as checkpoints do): write must leave it
 * complete and durable (fsync); then it is renamed over path.
 */
export async function replaceAtomically(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const temps = new Temps();
  try {
    const tmp = temps.claim(path);
    await write(tmp);
    renameSync(tmp, path);
  } catch (e) {
    temps.removeAll();
    throw new AtomicWriteError(path, e);
  } finally {
    temps.dispose();
  }
}
