// The data layer's file access (src/data/files.ts) over bytes held in memory: the files a page's
// user picked, by path ("ml-100k/u.user"), read by the same readers as the CLI's files on disk.
// Folders are the paths' "/"-separated prefixes. Nothing is written: there is no temporary
// folder, so raw Criteo logs are parsed into memory rather than streamed into a batch file.

import { NotAFileError, type DataFiles, type ReadableFile } from "./files.ts";
import { latin1Text } from "./text_lines.ts";

/** Path segments joined by "/", without empty and "." segments (as Node's join gives them). */
function join(...parts: string[]): string {
  const path = parts
    .join("/")
    .split("/")
    .filter((p, k) => p !== "." && (p !== "" || k === 0))
    .join("/");
  return path === "" ? "." : path;
}

function dirname(path: string): string {
  const k = path.lastIndexOf("/");
  return k < 0 ? "." : k === 0 ? "/" : path.slice(0, k);
}

/** A file of bytes read by position. */
function byteFile(bytes: Uint8Array): ReadableFile {
  const readSync = (dst: Uint8Array, position: number): number => {
    const part = bytes.subarray(Math.min(position, bytes.length), Math.min(position + dst.length, bytes.length));
    dst.set(part);
    return part.length;
  };
  return { size: bytes.length, readSync, read: async (dst, position) => readSync(dst, position), close() {} };
}

/** Files of bytes by path; reading one that is not there names it and the files that are. */
export function byteDataFiles(files: ReadonlyMap<string, Uint8Array>): DataFiles {
  const inFolder = (dir: string): string[] => {
    const prefix = dir === "." ? "" : `${dir.replace(/\/+$/, "")}/`;
    const out = new Set<string>();
    for (const p of files.keys())
      if (p.startsWith(prefix)) out.add(prefix + (p.slice(prefix.length).split("/")[0] as string));
    return [...out];
  };
  const get = (path: string): Uint8Array => {
    const bytes = files.get(path);
    if (bytes === undefined && inFolder(path).length > 0) throw new NotAFileError(path, true);
    if (bytes === undefined)
      throw new Error(
        `${path}: no such file among the ${files.size} given (${[...files.keys()].slice(0, 8).join(", ")})`,
      );
    return bytes;
  };
  return {
    exists: (path) => files.has(path) || inFolder(path).length > 0,
    list(dir) {
      const entries = inFolder(dir);
      if (entries.length === 0) throw new Error(`${dir}: no such folder among the files given`);
      return entries;
    },
    size: (path) => get(path).length,
    readText: (path, encoding) =>
      encoding === "latin1" ? latin1Text(get(path)) : new TextDecoder("utf-8", { ignoreBOM: true }).decode(get(path)),
    open: (path) => byteFile(get(path)),
    tempDir: null,
    join,
    dirname,
  };
}
