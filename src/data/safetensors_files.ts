// A safetensors file's header (a batch file's, a dictionary's) read through the host's files
// handed in (src/data/files.ts) by src/io/safetensors_index.ts, with the errors Node's reader
// (src/io/safetensors.ts) gives: the file named, a folder or a pipe refused before it is read.

import { NotAFileError, type DataFiles, type ReadableFile } from "./files.ts";
import { SafetensorsError } from "../io/safetensors_bytes.ts";
import {
  indexSafetensors,
  notSafetensorsBytes,
  parseSafetensors,
  SNIFF_BYTES,
  type SafetensorsFile,
  type SafetensorsIndex,
} from "../io/safetensors_index.ts";

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Opens path to read as a safetensors file: a folder, a pipe or a file that cannot be opened is a SafetensorsError naming it. */
export function openSafetensors(path: string, files: DataFiles): ReadableFile {
  try {
    return files.open(path);
  } catch (e) {
    if (e instanceof NotAFileError) throw new SafetensorsError(`${e.message}, not a safetensors file`);
    throw new SafetensorsError(`${path}: cannot read: ${message(e)}`);
  }
}

/** Reads the bytes [at, at + dst.length) of an open file now, or fails naming the file and what was read. */
function readAtSync(file: ReadableFile, path: string, dst: Uint8Array, at: number, what: string): void {
  for (let done = 0; done < dst.length;) {
    let n: number;
    try {
      n = file.readSync(dst.subarray(done), at + done);
    } catch (e) {
      throw new SafetensorsError(`${path}: cannot read: ${message(e)}`);
    }
    if (n === 0)
      throw new SafetensorsError(
        `${path}: ${what}: the file ended early (at byte ${at + done}; was it cut while being read?)`,
      );
    done += n;
  }
}

/** The header of an open file, read alone and checked in full against the file's size. */
export function indexOpenSafetensors(path: string, file: ReadableFile): SafetensorsIndex {
  return indexSafetensors(path, file.size, (dst, at, what) => readAtSync(file, path, dst, at, what));
}

/** The `__metadata__` strings of a safetensors file ({} when it has none), from its header alone. */
export function safetensorsMetadata(path: string, files: DataFiles): Record<string, string> {
  const file = openSafetensors(path, files);
  try {
    return indexOpenSafetensors(path, file).metadata;
  } finally {
    file.close();
  }
}

/** A safetensors file whole (a small one: a dictionary), checked as it is parsed. */
export function readSafetensorsFile(path: string, files: DataFiles): SafetensorsFile {
  const file = openSafetensors(path, files);
  try {
    const bytes = new Uint8Array(file.size);
    readAtSync(file, path, bytes, 0, "its bytes");
    return parseSafetensors(bytes, path);
  } finally {
    file.close();
  }
}

/** What the file at path is, when it is a folder, not a regular file, or recognisably not
 *  safetensors from its first bytes (text, a zip archive); null when it may be safetensors (its
 *  header is then checked by whoever reads it) or does not exist. */
export function notSafetensorsAt(path: string, files: DataFiles): string | null {
  let file: ReadableFile;
  try {
    file = files.open(path);
  } catch (e) {
    if (e instanceof NotAFileError) return `${e.message.slice(path.length + 2)}, not a safetensors file`;
    if (!files.exists(path)) return null;
    return `cannot read: ${message(e)}`;
  }
  try {
    const first = new Uint8Array(Math.min(SNIFF_BYTES, file.size));
    readAtSync(file, path, first, 0, "its first bytes");
    return notSafetensorsBytes(first, file.size);
  } finally {
    file.close();
  }
}
