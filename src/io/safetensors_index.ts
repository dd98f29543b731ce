// A safetensors file read without file access of its own (src/io/safetensors.ts describes the
// layout): its header read alone through positional reads handed in and checked in full
// against the file's size (indexSafetensors), what a file's first bytes say it is when it is
// not safetensors, and tensors decoded from bytes (decodeData; parseSafetensors, a file held
// in memory). Node's files use it through src/io/safetensors.ts; the data layer's readers
// through the file access they are handed (src/data/files.ts), so a page reads the same files.
//
// Glossary: H header bytes, D data-section bytes.

import { echo, parseJson } from "./json.ts";
import { formatShape } from "../tensor/shape.ts";
import {
  DTYPE_SIZE,
  HOST_LITTLE_ENDIAN,
  isDType,
  METADATA_KEY,
  SafetensorsError,
  SUPPORTED,
  type SafetensorsData,
  type SafetensorsDType,
  type SafetensorsTensor,
} from "./safetensors_bytes.ts";

export interface SafetensorsFile {
  /** In the order of their bytes in the file (for files we write: insertion order). */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A header longer than this is refused before it is decoded (the reference uses the same cap). */
const MAX_HEADER_BYTES = 100_000_000;
/** A header nests 3 deep ({name: {shape: [...]}}); a deeper one is refused before JSON.parse recurses into it. */
const MAX_HEADER_DEPTH = 8;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------
// Reading

/** The typed array of `dtype` holding `bytes` (little-endian); bytes that are a whole buffer
 *  of their own are used in place, others are copied to a fresh aligned buffer first. */
export function decodeData(dtype: SafetensorsDType, bytes: Uint8Array): SafetensorsData {
  const n = bytes.length / DTYPE_SIZE[dtype];
  const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const copy = owned ? bytes : new Uint8Array(bytes); // offset 0 of its buffer: aligned for any view
  if (HOST_LITTLE_ENDIAN) {
    switch (dtype) {
      case "F32":
        return new Float32Array(copy.buffer);
      case "F64":
        return new Float64Array(copy.buffer);
      case "F16":
      case "BF16":
        return new Uint16Array(copy.buffer);
      case "I32":
        return new Int32Array(copy.buffer);
      case "I64":
        return new BigInt64Array(copy.buffer);
      case "U8":
        return copy;
    }
  }
  const view = new DataView(copy.buffer);
  switch (dtype) {
    case "F32":
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case "F64":
      return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
    case "F16":
    case "BF16":
      return Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
    case "I32":
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
    case "I64":
      return BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(8 * i, true));
    case "U8":
      return copy;
  }
}

/** A tensor as the header describes it; begin and end are relative to the data section. */
interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** One header entry checked for types, dtype, shape and its byte count; offsets against D. */
function checkEntry(file: string, name: string, raw: unknown, D: number): Entry {
  const where = `${file}: tensor ${echo(name)}`;
  if (!isPlainObject(raw)) throw new SafetensorsError(`${where}: header entry is not an object: ${echo(raw)}`);
  for (const key of ["dtype", "shape", "data_offsets"]) {
    if (!(key in raw)) throw new SafetensorsError(`${where}: header entry has no "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string") throw new SafetensorsError(`${where}: dtype must be a string, got ${echo(dtype)}`);
  if (!isDType(dtype)) throw new SafetensorsError(`${where}: unknown dtype "${dtype}" (supported: ${SUPPORTED})`);
  if (!Array.isArray(shape))
    throw new SafetensorsError(`${where}: shape must be an array of integers, got ${echo(shape)}`);
  let count = 1;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(
        `${where}: shape ${echo(shape)} has a dimension that is not a non-negative integer: ${echo(d)}`,
      );
    }
    count *= d;
  }
  if (!Number.isSafeInteger(count)) throw new SafetensorsError(`${where}: shape ${echo(shape)} has too many elements`);
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new SafetensorsError(
      `${where}: data_offsets must be [begin, end] with non-negative integers, got ${echo(offsets)}`,
    );
  }
  const begin = offsets[0];
  const end = offsets[1];
  if (begin > end) throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] have begin after end`);
  if (end > D) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${D} bytes; is the file truncated?)`,
    );
  }
  const nbytes = count * DTYPE_SIZE[dtype];
  if (nbytes !== end - begin) {
    throw new SafetensorsError(
      `${where}: shape ${formatShape(shape)} of ${dtype} needs ${nbytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape.slice(), begin, end };
}

