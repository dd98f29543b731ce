// Output paths, checked before any work starts, so that a run never trains for an hour and
// then fails to save, and never overwrites what it reads:
//   - each output's folder exists and a file can be created in it (tried with a probe file,
//     which also catches read-only mounts and works for root, whom access(2) lets through);
//   - an output that exists is a regular file (a rename would replace a device or a pipe),
//     except a log, which is written in place;
//   - no output is one of the inputs, nor another output. "The same file" is compared by
//     device and inode, so another spelling of a path (./x, a symlink, a hard link) is caught.
// Some pairs are allowed by the caller: `--save` over `--init` or `--resume` replaces the
// file atomically after it has been read, so a run can continue in place.
//
// Glossary: an input/output is a path and the flag that named it (for the messages).

import { closeSync, openSync, statSync, unlinkSync, type Stats } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { UsageError } from "./args.ts";

export interface NamedPath {
  /** How the user named it, e.g. "--save" or "input file". */
  flag: string;
  path: string;
  /** Written in place (a log: /dev/stdout or a pipe is fine), not replaced by a rename. */
  inPlace?: boolean;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Throws a UsageError unless a file can be created in path's folder and path is not a folder. */
function checkWritable(verb: string, out: NamedPath): void {
  const where = `${verb}: ${out.flag} ${out.path}`;
  const dir = dirname(resolve(out.path));
  const d = statOrNull(dir);
  if (d === null) throw new UsageError(`${where}: the folder ${dir} does not exist`);
  if (!d.isDirectory()) throw new UsageError(`${where}: ${dir} is not a folder`);
  const existing = statOrNull(out.path);
  if (existing?.isDirectory() === true) throw new UsageError(`${where}: is a folder, not a file`);
  // A rename would replace a device or a pipe by a file (as root, /dev/null itself).
  if (existing !== null && !existing.isFile() && out.inPlace !== true)
    throw new UsageError(
      `${where}: is not a regular file (a device or a pipe); outputs are written to a temporary file and renamed over it`,
    );
  const probe = join(dir, `.dlrm-probe.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    closeSync(openSync(probe, "wx"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${where}: cannot create files in ${dir}${code === undefined ? "" : ` (${code})`}`);
  }
  unlinkSync(probe);
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Checks every output before any work: writable folder, and not one of the inputs or another
 * output, unless allowed(output, input) says that pair may be the same file.
 */
export function checkOutputs(
  verb: string,
  outputs: readonly NamedPath[],
  inputs: readonly NamedPath[],
  allowed: (output: NamedPath, input: NamedPath) => boolean = () => false,
): void {
  for (const out of outputs) checkWritable(verb, out);
  const inputStats = inputs.map((i) => ({ named: i, stat: statOrNull(i.path) }));
  for (const [k, out] of outputs.entries()) {
    const o = statOrNull(out.path);
    for (const other of outputs.slice(0, k)) {
      const s = statOrNull(other.path);
      const same = o !== null && s !== null ? sameFile(o, s) : resolve(out.path) === resolve(other.path);
      if (same)
        throw new UsageError(
          `${verb}: ${out.flag} ${out.path} is the same file as ${other.flag} ${other.path}; give each output its own path`,
        );
    }
    if (o === null) continue; // a file that does not exist yet is none of the inputs
    for (const { named, stat } of inputStats) {
      if (stat === null || !sameFile(o, stat) || allowed(out, named)) continue;
      throw new UsageError(
        `${verb}: ${out.flag} ${out.path} is the same file as ${named.flag} ${named.path}: writing it would destroy an input; give another path`,
      );
    }
  }
}
