// A batch file streamed: the BatchSource that trains on a file of any size in memory bounded
// by the batch (and, when shuffling, by a window of rows), never by the file's rows.
//
// Rows [a, b) are read by position with asynchronous reads of the file the host's file access
// opens (src/data/files.ts; Node runs them on its I/O threads, so they overlap the steps; the
// trainer asks for batches ahead of their step): one
// read per tensor — dense, labels, and per table its lengths from the start of a's block, its
// indices and weights. Where a row's bag starts in indices.{t} comes from the block index
// (block_offsets, written by src/data/batch_writer.ts) or, in a file without one (written
// whole by writeBatchFile, or by an earlier dlrm-ts), from an index built at open by one
// pass over the lengths, in chunks.
//
// The order of an epoch, file order or shuffled in bounded memory, is src/data/row_order.ts's
// (RowOrder), over this file's rows read by position; it is a pure function of (seed, epoch),
// so a resumed run needs only its step.
//
// Errors name the file, the tensor, and the row or position with the value.
//
// Glossary: N rows of the file, [s, e) the range read, B batch size, Dd dense features,
// F tables, G rows per block of the index.

import type { BagLimits, BatchSource } from "./batch_source.ts";
import { offsetsFromLengths, type Dataset, type SparseFeature } from "./dataset.ts";
import type { DataFiles, ReadableFile } from "./files.ts";
import { halfsToFloat32 } from "../io/dtype.ts";
import { indexOpenSafetensors, openSafetensors } from "./safetensors_files.ts";
import { SafetensorsError } from "../io/safetensors_bytes.ts";
import type { SafetensorsEntry } from "../io/safetensors_index.ts";
import { RowOrder, type RowOrderOptions } from "./row_order.ts";

/** The rows read and their order (RowOrder's options: shuffle, seed, block and window sizes). */
export interface BatchFileSourceOptions extends RowOrderOptions {
  /** The rows [s, e) of the file this source reads (default: all). */
  rows?: readonly [number, number];
}

/** The metadata key of the block index's rows per block (batch_writer.ts writes the index). */
export const BLOCK_ROWS_KEY = "block_rows";
/** The metadata key of the longest bag of each table (a JSON array). */
export const MAX_BAG_KEY = "max_bag_lengths";
/** The name of the block index tensor. */
export const BLOCK_OFFSETS = "block_offsets";
/** Rows per block of the index, unless told otherwise. */
export const DEFAULT_BLOCK_ROWS = 4096;

const TABLE_TENSOR = /^(lengths|indices|weights)\.(.*)$/;
const FLOAT_DTYPES = ["F32", "F64", "F16", "BF16"];
const INT_DTYPES = ["I32", "I64"];
const SCAN_ROWS = 1 << 20;

/** One table's tensors and its block index: offsets[b] is where row b·G's bag starts. */
interface TableFile {
  lengths: SafetensorsEntry;
  indices: SafetensorsEntry;
  weights: SafetensorsEntry | null;
  /** (⌈N / G⌉ + 1,) */
  offsets: Float64Array;
  /** The longest bag. */
  longest: number;
}

/** The open file and what its header and index say: shared by the views of one file. */
interface OpenFile {
  path: string;
  file: ReadableFile;
  dense: SafetensorsEntry;
  labels: SafetensorsEntry;
  tables: TableFile[];
  G: number;
  /** Sources of this file not yet closed: the file closes with the last. */
  refs: number;
}

export class BatchFileSource implements BatchSource {
  readonly path: string;
  readonly denseFeatures: number;
  readonly tables: number;
  /** Rows of the whole file. */
  readonly fileRows: number;
  /** The first row of the range read. */
  readonly first: number;
  readonly samplesPerEpoch: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly blockRows: number;
  readonly windowBlocks: number;
  readonly #file: OpenFile;
  readonly #order: RowOrder;
  #closed = false;

  private constructor(file: OpenFile, o: BatchFileSourceOptions) {
    const path = file.path;
    this.path = path;
    this.#file = file;
    this.fileRows = file.dense.shape[0];
    this.denseFeatures = file.dense.shape[1];
    this.tables = file.tables.length;
    const [s, e] = o.rows ?? [0, this.fileRows];
    if (!(Number.isSafeInteger(s) && Number.isSafeInteger(e) && 0 <= s && s <= e && e <= this.fileRows))
      throw new RangeError(`${path}: rows [${s}, ${e}) are not a range of the file's ${this.fileRows} rows`);
    this.first = s;
    this.samplesPerEpoch = e - s;
    this.#order = new RowOrder(path, this.samplesPerEpoch, (a, b) => this.readRows(s + a, s + b), o);
    this.shuffle = this.#order.shuffle;
    this.seed = this.#order.seed;
    this.blockRows = this.#order.blockRows;
    this.windowBlocks = this.#order.windowBlocks;
    file.refs++;
  }