/**
 * The first key that an object of this JSON text (already known to be valid) holds twice,
 * with the key of its parent object ("" at the top). JSON.parse keeps the last of equal keys
 * silently; a header with two entries of one name would lose a tensor without a word.
 */
function duplicateKey(text: string): { key: string; parent: string } | null {
  // One frame per open object or array: its keys (objects only) and the key it sits under.
  const frames: { keys: Set<string> | null; parent: string }[] = [];
  let lastKey = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") frames.push({ keys: c === "{" ? new Set() : null, parent: lastKey });
    else if (c === "}" || c === "]") frames.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const s = JSON.parse(text.slice(i, j + 1)) as string;
      let k = j + 1;
      while (text[k] === " " || text[k] === "\t" || text[k] === "\n" || text[k] === "\r") k++;
      const frame = frames[frames.length - 1];
      if (text[k] === ":" && frame?.keys) {
        if (frame.keys.has(s)) return { key: s, parent: frame.parent };
        frame.keys.add(s);
        lastKey = s;
      }
      i = j;
    }
  }
  return null;
}

/**
 * The header (the H bytes after the length) of a file whose data section has D bytes, checked
 * as the format's own reader does: valid UTF-8 JSON object, no name twice, every entry well
 * formed, and the tensors' byte ranges, in file order, covering the data section exactly
 * (no gap, no overlap, nothing after the last). Entries come back in file order.
 */
function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  D: number,
): { entries: Entry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(`${file}: header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = parseJson(text, MAX_HEADER_DEPTH);
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(header)) throw new SafetensorsError(`${file}: header is not a JSON object`);
  const twice = duplicateKey(text);
  if (twice !== null) {
    throw new SafetensorsError(
      twice.parent === ""
        ? `${file}: tensor ${echo(twice.key)} appears twice in the header`
        : `${file}: header: ${echo(twice.parent)} has the key ${echo(twice.key)} twice`,
    );
  }

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw))
        throw new SafetensorsError(`${file}: __metadata__ must be an object of strings, got ${echo(raw)}`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string")
          throw new SafetensorsError(`${file}: __metadata__ must map strings to strings, but ${echo(k)} is ${echo(v)}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    entries.push(checkEntry(file, name, raw, D));
  }

  // File order: by begin, then end (an empty tensor before a full one at the same offset).
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0; // the end of the bytes covered so far
  let prev: Entry | null = null;
  for (const e of entries) {
    if (e.begin < at && prev !== null) {
      throw new SafetensorsError(
        `${file}: tensor ${echo(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap those of tensor ${echo(prev.name)} [${prev.begin}, ${prev.end}]`,
      );
    }
    if (e.begin > at) {
      throw new SafetensorsError(
        `${file}: tensor ${echo(e.name)}: data_offsets [${e.begin}, ${e.end}] leave a gap: bytes [${at}, ${e.begin}) of the data section belong to no tensor`,
      );
    }
    at = e.end;
    if (e.end > e.begin) prev = e;
  }
  if (at !== D)
    throw new SafetensorsError(
      `${file}: ${D - at} bytes after the last tensor belong to no tensor (the data section is ${D} bytes, its tensors end at ${at})`,
    );
  return { entries, metadata };
}

