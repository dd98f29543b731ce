// The metadata of a safetensors file, read from its header alone: a preprocessed batch file
// may be gigabytes, and its tensors are read once, later; a checkpoint's metadata records the
// model config it was trained with.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** The `__metadata__` strings of a safetensors file ({} when it has none). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new Error(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (size < 8 || readSync(fd, head, 0, 8, 0) !== 8) throw new Error(`${path}: not a safetensors file (shorter than its 8-byte header length)`);
    const length = Number(head.readBigUInt64LE(0));
    if (length > size - 8 || length > 100 * 1024 * 1024) {
      throw new Error(`${path}: not a safetensors file (a header of ${length} bytes does not fit the ${size}-byte file)`);
    }
    const json = Buffer.alloc(length);
    readSync(fd, json, 0, length, 8);
    let header: unknown;
    try {
      header = JSON.parse(json.toString("utf8"));
    } catch {
      throw new Error(`${path}: not a safetensors file (its header is not JSON)`);
    }
    const meta = header !== null && typeof header === "object" ? (header as Record<string, unknown>)["__metadata__"] : undefined;
    if (meta === undefined || meta === null || typeof meta !== "object") return {};
    return Object.fromEntries(Object.entries(meta).filter((e): e is [string, string] => typeof e[1] === "string"));
  } finally {
    closeSync(fd);
  }
}
