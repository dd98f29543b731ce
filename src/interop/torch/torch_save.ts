// torch.save files (the zip format of PyTorch >= 1.6), read without running any code and
// written so that torch.load(f, weights_only=True) accepts them.
//
// An archive holds, under one folder <a>: <a>/data.pkl, a protocol-2 pickle of the saved
// object in which every tensor is a call of torch._utils._rebuild_tensor_v2 on a storage
// named by a persistent id ('storage', torch.FloatStorage, key, location, numel);
// <a>/data/<key>, that storage's raw little-endian bytes (a stored zip entry, 64-byte
// aligned); and <a>/version. Reading gives the object with each tensor as a TorchTensor:
// its dtype, shape and the absolute byte range of its elements in the file, so callers read
// any part of it by positional reads (src/interop/torch/zip.ts indexes the entries).
//
// The globals a file may name are those torch.load(weights_only=True) allows that a
// checkpoint of tensors needs: _rebuild_tensor_v2 and _rebuild_parameter, the storage types,
// collections.OrderedDict; and, as plain numbers, the numpy scalars the reference's
// --save-model file holds (numpy's scalar and dtype, and _codecs.encode for their bytes).
//
// Glossary: numel element count, storage a flat typed buffer tensors view.

import { closeSync, readSync } from "node:fs";
import { openInputFile } from "../../io/input_file.ts";
import { formatShape } from "../../tensor/shape.ts";
import {
  describe,
  pickle,
  OutGlobal,
  OutPersistent,
  OutReduce,
  OutTuple,
  PyDict,
  PyTuple,
  unpickle,
  type OutValue,
  type PyGlobal,
  type PyObject,
  type PyValue,
} from "./pickle.ts";
import type { SafetensorsDType } from "../../io/safetensors.ts";
import { layoutZip, readZipIndex, ZipError, type ZipEntry, type ZipLayout } from "./zip.ts";

/** A tensor of a torch.save file: where its elements lie (contiguous, little-endian). */
export class TorchTensor implements PyObject {
  readonly kind = "tensor";
  readonly dtype: SafetensorsDType;
  readonly shape: number[];
  /** Absolute byte offsets in the file. */
  readonly begin: number;
  readonly end: number;
  constructor(dtype: SafetensorsDType, shape: number[], begin: number, end: number) {
    [this.dtype, this.shape, this.begin, this.end] = [dtype, shape, begin, end];
  }
}

/** A storage type global (torch.FloatStorage, …) with the dtype it holds (null: one this reader does not convert). */
class StorageType implements PyObject {
  readonly kind = "storage type";
  readonly name: string;
  readonly dtype: SafetensorsDType | null;
  readonly itemBytes: number;
  constructor(name: string, dtype: SafetensorsDType | null, itemBytes: number) {
    [this.name, this.dtype, this.itemBytes] = [name, dtype, itemBytes];
  }
}

/** A storage type as a value on the pickle stack: a global that cannot be called. */
class StorageGlobal implements PyGlobal {
  readonly kind = "global";
  readonly module = "torch";
  readonly type: StorageType;
  constructor(type: StorageType) {
    this.type = type;
  }
  get name(): string {
    return this.type.name;
  }
  call(_args: PyValue[], where: string): PyValue {
    throw new Error(`${where}: a storage type cannot be called here`);
  }
}

class Storage implements PyObject {
  readonly kind = "storage";
  readonly type: StorageType;
  readonly key: string;
  readonly numel: number;
  readonly entry: ZipEntry;
  constructor(type: StorageType, key: string, numel: number, entry: ZipEntry) {
    [this.type, this.key, this.numel, this.entry] = [type, key, numel, entry];
  }
}

/** A numpy dtype as the pickle of a numpy scalar names it ('f8', 'f4', 'i8', …). */
class NumpyDType implements PyObject {
  readonly kind = "numpy dtype";
  littleEndian = true;
  readonly code: string;
  constructor(code: string) {
    this.code = code;
  }
  build(state: PyValue): void {
    if (state instanceof PyTuple && typeof state.items[1] === "string") this.littleEndian = state.items[1] !== ">";
  }
}

/** Bytes per element and reader dtype of each storage type torch.save writes. */
const STORAGE_TYPES: Record<string, [SafetensorsDType | null, number]> = {
  FloatStorage: ["F32", 4],
  DoubleStorage: ["F64", 8],
  IntStorage: ["I32", 4],
  LongStorage: ["I64", 8],
  HalfStorage: [null, 2],
  BFloat16Storage: [null, 2],
  ShortStorage: [null, 2],
  CharStorage: [null, 1],
  ByteStorage: [null, 1],
  BoolStorage: [null, 1],
};