/** H from the 8-byte length field at the start of first (the file's first bytes), checked against the cap and the file's size. */
function headerLength(file: string, first: Uint8Array, fileBytes: number): number {
  if (fileBytes < 8)
    throw new SafetensorsError(
      `${file}: file is ${fileBytes} bytes, shorter than the 8-byte header length${looksLike(first, "; ")}`,
    );
  const H64 = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (H64 > BigInt(MAX_HEADER_BYTES))
    throw new SafetensorsError(
      `${file}: header length ${H64} is absurdly large (limit ${MAX_HEADER_BYTES} bytes)${looksLike(first, "; ")}`,
    );
  const H = Number(H64);
  if (8 + H > fileBytes)
    throw new SafetensorsError(
      `${file}: header length ${H} runs past the end of the file (${fileBytes} bytes; is the file truncated?)${looksLike(first, "; ")}`,
    );
  return H;
}

/** Bytes read from a file's start to tell what it is when it is not safetensors. */
export const SNIFF_BYTES = 64;

/** What a file starting with these bytes is, when that is recognisable and not safetensors: after `lead`, or "". */
function looksLike(first: Uint8Array, lead: string): string {
  if (first.length >= 4 && first[0] === 0x50 && first[1] === 0x4b && first[2] === 3 && first[3] === 4)
    return `${lead}it is a zip archive, as a PyTorch .pt file is (name it .pt), not a safetensors file`;
  const text = first.length > 0 && first.every((b) => b === 9 || b === 10 || b === 13 || (b >= 0x20 && b < 0x7f));
  if (!text) return "";
  const line = new TextDecoder("latin1").decode(first).split(/\r?\n/)[0];
  const kind = line.includes("\t") ? "a tab-separated text file" : "a text file";
  return `${lead}it is ${kind} (it starts ${echo(line)}), not a safetensors file`;
}

/** Parses a safetensors file held in memory; `file` only names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const H = headerLength(file, bytes.subarray(0, SNIFF_BYTES), bytes.length);
  const { entries, metadata } = parseHeader(file, bytes.subarray(8, 8 + H), bytes.length - 8 - H);
  const tensors = new Map<string, SafetensorsTensor>();
  const start = 8 + H;
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: decodeData(e.dtype, bytes.subarray(start + e.begin, start + e.end)),
    });
  }
  return { tensors, metadata };
}

/** A tensor of an indexed file: its header entry with absolute byte offsets in the file. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

/** A file's header, read alone: what is where, so that tensors can be read one at a time. */
export interface SafetensorsIndex {
  path: string;
  fileBytes: number;
  dataStart: number;
  /** In file order. */
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** Reads the bytes [at, at + dst.length) of the file into dst, or throws naming `what` it read. */
export type ReadAt = (dst: Uint8Array, at: number, what: string) => void;

/** The header of a file of fileBytes bytes, read alone by positional reads and checked in full against the file's size. */
export function indexSafetensors(path: string, fileBytes: number, readAt: ReadAt): SafetensorsIndex {
  const first = new Uint8Array(Math.min(SNIFF_BYTES, fileBytes));
  readAt(first, 0, "header length");
  const H = headerLength(path, first, fileBytes);
  const head = new Uint8Array(H);
  readAt(head, 8, "header");
  const parsed = parseHeader(path, head, fileBytes - 8 - H);
  const entries = new Map<string, SafetensorsEntry>();
  for (const e of parsed.entries)
    entries.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, begin: 8 + H + e.begin, end: 8 + H + e.end });
  return { path, fileBytes, dataStart: 8 + H, entries, metadata: parsed.metadata };
}

/** What a file of `size` bytes starting with `first` (its first SNIFF_BYTES or fewer) is,
 *  when recognisably not safetensors (text, a zip archive); null when it may be. */
export function notSafetensorsBytes(first: Uint8Array, size: number): string | null {
  const H = first.length >= 8 ? new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true) : null;
  if (H !== null && H <= BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) return null;
  const what = looksLike(first, "");
  return what === "" ? null : what;
}