  /** The same file with other options (rows, order), sharing its open file, which closes
   *  when the last of the sources made from it (open's and the views) is closed. */
  view(o: BatchFileSourceOptions): BatchFileSource {
    if (this.#closed) throw new Error(`${this.path}: the source is closed`);
    return new BatchFileSource(this.#file, {
      rows: [this.first, this.first + this.samplesPerEpoch],
      blockRows: this.blockRows,
      windowBlocks: this.windowBlocks,
      ...o,
    });
  }

  /** The same rows in the run's order (BatchSource.withOrder). */
  withOrder(order: { shuffle: boolean; seed: number }): BatchFileSource {
    return this.view(order);
  }

  /** The longest bag of each table in the file, and whether it has weights. */
  get bags(): BagLimits {
    return {
      longest: this.#file.tables.map((t) => t.longest),
      weighted: this.#file.tables.map((t) => t.weights !== null),
    };
  }

  /** Opens a batch file (through the host's files) and checks its structure (sizes, dtypes,
   *  the block index); reads no rows. */
  static async open(path: string, files: DataFiles, o: BatchFileSourceOptions = {}): Promise<BatchFileSource> {
    const fh = openSafetensors(path, files);
    try {
      return await BatchFileSource.#fromFile(path, fh, o);
    } catch (e) {
      fh.close();
      throw e;
    }
  }

  /** open's checks on the open file (which open closes when they fail). */
  static async #fromFile(path: string, fh: ReadableFile, o: BatchFileSourceOptions): Promise<BatchFileSource> {
    const index = indexOpenSafetensors(path, fh);
    const fail = (name: string, what: string): never => {
      throw new SafetensorsError(`${path}: ${name}: ${what}`);
    };
    const get = (name: string): SafetensorsEntry =>
      index.entries.get(name) ??
      fail(name, "missing (a batch file holds dense, labels, and lengths.{t}, indices.{t} per table)");
    const oneD = (e: SafetensorsEntry, n: number | null, dtypes: string[]): number => {
      if (e.shape.length !== 1) fail(e.name, `must be 1-D, got shape (${e.shape.join(", ")})`);
      if (!dtypes.includes(e.dtype)) fail(e.name, `dtype ${e.dtype} is not one of ${dtypes.join(", ")}`);
      if (n !== null && e.shape[0] !== n) fail(e.name, `has ${e.shape[0]} values but dense has ${n} rows`);
      return e.shape[0];
    };
    const dense = get("dense");
    if (dense.shape.length !== 2) fail("dense", `must be 2-D (N, Dd), got shape (${dense.shape.join(", ")})`);
    if (!FLOAT_DTYPES.includes(dense.dtype)) fail("dense", `dtype ${dense.dtype} is not a float dtype`);
    const N = dense.shape[0];
    const labels = get("labels");
    oneD(labels, N, FLOAT_DTYPES);
    const numbers = new Set<number>();
    for (const name of index.entries.keys()) {
      const m = TABLE_TENSOR.exec(name);
      if (m === null) continue;
      if (!/^(0|[1-9][0-9]*)$/.test(m[2])) fail(name, `table number "${m[2]}" is not a non-negative integer`);
      numbers.add(Number(m[2]));
    }
    const F = numbers.size;
    for (let t = 0; t < F; t++)
      if (!numbers.has(t)) fail(`lengths.${t}`, "missing: tables must be numbered 0, 1, 2, ... without gaps");

