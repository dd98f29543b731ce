// Safetensors read and write (F32, F64, F16, BF16, I32, I64), with strict validation of
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

import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { writeFileAtomically } from "./atomic_file.ts";
import { halfsToFloat32 } from "./dtype.ts";

export type SafetensorsDType = "F32" | "F64" | "F16" | "BF16" | "I32" | "I64";
/** F16 and BF16 as Uint16Array bit patterns; the other dtypes as their typed array. */
export type SafetensorsData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: SafetensorsData;
}

export interface SafetensorsFile {
  /** In the order of their bytes in the file (for files we write: insertion order). */
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** Bad safetensors input; the message starts with the file name, then the tensor name. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Bytes per element of each supported dtype. */
const DTYPE_SIZE: { readonly [D in SafetensorsDType]: number } = { F32: 4, F64: 8, F16: 2, BF16: 2, I32: 4, I64: 8 };

const SUPPORTED = "F32, F64, F16, BF16, I32, I64";

/** A header longer than this is refused before it is decoded (the reference uses the same cap). */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = "__metadata__";

/** Typed arrays use the platform's byte order; on little-endian hosts (all we know of) the
 *  file's bytes can be copied as they are, elsewhere they go through a DataView. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);
}

function fmtShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------
// Reading

/** The typed array of `dtype` holding `bytes` (little-endian), in a fresh aligned buffer. */
function decodeData(dtype: SafetensorsDType, bytes: Uint8Array): SafetensorsData {
  const n = bytes.length / DTYPE_SIZE[dtype];
  const copy = new Uint8Array(bytes.length); // offset 0 of a fresh buffer: aligned for any view
  copy.set(bytes);
  if (HOST_LITTLE_ENDIAN) {
    switch (dtype) {
      case "F32": return new Float32Array(copy.buffer);
      case "F64": return new Float64Array(copy.buffer);
      case "F16": case "BF16": return new Uint16Array(copy.buffer);
      case "I32": return new Int32Array(copy.buffer);
      case "I64": return new BigInt64Array(copy.buffer);
    }
  }
  const view = new DataView(copy.buffer);
  switch (dtype) {
    case "F32": return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case "F64": return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
    case "F16": case "BF16": return Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
    case "I32": return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
    case "I64": return BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(8 * i, true));
  }
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** One header entry checked for types, dtype, shape and its byte count; offsets against D. */
function checkEntry(file: string, name: string, raw: unknown, D: number): Entry {
  const where = `${file}: tensor "${name}"`;
  if (!isPlainObject(raw)) throw new SafetensorsError(`${where}: header entry is not an object: ${JSON.stringify(raw)}`);
  for (const key of ["dtype", "shape", "data_offsets"]) {
    if (!(key in raw)) throw new SafetensorsError(`${where}: header entry has no "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string") throw new SafetensorsError(`${where}: dtype must be a string, got ${JSON.stringify(dtype)}`);
  if (!isDType(dtype)) throw new SafetensorsError(`${where}: unknown dtype "${dtype}" (supported: ${SUPPORTED})`);
  if (!Array.isArray(shape)) throw new SafetensorsError(`${where}: shape must be an array of integers, got ${JSON.stringify(shape)}`);
  let count = 1;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer: ${JSON.stringify(d)}`);
    }
    count *= d;
  }
  if (!Number.isSafeInteger(count)) throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} has too many elements`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)) {
    throw new SafetensorsError(`${where}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const begin = offsets[0] as number;
  const end = offsets[1] as number;
  if (begin > end) throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] have begin after end`);
  if (end > D) {
    throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${D} bytes; is the file truncated?)`);
  }
  const nbytes = count * DTYPE_SIZE[dtype];
  if (nbytes !== end - begin) {
    throw new SafetensorsError(`${where}: shape ${fmtShape(shape)} of ${dtype} needs ${nbytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype, shape: shape.slice(), begin, end };
}

/** Parses a safetensors file held in memory; `file` only names the source in errors. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  if (bytes.length < 8) throw new SafetensorsError(`${file}: file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const H64 = view.getBigUint64(0, true);
  if (H64 > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${file}: header length ${H64} is absurdly large (limit ${MAX_HEADER_BYTES} bytes)`);
  }
  const H = Number(H64);
  if (8 + H > bytes.length) {
    throw new SafetensorsError(`${file}: header length ${H} runs past the end of the file (${bytes.length} bytes; is the file truncated?)`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + H));
  } catch {
    throw new SafetensorsError(`${file}: header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(header)) throw new SafetensorsError(`${file}: header is not a JSON object`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  const D = bytes.length - 8 - H;
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw)) throw new SafetensorsError(`${file}: __metadata__ must be an object of strings, got ${JSON.stringify(raw)}`);
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== "string") throw new SafetensorsError(`${file}: __metadata__ must map strings to strings, but "${k}" is ${JSON.stringify(v)}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    entries.push(checkEntry(file, name, raw, D));
  }

  // File order; the stable sort keeps header order among empty tensors at the same offset.
  entries.sort((a, b) => a.begin - b.begin);
  let prev: Entry | null = null;
  for (const e of entries) {
    if (e.begin === e.end) continue; // an empty range holds no bytes and overlaps nothing
    if (prev !== null && e.begin < prev.end) {
      throw new SafetensorsError(
        `${file}: tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap those of tensor "${prev.name}" [${prev.begin}, ${prev.end}]`,
      );
    }
    prev = e;
  }

  const tensors = new Map<string, SafetensorsTensor>();
  const start = 8 + H;
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeData(e.dtype, bytes.subarray(start + e.begin, start + e.end)) });
  }
  return { tensors, metadata };
}

/** Reads and parses a safetensors file; errors name `path`. */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseSafetensors(bytes, path);
}

// ---------------------------------------------------------------------------------------
// Writing

/** A validated file ready to be written: the padded header and the tensors' bytes in order. */
interface Plan {
  header: Uint8Array;
  chunks: Uint8Array[];
  size: number;
}

function arrayMatches(dtype: SafetensorsDType, data: unknown): boolean {
  switch (dtype) {
    case "F32": return data instanceof Float32Array;
    case "F64": return data instanceof Float64Array;
    case "F16": case "BF16": return data instanceof Uint16Array;
    case "I32": return data instanceof Int32Array;
    case "I64": return data instanceof BigInt64Array;
  }
}

/** The little-endian bytes of a typed array (a view of it on little-endian hosts). */
function encodeData(data: SafetensorsData): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((x, i) => view.setFloat32(4 * i, x, true));
  else if (data instanceof Float64Array) data.forEach((x, i) => view.setFloat64(8 * i, x, true));
  else if (data instanceof Uint16Array) data.forEach((x, i) => view.setUint16(2 * i, x, true));
  else if (data instanceof Int32Array) data.forEach((x, i) => view.setInt32(4 * i, x, true));
  else data.forEach((x, i) => view.setBigInt64(8 * i, x, true));
  return out;
}

function plan(
  who: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata: Record<string, string> | undefined,
): Plan {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsError(`${who}: metadata must map strings to strings, but "${k}" is ${JSON.stringify(v)}`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    const where = `${who}: tensor "${name}"`;
    if (name === METADATA_KEY) throw new SafetensorsError(`${where}: the name is reserved for the metadata`);
    if (!isDType(t.dtype)) throw new SafetensorsError(`${where}: unknown dtype "${String(t.dtype)}" (supported: ${SUPPORTED})`);
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(`${where}: shape ${JSON.stringify(t.shape)} has a dimension that is not a non-negative integer: ${d}`);
      count *= d;
    }
    if (!arrayMatches(t.dtype, t.data)) {
      throw new SafetensorsError(`${where}: dtype ${t.dtype} needs a ${{ F32: "Float32Array", F64: "Float64Array", F16: "Uint16Array of bit patterns", BF16: "Uint16Array of bit patterns", I32: "Int32Array", I64: "BigInt64Array" }[t.dtype]}, got ${t.data.constructor.name}`);
    }
    if (t.data.length !== count) {
      throw new SafetensorsError(`${where}: data has ${t.data.length} elements but shape ${fmtShape(t.shape)} needs ${count}`);
    }
    const bytes = encodeData(t.data);
    // Defined as a data property so that a name like "__proto__" is an ordinary key.
    Object.defineProperty(header, name, {
      value: { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Spaces up to a multiple of 8, as the reference writer does, so that the data section
  // starts 8-byte aligned in the file.
  const H = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + H).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(H), true);
  head.set(json, 8);
  return { header: head, chunks, size: 8 + H + offset };
}

/** The bytes of a safetensors file: padded header, then the tensors in insertion order. */
export function serializeSafetensors(
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const p = plan("serializeSafetensors", tensors, metadata);
  const out = new Uint8Array(p.size);
  out.set(p.header, 0);
  let at = p.header.length;
  for (const c of p.chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Writes a safetensors file atomically (src/io/atomic_file.ts): everything is checked
 *  first, then written; on failure an existing `path` is left as it was. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): void {
  const p = plan(path, tensors, metadata);
  try {
    writeFileAtomically(path, (write) => {
      write(p.header);
      for (const c of p.chunks) write(c);
    });
  } catch (e) {
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
      const v = src[i] as bigint;
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
  if ((t.dtype === "F16" || t.dtype === "BF16") && t.data instanceof Uint16Array) return halfsToFloat32(t.dtype, t.data);
  throw new SafetensorsError(`${what}: expected a float tensor (F32, F64, F16 or BF16), got ${t.dtype}`);
}

// ---------------------------------------------------------------------------------------
// Positional access (PROVISIONAL: replaced by the chunked reader/writer of issue 13)

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsIndex {
  path: string;
  fileBytes: number;
  dataStart: number;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** The header of a file, read alone by positional reads, with every entry checked against the file's size. */
export function readSafetensorsIndex(path: string): SafetensorsIndex {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const fileBytes = fstatSync(fd).size;
    const len = Buffer.alloc(8);
    if (fileBytes < 8 || readSync(fd, len, 0, 8, 0) !== 8) throw new SafetensorsError(`${path}: file is ${fileBytes} bytes, shorter than the 8-byte header length`);
    const H64 = len.readBigUInt64LE(0);
    if (H64 > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`${path}: header length ${H64} is absurdly large (limit ${MAX_HEADER_BYTES} bytes)`);
    const H = Number(H64);
    if (8 + H > fileBytes) throw new SafetensorsError(`${path}: header length ${H} runs past the end of the file (${fileBytes} bytes; is the file truncated?)`);
    const head = Buffer.alloc(8 + H);
    len.copy(head);
    readSync(fd, head, 8, H, 8);
    // The header alone, with an empty data section of the right size as far as the checks go.
    const probe = new Uint8Array(8 + H);
    probe.set(head);
    const parsed = parseHeaderOnly(probe, path, fileBytes - 8 - H);
    const entries = new Map<string, SafetensorsEntry>();
    for (const e of parsed.entries) entries.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, begin: 8 + H + e.begin, end: 8 + H + e.end });
    return { path, fileBytes, dataStart: 8 + H, entries, metadata: parsed.metadata };
  } finally {
    closeSync(fd);
  }
}

function parseHeaderOnly(bytes: Uint8Array, file: string, D: number): { entries: Entry[]; metadata: Record<string, string> } {
  const H = bytes.length - 8;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + H)));
  } catch (e) {
    throw new SafetensorsError(`${file}: header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(header)) throw new SafetensorsError(`${file}: header is not a JSON object`);
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (isPlainObject(raw)) for (const [k, v] of Object.entries(raw)) if (typeof v === "string") metadata[k] = v;
      continue;
    }
    entries.push(checkEntry(file, name, raw, D));
  }
  return { entries, metadata };
}

