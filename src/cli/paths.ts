// Input and output paths, checked before any work starts, so that a run never trains for an
// hour and then fails to save, never overwrites what it reads, and never reads what does not end:
//   - each input that exists is a regular file: a device (/dev/zero, /dev/urandom) never ends
//     and a pipe blocks until a writer comes; a folder where a file is expected is named as such
//     (an input that does not exist is left to its reader, which names it);
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

/** Throws a UsageError unless each input that exists is a regular file. */
export function checkInputs(verb: string, inputs: readonly NamedPath[]): void {
  for (const input of inputs) {
    const s = statOrNull(input.path);
    if (s === null || s.isFile()) continue;
    const where = `${verb}: ${input.flag} ${input.path}`;
    if (s.isDirectory()) throw new UsageError(`${where}: is a folder; ${input.flag} names a file`);
    throw new UsageError(
      `${where}: is not a regular file (a device, a pipe or a socket, which may never end or block); inputs are read from regular files only`,
    );
  }
}

/**
 * Checks every input and output before any work: inputs are regular files (checkInputs);
 * outputs have a writable folder and are not one of the inputs or another output, unless
 * allowed(output, input) says that pair may be the same file.
 */
export function checkOutputs(
  verb: string,
  outputs: readonly NamedPath[],
  inputs: readonly NamedPath[],
  allowed: (output: NamedPath, input: NamedPath) => boolean = () => false,
): void {
  checkInputs(verb, inputs);
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
    for (const { named, stat } of inputStats) {
      // a path that does not exist yet is compared by name (the input may be missing too)
      const same = o !== null && stat !== null ? sameFile(o, stat) : resolve(out.path) === resolve(named.path);
      if (!same || allowed(out, named)) continue;
      throw new UsageError(
        `${verb}: ${out.flag} ${out.path} is the same file as ${named.flag} ${named.path}: writing it would destroy an input; give another path`,
      );
    }
  }
}
