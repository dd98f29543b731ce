// Safetensors files read and written (F32, F64, F16, BF16, I32, I64, U8), with strict validation of
// everything read, and atomic writes (temp file in the same folder, then rename). F16 and BF16
// tensors are held as their 16-bit patterns (Uint16Array); toFloat32 upcasts them (exactly).
//
// File layout: 8 bytes little-endian u64 header length H, H bytes of UTF-8 JSON
// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`,
// then the data section; offsets are relative to the start of the data section and all
// values are little-endian.
//
// Glossary: H header bytes, D data-section bytes, T tensors in a file.
//
// Every length read from a file is checked against the file's size before anything is
// allocated from it, so a malformed or hostile file costs at most its own size in memory.
// Files are read by position (the header alone first, then one tensor at a time) and read
// and written in chunks of at most 64 MiB, so files past 2 and 4 GiB work like small ones.
// The format in memory (dtypes, the writer's plan, serializeSafetensors, layoutSafetensors)
// lives in src/io/safetensors_bytes.ts, and reading a header and decoding tensors in
// src/io/safetensors_index.ts, which need no file access.

import { closeSync, openSync, readSync } from "node:fs";
import { AtomicWriteError, writeFilesTogether } from "./atomic_file.ts";
import { halfsToFloat32 } from "./dtype.ts";
import { openInputFile } from "./input_file.ts";
import { echo } from "./json.ts";
import { decodeData, indexSafetensors, type SafetensorsEntry, type SafetensorsIndex } from "./safetensors_index.ts";
import { planSafetensors, SafetensorsError, type SafetensorsTensor, type TensorsIn } from "./safetensors_bytes.ts";
export {
  layoutSafetensors,
  SafetensorsError,
  serializeSafetensors,
  type SafetensorsData,
  type SafetensorsDType,
  type SafetensorsTensor,
} from "./safetensors_bytes.ts";

export {
  parseSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsIndex,
} from "./safetensors_index.ts";
import type { SafetensorsFile } from "./safetensors_index.ts";