/** Positional read of into.byteLength bytes of tensor name, from byte byteFrom of its data. */
export function readTensorBytes(index: SafetensorsIndex, name: string, byteFrom: number, into: ArrayBufferView, fd?: number): void {
  const e = index.entries.get(name);
  if (e === undefined) throw new SafetensorsError(`${index.path}: no tensor "${name}"`);
  if (byteFrom < 0 || e.begin + byteFrom + into.byteLength > e.end) {
    throw new SafetensorsError(`${index.path}: tensor "${name}": bytes [${byteFrom}, ${byteFrom + into.byteLength}) are outside its ${e.end - e.begin} bytes`);
  }
  const own = fd === undefined;
  const f = fd ?? openSync(index.path, "r");
  try {
    const dst = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    const CHUNK = 64 * 1024 * 1024;
    for (let done = 0; done < dst.length; ) {
      const n = readSync(f, dst, done, Math.min(CHUNK, dst.length - done), e.begin + byteFrom + done);
      if (n === 0) throw new SafetensorsError(`${index.path}: tensor "${name}": the file ended early`);
      done += n;
    }
  } finally {
    if (own) closeSync(f);
  }
}

/** The header of a file of these tensors (no data): bytes at offset 0, each tensor's absolute offset, the file's size. */
export function layoutSafetensors(specs: { name: string; dtype: SafetensorsDType; shape: number[] }[], metadata?: Record<string, string>): { header: Uint8Array; offsets: Map<string, number>; totalBytes: number } {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  const rel = new Map<string, number>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[s.dtype];
    Object.defineProperty(header, s.name, { value: { dtype: s.dtype, shape: [...s.shape], data_offsets: [offset, offset + n] }, enumerable: true, writable: true, configurable: true });
    rel.set(s.name, offset);
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const H = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + H).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(H), true);
  head.set(json, 8);
  const offsets = new Map([...rel].map(([k, v]) => [k, 8 + H + v]));
  return { header: head, offsets, totalBytes: 8 + H + offset };
}
