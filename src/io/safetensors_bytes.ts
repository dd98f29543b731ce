// The safetensors format in memory, with no file access (so that a browser page can write
// the same file the CLI reads): the dtypes and their sizes, the error type, and the writer's
// side: a checked plan of a file (padded header, then each tensor's bytes in order), the
// bytes of a whole file (serializeSafetensors), and the header of a file to be filled in
// place (layoutSafetensors, for checkpoints written in pieces). src/io/safetensors.ts reads
// and writes files with these, and re-exports them.
//
// File layout: 8 bytes little-endian u64 header length H, H bytes of UTF-8 JSON
// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`,
// then the data section; offsets are relative to the start of the data section and all
// values are little-endian. The header is padded with spaces to a multiple of 8.
//
// Glossary: H header bytes, T tensors in a file.

import { formatShape } from "../tensor/shape.ts";

export type SafetensorsDType = "F32" | "F64" | "F16" | "BF16" | "I32" | "I64" | "U8";
/** F16 and BF16 as Uint16Array bit patterns; the other dtypes as their typed array (U8: bytes, e.g. quantized rows). */
export type SafetensorsData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: SafetensorsData;
}

/** Bad safetensors input; the message starts with the file name, then the tensor name. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Bytes per element of each supported dtype. */
export const DTYPE_SIZE: { readonly [D in SafetensorsDType]: number } = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
};

export const SUPPORTED = "F32, F64, F16, BF16, I32, I64, U8";

export const METADATA_KEY = "__metadata__";

/** Typed arrays use the platform's byte order; on little-endian hosts (all we know of) the
 *  file's bytes can be copied as they are, elsewhere they go through a DataView. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(DTYPE_SIZE, s);
}

// ---------------------------------------------------------------------------------------
// Writing

/** A validated file ready to be written: the padded header and the tensors' bytes in order. */
export interface SafetensorsPlan {
  header: Uint8Array;
  chunks: Uint8Array[];
  size: number;
}

function arrayMatches(dtype: SafetensorsDType, data: unknown): boolean {
  switch (dtype) {
    case "F32":
      return data instanceof Float32Array;
    case "F64":
      return data instanceof Float64Array;
    case "F16":
    case "BF16":
      return data instanceof Uint16Array;
    case "I32":
      return data instanceof Int32Array;
    case "I64":
      return data instanceof BigInt64Array;
    case "U8":
      return data instanceof Uint8Array;
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
  else if (data instanceof Uint8Array) out.set(data);
  else data.forEach((x, i) => view.setBigInt64(8 * i, x, true));
  return out;
}

export function planSafetensors(
  who: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata: Record<string, string> | undefined,
): SafetensorsPlan {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string")
        throw new SafetensorsError(`${who}: metadata must map strings to strings, but "${k}" is ${JSON.stringify(v)}`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    const where = `${who}: tensor "${name}"`;
    if (name === METADATA_KEY) throw new SafetensorsError(`${where}: the name is reserved for the metadata`);
    if (!isDType(t.dtype))
      throw new SafetensorsError(`${where}: unknown dtype "${String(t.dtype)}" (supported: ${SUPPORTED})`);
    let count = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0)
        throw new SafetensorsError(
          `${where}: shape ${JSON.stringify(t.shape)} has a dimension that is not a non-negative integer: ${d}`,
        );
      count *= d;
    }
    if (!arrayMatches(t.dtype, t.data)) {
      throw new SafetensorsError(
        `${where}: dtype ${t.dtype} needs a ${{ F32: "Float32Array", F64: "Float64Array", F16: "Uint16Array of bit patterns", BF16: "Uint16Array of bit patterns", I32: "Int32Array", I64: "BigInt64Array", U8: "Uint8Array" }[t.dtype]}, got ${t.data.constructor.name}`,
      );
    }
    if (t.data.length !== count) {
      throw new SafetensorsError(
        `${where}: data has ${t.data.length} elements but shape ${formatShape(t.shape)} needs ${count}`,
      );
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
  const p = planSafetensors("serializeSafetensors", tensors, metadata);
  const out = new Uint8Array(p.size);
  out.set(p.header, 0);
  let at = p.header.length;
  for (const c of p.chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export type TensorsIn = Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>;

// ---------------------------------------------------------------------------------------
// Layout of a file written in pieces at fixed positions (checkpoints)

/** The header of a file of these tensors (no data): bytes at offset 0, each tensor's absolute offset, the file's size. */
export function layoutSafetensors(
  specs: { name: string; dtype: SafetensorsDType; shape: number[] }[],
  metadata?: Record<string, string>,
): { header: Uint8Array; offsets: Map<string, number>; totalBytes: number } {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  const rel = new Map<string, number>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[s.dtype];
    Object.defineProperty(header, s.name, {
      value: { dtype: s.dtype, shape: [...s.shape], data_offsets: [offset, offset + n] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
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