    const stored = index.entries.get(BLOCK_OFFSETS);
    const G = stored === undefined ? DEFAULT_BLOCK_ROWS : Number(index.metadata[BLOCK_ROWS_KEY]);
    if (!(Number.isSafeInteger(G) && G >= 1))
      fail(
        BLOCK_OFFSETS,
        `metadata ${BLOCK_ROWS_KEY} ${JSON.stringify(index.metadata[BLOCK_ROWS_KEY] ?? null)} is not a positive integer`,
      );
    const longest = stored === undefined ? null : storedLongest(index.metadata[MAX_BAG_KEY], F);
    const blocks = Math.ceil(N / G);
    const storedIndex =
      longest === null || F === 0 ? null : await readBlockIndex(fh, path, stored as SafetensorsEntry, F, blocks);
    const tables: TableFile[] = [];
    for (let t = 0; t < F; t++) {
      const lengths = get(`lengths.${t}`);
      oneD(lengths, N, INT_DTYPES);
      const indices = get(`indices.${t}`);
      const L = oneD(indices, null, INT_DTYPES);
      const weights = index.entries.get(`weights.${t}`) ?? null;
      if (weights !== null && oneD(weights, null, FLOAT_DTYPES) !== L)
        fail(weights.name, `has ${weights.shape[0]} values but indices.${t} has ${L}`);
      const scan =
        storedIndex === null || longest === null
          ? await scanLengths(fh, path, lengths, N, G)
          : {
              offsets: storedIndex.subarray(t * (blocks + 1), (t + 1) * (blocks + 1)),
              longest: longest[t],
            };
      if (scan.offsets[blocks] !== L)
        fail(
          `indices.${t}`,
          `has ${L} values but lengths.${t} sum to ${scan.offsets[blocks]}${storedIndex === null ? "" : ` (by ${BLOCK_OFFSETS})`}`,
        );
      tables.push({ lengths, indices, weights, offsets: scan.offsets, longest: scan.longest });
    }
    return new BatchFileSource({ path, file: fh, dense, labels, tables, G, refs: 0 }, o);
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    if (this.#closed) return Promise.reject(new Error(`${this.path}: the source is closed`));
    return this.#order.batch(step, batchSize);
  }

  /** The file rows of step `step`'s batch, in batch order (to name a bad sample by its row). */
  rowsOf(step: number, batchSize: number): Int32Array {
    return this.#order.rowsOf(step, batchSize).map((r) => this.first + r);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#order.settle();
    if (--this.#file.refs === 0) this.#file.file.close();
  }

  /** Rows [a, b) of the file, in file order, read by position. */
  async readRows(a: number, b: number): Promise<Dataset> {
    const n = b - a;
    const Dd = this.denseFeatures;
    const G = this.#file.G;
    const g0 = Math.floor(a / G) * G; // the start of a's block: the index knows where its bags start
    const [dense, labels, ...perTable] = await Promise.all([
      this.#floats(this.#file.dense, a * Dd, n * Dd),
      this.#floats(this.#file.labels, a, n),
      ...this.#file.tables.map((tf) => this.#ints(tf.lengths, g0, b - g0)),
    ]);
    const sparse = await Promise.all(
      this.#file.tables.map(async (tf, t): Promise<SparseFeature> => {
        const all = perTable[t]; // lengths of rows [g0, b)
        let start = tf.offsets[g0 / G];
        for (let i = 0; i < a - g0; i++) start += all[i];
        const lengths = all.slice(a - g0);
        for (let i = 0; i < n; i++)
          if (lengths[i] < 0) throw this.#bad(tf.lengths.name, `row ${a + i} has a negative bag length ${lengths[i]}`);
        const offsets = offsetsFromLengths(lengths, `${this.path}: ${tf.lengths.name}`);
        const L = offsets[n];
        const [indices, weights] = await Promise.all([
          this.#ints(tf.indices, start, L),
          tf.weights === null ? Promise.resolve(null) : this.#floats(tf.weights, start, L),
        ]);
        for (let j = 0; j < L; j++)
          if (indices[j] < 0)
            throw this.#bad(tf.indices.name, `index ${indices[j]} at position ${start + j} is negative`);
        return { lengths, offsets, indices, weights };
      }),
    );
    return { n, denseFeatures: Dd, dense: dense, labels: labels, sparse };
  }

  #bad(name: string, what: string): SafetensorsError {
    return new SafetensorsError(`${this.path}: ${name}: ${what}`);
  }

  /** Values [from, from + count) of a tensor, as they are stored. */
  async #raw(e: SafetensorsEntry, from: number, count: number): Promise<ArrayBuffer> {
    const size = e.dtype === "F64" || e.dtype === "I64" ? 8 : e.dtype === "F16" || e.dtype === "BF16" ? 2 : 4;
    const buf = new ArrayBuffer(count * size);
    await readFully(this.#file.file, this.path, e, new Uint8Array(buf), e.begin + from * size);
    return buf;
  }

  async #floats(e: SafetensorsEntry, from: number, count: number): Promise<Float32Array> {
    const buf = await this.#raw(e, from, count);
    if (e.dtype === "F32") return new Float32Array(buf);
    if (e.dtype === "F64") return Float32Array.from(new Float64Array(buf));
    return halfsToFloat32(e.dtype as "F16" | "BF16", new Uint16Array(buf));
  }

  async #ints(e: SafetensorsEntry, from: number, count: number): Promise<Int32Array> {
    const buf = await this.#raw(e, from, count);
    return e.dtype === "I32" ? new Int32Array(buf) : int64ToInt32(new BigInt64Array(buf), this.path, e.name, from);
  }
}

