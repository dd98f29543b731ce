// Temporary files of atomic writes: `path` is written as `.<name>.<pid>.<random>.tmp` in the
// same folder (so that the final rename stays on one file system), then renamed over `path`.
// A process that dies while writing (SIGKILL, a power cut) cannot remove its temporary file,
// so the next write to the same path removes those of processes that no longer exist: a
// crashed run leaves at most one stale file per output, until the output is written again.
// Files of live processes (a save in flight elsewhere) are left alone.
//
// Glossary: pid process id; "stale" a temporary file whose writer no longer runs.

import { readdirSync, unlinkSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/** A fresh temporary name beside path, owned by this process. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"; // it exists, under another user
  }
}

/** Removes the temporary files of path left by processes that no longer run; returns their names. */
export function removeStaleTemps(path: string): string[] {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return []; // the write itself reports an unreadable folder
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name.slice(prefix.length));
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isRunning(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // removed by someone else meanwhile
    }
  }
  return removed;
}