/** The pickle of data.pkl is small (~100 bytes per tensor); a larger one is not a checkpoint. With the
 *  unpickler's budget (src/interop/torch/pickle.ts) this bounds what reading it may take to about 1 GiB. */
const MAX_PICKLE_BYTES = 64 * 1024 * 1024;

function intOf(v: PyValue, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new Error(`${what} must be an int, got ${describe(v)}`);
  return v;
}

function intTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new Error(`${what} must be a tuple of ints, got ${describe(v)}`);
  return v.items.map((x, i) => intOf(x, `${what}[${i}]`));
}

/** A tensor from (storage, offset, size, stride): contiguous and inside its storage, or an error. */
function rebuildTensor(args: PyValue[], where: string): TorchTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage))
    throw new Error(`${where}: its first argument is ${describe(storage ?? null)}, not a storage`);
  const at = intOf(offset ?? null, `${where}: storage offset`);
  const shape = intTuple(size ?? null, `${where}: size`);
  const strides = intTuple(stride ?? null, `${where}: stride`);
  if (shape.some((d) => d < 0)) throw new Error(`${where}: size ${formatShape(shape)} has a negative dimension`);
  if (strides.length !== shape.length)
    throw new Error(`${where}: stride ${formatShape(strides)} does not match size ${formatShape(shape)}`);
  const numel = shape.reduce((a, b) => a * b, 1);
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected)
      throw new Error(
        `${where}: stride ${formatShape(strides)} of size ${formatShape(shape)} is not contiguous; save tensor.contiguous()`,
      );
    expected *= shape[i];
  }
  const t = storage.type;
  if (t.dtype === null)
    throw new Error(
      `${where}: a tensor of torch.${t.name}, a dtype this reader does not convert (F32, F64, I32, I64 only)`,
    );
  if (at < 0 || (numel > 0 && at + numel > storage.numel)) {
    throw new Error(
      `${where}: elements [${at}, ${at + numel}) are outside storage "${storage.key}" of ${storage.numel} elements`,
    );
  }
  const begin = storage.entry.dataStart + at * t.itemBytes;
  return new TorchTensor(t.dtype, shape, begin, begin + numel * t.itemBytes);
}

/** The scalar a numpy scalar pickle holds, as a JS number. */
function numpyScalar(args: PyValue[], where: string): number {
  const [dtype, data] = args;
  if (!(dtype instanceof NumpyDType) || !(data instanceof Uint8Array))
    throw new Error(
      `${where}: expects (numpy.dtype, bytes), got (${describe(dtype ?? null)}, ${describe(data ?? null)})`,
    );
  const sizes: Record<string, number> = { f8: 8, f4: 4, i8: 8, i4: 4, u8: 8, u4: 4, i2: 2, u2: 2, i1: 1, u1: 1, b1: 1 };
  const n = sizes[dtype.code];
  if (n === undefined) throw new Error(`${where}: numpy dtype "${dtype.code}" is not a number this reader converts`);
  if (data.length !== n) throw new Error(`${where}: a numpy ${dtype.code} scalar needs ${n} bytes, got ${data.length}`);
  const v = new DataView(data.buffer, data.byteOffset, n);
  const le = dtype.littleEndian;
  switch (dtype.code) {
    case "f8":
      return v.getFloat64(0, le);
    case "f4":
      return v.getFloat32(0, le);
    case "i8":
      return Number(v.getBigInt64(0, le));
    case "u8":
      return Number(v.getBigUint64(0, le));
    case "i4":
      return v.getInt32(0, le);
    case "u4":
      return v.getUint32(0, le);
    case "i2":
      return v.getInt16(0, le);
    case "u2":
      return v.getUint16(0, le);
    case "i1":
      return v.getInt8(0);
    default:
      return v.getUint8(0);
  }
}

function global(module: string, name: string, call: (args: PyValue[], where: string) => PyValue): PyGlobal {
  return { kind: "global", module, name, call };
}