/** Reads dst.length bytes at `at`, in reads of at most 1 GiB, or fails naming the file and tensor. */
async function readFully(
  fh: ReadableFile,
  path: string,
  e: SafetensorsEntry,
  dst: Uint8Array,
  at: number,
): Promise<void> {
  for (let done = 0; done < dst.length;) {
    const bytesRead = await fh.read(dst.subarray(done, done + Math.min(1 << 30, dst.length - done)), at + done);
    if (bytesRead === 0)
      throw new SafetensorsError(`${path}: ${e.name}: the file ended early (at byte ${at + done}; was it cut?)`);
    done += bytesRead;
  }
}

function int64ToInt32(v: BigInt64Array, path: string, name: string, from: number): Int32Array {
  const out = new Int32Array(v.length);
  const words = new Int32Array(v.buffer, v.byteOffset, 2 * v.length); // little-endian: low word, then high
  for (let i = 0; i < v.length; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    if (hi !== (lo < 0 ? -1 : 0))
      throw new SafetensorsError(`${path}: ${name}: value ${v[i]} at position ${from + i} does not fit in int32`);
    out[i] = lo;
  }
  return out;
}

/** The stored block index (F, blocks + 1), checked: starts at 0, never falls. */
async function readBlockIndex(
  fh: ReadableFile,
  path: string,
  e: SafetensorsEntry,
  F: number,
  blocks: number,
): Promise<Float64Array> {
  const fail = (what: string): never => {
    throw new SafetensorsError(`${path}: ${BLOCK_OFFSETS}: ${what}`);
  };
  if (e.dtype !== "I64" || e.shape.length !== 2 || e.shape[0] !== F || e.shape[1] !== blocks + 1)
    fail(`expected I64 of shape (${F}, ${blocks + 1}), got ${e.dtype} of shape (${e.shape.join(", ")})`);
  const raw = new BigInt64Array(F * (blocks + 1));
  await readFully(fh, path, e, new Uint8Array(raw.buffer), e.begin);
  const out = new Float64Array(raw.length);
  for (let t = 0; t < F; t++) {
    for (let b = 0; b <= blocks; b++) {
      const i = t * (blocks + 1) + b;
      const v = Number(raw[i]);
      if (b === 0 ? v !== 0 : v < out[i - 1]) fail(`table ${t}: entry ${b} (${v}) ${b === 0 ? "is not 0" : "falls"}`);
      out[i] = v;
    }
  }
  return out;
}

/** Where the bag of every G-th row starts, and the longest bag, from one pass over the
 *  lengths in chunks (files without an index). */
async function scanLengths(
  fh: ReadableFile,
  path: string,
  lengths: SafetensorsEntry,
  N: number,
  G: number,
): Promise<{ offsets: Float64Array; longest: number }> {
  const blocks = Math.ceil(N / G);
  const offsets = new Float64Array(blocks + 1);
  const size = lengths.dtype === "I64" ? 8 : 4;
  let at = 0;
  let longest = 0;
  for (let r0 = 0; r0 < N; r0 += SCAN_ROWS) {
    const n = Math.min(SCAN_ROWS, N - r0);
    const buf = new ArrayBuffer(n * size);
    await readFully(fh, path, lengths, new Uint8Array(buf), lengths.begin + r0 * size);
    const v = size === 4 ? new Int32Array(buf) : int64ToInt32(new BigInt64Array(buf), path, lengths.name, r0);
    for (let i = 0; i < n; i++) {
      if ((r0 + i) % G === 0) offsets[(r0 + i) / G] = at;
      const l = v[i];
      if (l < 0) throw new SafetensorsError(`${path}: ${lengths.name}: row ${r0 + i} has a negative bag length ${l}`);
      at += l;
      if (l > longest) longest = l;
    }
  }
  offsets[blocks] = at;
  return { offsets, longest };
}

/** The writer's max_bag_lengths metadata (F non-negative integers), or null when absent or malformed (then the lengths are scanned). */
function storedLongest(text: string | undefined, F: number): number[] | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) && v.length === F && v.every((x) => Number.isSafeInteger(x) && x >= 0)
      ? (v as number[])
      : null;
  } catch {
    return null;
  }
}