function cannotRead(path: string, e: unknown): SafetensorsError {
  return new SafetensorsError(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
}

/** Positional reads of the bytes [at, at + dst.length) of an open file, in bounded chunks (no
 *  single read over 2 GiB, offsets past 2^32 alike). */
function readAt(fd: number, dst: Uint8Array, at: number, path: string, what: string): void {
  const CHUNK = 64 * 1024 * 1024;
  for (let done = 0; done < dst.length;) {
    let n: number;
    try {
      n = readSync(fd, dst, done, Math.min(CHUNK, dst.length - done), at + done);
    } catch (e) {
      throw cannotRead(path, e);
    }
    if (n === 0)
      throw new SafetensorsError(
        `${path}: ${what}: the file ended early (at byte ${at + done}; was it cut while being read?)`,
      );
    done += n;
  }
}

/** The header of a file, read alone by positional reads and checked in full against the file's size. */
export function readSafetensorsIndex(path: string): SafetensorsIndex {
  const { fd, size: fileBytes } = openInputFile(path, "a safetensors file", (m) => new SafetensorsError(m));
  try {
    return indexSafetensors(path, fileBytes, (dst, at, what) => readAt(fd, dst, at, path, what));
  } finally {
    closeSync(fd);
  }
}

/** Runs use(fd) on the given open file, or on the indexed file opened for the call. */
function withFile<T>(index: SafetensorsIndex, fd: number | undefined, use: (fd: number) => T): T {
  if (fd !== undefined) return use(fd);
  let own: number;
  try {
    own = openSync(index.path, "r");
  } catch (e) {
    throw cannotRead(index.path, e);
  }
  try {
    return use(own);
  } finally {
    closeSync(own);
  }
}

function entryOf(index: SafetensorsIndex, name: string): SafetensorsEntry {
  const e = index.entries.get(name);
  if (e === undefined) throw new SafetensorsError(`${index.path}: no tensor ${echo(name)}`);
  return e;
}

/** Positional read of into.byteLength bytes of tensor name, from byte byteFrom of its data. */
export function readTensorBytes(
  index: SafetensorsIndex,
  name: string,
  byteFrom: number,
  into: ArrayBufferView,
  fd?: number,
): void {
  const e = entryOf(index, name);
  if (byteFrom < 0 || e.begin + byteFrom + into.byteLength > e.end) {
    throw new SafetensorsError(
      `${index.path}: tensor ${echo(name)}: bytes [${byteFrom}, ${byteFrom + into.byteLength}) are outside its ${e.end - e.begin} bytes`,
    );
  }
  const dst = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
  withFile(index, fd, (f) => readAt(f, dst, e.begin + byteFrom, index.path, `tensor ${echo(name)}`));
}

/** One whole tensor of an indexed file, read by positional I/O. */
export function readTensor(index: SafetensorsIndex, name: string, fd?: number): SafetensorsTensor {
  const e = entryOf(index, name);
  const bytes = new Uint8Array(e.end - e.begin);
  withFile(index, fd, (f) => readAt(f, bytes, e.begin, index.path, `tensor ${echo(name)}`));
  return { dtype: e.dtype, shape: e.shape.slice(), data: decodeData(e.dtype, bytes) };
}

/** Reads and parses a safetensors file, tensor by tensor; errors name `path`. */
export function readSafetensors(path: string): SafetensorsFile {
  const index = readSafetensorsIndex(path);
  const tensors = new Map<string, SafetensorsTensor>();
  withFile(index, undefined, (fd) => {
    for (const name of index.entries.keys()) tensors.set(name, readTensor(index, name, fd));
  });
  return { tensors, metadata: index.metadata };
}

// ---------------------------------------------------------------------------------------
// Writing files

/** Writes a safetensors file atomically: everything is checked first, then written to a
 *  temp file in the same folder and renamed over `path`; on failure the temp file is
 *  removed and an existing `path` is left as it was. */
export function writeSafetensors(path: string, tensors: TensorsIn, metadata?: Record<string, string>): void {
  writeSafetensorsTogether([{ path, tensors, metadata }]);
}

/**
 * Writes several files that belong together (a batch file and its dictionary): every file is
 * checked, then written to its temp file and made durable; only when all are complete are
 * they renamed into place, in the order given (src/io/atomic_file.ts, the one mechanism of
 * atomic writes). On failure before the renames every temp file is removed and the existing
 * files are left as they were.
 */
export function writeSafetensorsTogether(
  files: readonly { path: string; tensors: TensorsIn; metadata?: Record<string, string> | undefined }[],
): void {
  const plans = files.map((f) => planSafetensors(f.path, f.tensors, f.metadata)); // every file checked before any is written
  try {
    writeFilesTogether(
      files.map((f, i) => ({
        path: f.path,
        fill: (write) => {
          const p = plans[i];
          write(p.header);
          for (const c of p.chunks) write(c);
        },
      })),
    );
  } catch (e) {
    const path = e instanceof AtomicWriteError ? e.path : (files[0]?.path ?? "");
    throw new SafetensorsError(`${path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// ---------------------------------------------------------------------------------------
// Conversions for consumers

/** The values of an integer tensor as int32: I32 as is, I64 checked to fit. */
export function toInt32(t: SafetensorsTensor, what: string): Int32Array {
  if (t.dtype === "I32" && t.data instanceof Int32Array) return t.data;
  if (t.dtype === "I64" && t.data instanceof BigInt64Array) {
    const src = t.data;
    const out = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v < -2147483648n || v > 2147483647n) {
        throw new SafetensorsError(`${what}: value ${v} at position ${i} does not fit in int32`);
      }
      out[i] = Number(v);
    }
    return out;
  }
  throw new SafetensorsError(`${what}: expected an integer tensor (I32 or I64), got ${t.dtype}`);
}

/** The values of a float tensor as float32: F32 as is, F64 rounded to nearest float32, F16 and BF16 upcast (exactly). */
export function toFloat32(t: SafetensorsTensor, what: string): Float32Array {
  if (t.dtype === "F32" && t.data instanceof Float32Array) return t.data;
  if (t.dtype === "F64" && t.data instanceof Float64Array) return Float32Array.from(t.data);
  if ((t.dtype === "F16" || t.dtype === "BF16") && t.data instanceof Uint16Array)
    return halfsToFloat32(t.dtype, t.data);
  throw new SafetensorsError(`${what}: expected a float tensor (F32, F64, F16 or BF16), got ${t.dtype}`);
}