/** The allowed globals, by "module.name"; storage types are globals too (their values are the types). */
function allowedGlobals(): Map<string, PyGlobal> {
  const m = new Map<string, PyGlobal>();
  m.set("torch._utils._rebuild_tensor_v2", global("torch._utils", "_rebuild_tensor_v2", rebuildTensor));
  m.set(
    "torch._utils._rebuild_parameter",
    global("torch._utils", "_rebuild_parameter", (args, where) => {
      if (!(args[0] instanceof TorchTensor))
        throw new Error(`${where}: expects a tensor, got ${describe(args[0] ?? null)}`);
      return args[0];
    }),
  );
  m.set(
    "collections.OrderedDict",
    global("collections", "OrderedDict", (args, where) => {
      if (args.length !== 0) throw new Error(`${where}: only OrderedDict() is allowed`);
      return new PyDict(true);
    }),
  );
  for (const module of ["numpy.core.multiarray", "numpy._core.multiarray"])
    m.set(`${module}.scalar`, global(module, "scalar", numpyScalar));
  m.set(
    "numpy.dtype",
    global("numpy", "dtype", (args, where) => {
      if (typeof args[0] !== "string")
        throw new Error(`${where}: expects a dtype code, got ${describe(args[0] ?? null)}`);
      return new NumpyDType(args[0]);
    }),
  );
  m.set(
    "_codecs.encode",
    global("_codecs", "encode", (args, where) => {
      const [text, codec] = args;
      if (typeof text !== "string" || (codec !== "latin1" && codec !== "latin-1"))
        throw new Error(`${where}: only (str, "latin1") is allowed`);
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 0xff) throw new Error(`${where}: character ${c} is not latin-1`);
        out[i] = c;
      }
      return out;
    }),
  );
  for (const [name, [dtype, bytes]] of Object.entries(STORAGE_TYPES))
    m.set(`torch.${name}`, new StorageGlobal(new StorageType(name, dtype, bytes)));
  return m;
}

export interface TorchSaveFile {
  /** The saved object; tensors are TorchTensor. */
  root: PyValue;
  fileBytes: number;
}

/** Read the object of a torch.save file; every error is one line starting with path. */
export function readTorchSave(path: string): TorchSaveFile {
  const { fd, size: fileBytes } = openInputFile(path, "a torch.save file", (m) => new ZipError(m));
  try {
    const magic = Buffer.alloc(4);
    readSync(fd, magic, 0, 4, 0);
    if (magic.readUInt32LE(0) !== 0x04034b50)
      throw new ZipError(
        `${path}: not a zip archive: the legacy torch.save format (PyTorch < 1.6, _use_new_zipfile_serialization=False) is not read; save it again with a recent torch`,
      );
    const entries = readZipIndex(fd, path, fileBytes);
    const first = entries.keys().next().value;
    const slash = first === undefined ? -1 : first.indexOf("/");
    if (first === undefined || slash <= 0)
      throw new ZipError(`${path}: the archive's entries are not under one folder, as torch.save writes them`);
    const prefix = first.slice(0, slash + 1);
    for (const name of entries.keys())
      if (!name.startsWith(prefix))
        throw new ZipError(`${path}: entry "${name}" is outside the archive folder "${prefix}"`);
    if (entries.has(`${prefix}constants.pkl`))
      throw new ZipError(`${path}: a TorchScript archive (torch.jit.save), not a torch.save file`);
    const version = entries.get(`${prefix}version`) ?? entries.get(`${prefix}.data/version`);
    if (version === undefined) throw new ZipError(`${path}: no ${prefix}version record: not a torch.save archive`);
    const vtext = readEntry(fd, path, version, 64).toString("latin1").trim();
    if (!/^\d+$/.test(vtext) || Number(vtext) < 1 || Number(vtext) > 10)
      throw new ZipError(`${path}: format version "${vtext.slice(0, 20)}" is not one torch.save writes (1 to 10)`);
    checkByteOrder(fd, path, entries.get(`${prefix}byteorder`));
    const pkl = entries.get(`${prefix}data.pkl`);
    if (pkl === undefined) throw new ZipError(`${path}: no ${prefix}data.pkl record: not a torch.save archive`);
    const globals = allowedGlobals();
    const storages = new Map<string, Storage>();
    const where = `${path}: data.pkl`;
    const root = unpickle(readEntry(fd, path, pkl, MAX_PICKLE_BYTES), {
      where,
      findGlobal: (module, name) => {
        return globals.get(`${module}.${name}`);
      },
      persistentLoad: (pid) => {
        const items = pid instanceof PyTuple ? pid.items : [];
        const [tag, type, key, , numel] = items;
        if (items.length !== 5 || tag !== "storage" || typeof key !== "string")
          throw new Error(`${where}: persistent id ${describe(pid)} is not ('storage', type, key, location, numel)`);
        const t = type instanceof StorageGlobal ? type.type : null;
        if (t === null)
          throw new Error(
            `${where}: storage "${key}": its type is ${describe(type ?? null)}, not a torch storage type`,
          );
        const n = intOf(numel ?? null, `${where}: storage "${key}": numel`);
        const seen = storages.get(key);
        if (seen !== undefined) {
          if (seen.type !== t || seen.numel !== n)
            throw new Error(`${where}: storage "${key}" is named twice with different types or sizes`);
          return seen;
        }
        const entry = entries.get(`${prefix}data/${key}`);
        if (entry === undefined) throw new Error(`${where}: storage "${key}" has no record ${prefix}data/${key}`);
        if (n < 0 || entry.size !== n * t.itemBytes)
          throw new Error(
            `${path}: storage "${key}": ${n} elements of torch.${t.name} need ${n * t.itemBytes} bytes but its record has ${entry.size}`,
          );
        const s = new Storage(t, key, n, entry);
        storages.set(key, s);
        return s;
      },
    });
    return { root, fileBytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * The storages' byte order: torch.save records sys.byteorder in <a>/byteorder, and the storages
 * hold that machine's bytes. Little (or no record: files of torch < 1.12, all little-endian in
 * practice) is read; a big-endian file is refused rather than read with every value's bytes reversed.
 */
function checkByteOrder(fd: number, path: string, record: ZipEntry | undefined): void {
  if (record === undefined) return;
  const order = readEntry(fd, path, record, 64).toString("latin1").trim();
  if (order === "little") return;
  if (order === "big")
    throw new ZipError(
      `${path}: its tensors are stored big-endian (${record.name} is "big": saved on a big-endian machine), which this reader does not convert; load it with torch and save it again on a little-endian machine`,
    );
  throw new ZipError(`${path}: ${record.name} is ${JSON.stringify(order.slice(0, 20))}, neither "little" nor "big"`);
}

function readEntry(fd: number, path: string, e: ZipEntry, limit: number): Buffer {
  if (e.size > limit)
    throw new ZipError(`${path}: record "${e.name}" is ${e.size} bytes, more than the ${limit} a checkpoint's needs`);
  const b = Buffer.alloc(e.size);
  for (let done = 0; done < e.size;) {
    const n = readSync(fd, b, done, e.size - done, e.dataStart + done);
    if (n === 0) throw new ZipError(`${path}: record "${e.name}" ends early at offset ${e.dataStart + done}`);
    done += n;
  }
  return b;
}

// ---------------------------------------------------------------------------------------
// Writing

/** A storage of a file to write: its bytes now (small tensors), or only its size (filled in place). */
export interface OutStorage {
  key: string;
  bytes: number;
  data?: Uint8Array;
}

/** The pickle value of a contiguous F32 tensor of this shape over the whole of storage key. */
export function outTensorF32(key: string, shape: readonly number[]): OutValue {
  const numel = shape.reduce((a, b) => a * b, 1);
  const strides: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides.unshift(s);
    s *= shape[i];
  }
  const storage = new OutPersistent(
    new OutTuple(["storage", new OutGlobal("torch", "FloatStorage"), key, "cpu", numel]),
  );
  return new OutReduce("torch._utils", "_rebuild_tensor_v2", [
    storage,
    0,
    new OutTuple([...shape]),
    new OutTuple(strides),
    false,
    new OutReduce("collections", "OrderedDict", []),
  ]);
}

/** The archive folder torch.save uses for a buffer; any name is read back. */
const ARCHIVE = "archive";

/**
 * Lay out a torch.save archive of this object: data.pkl and the small records now, each
 * storage at a 64-byte aligned offset (offsets: by storage key) to fill in place; finishZip
 * (src/interop/torch/zip.ts) completes the file once they are written.
 */
export function layoutTorchSave(
  root: OutValue,
  storages: readonly OutStorage[],
  o: { forceZip64?: boolean } = {},
): { zip: ZipLayout; offsets: Map<string, number> } {
  const enc = new TextEncoder();
  const zip = layoutZip(
    [
      { name: `${ARCHIVE}/data.pkl`, ...withBytes(pickle(root)) },
      { name: `${ARCHIVE}/byteorder`, ...withBytes(enc.encode("little")) },
      ...storages.map((s) => ({
        name: `${ARCHIVE}/data/${s.key}`,
        size: s.bytes,
        ...(s.data === undefined ? {} : { bytes: s.data }),
      })),
      // version 3: the oldest the zip format's readers accept as current
      { name: `${ARCHIVE}/version`, ...withBytes(enc.encode("3\n")) },
    ],
    o,
  );
  const offsets = new Map(storages.map((s) => [s.key, zip.offsets.get(`${ARCHIVE}/data/${s.key}`) as number]));
  return { zip, offsets };
}

function withBytes(bytes: Uint8Array): { size: number; bytes: Uint8Array } {
  return { size: bytes.length, bytes };
}
