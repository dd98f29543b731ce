// A batch file streamed: the BatchSource that trains on a file of any size in memory bounded
// by the batch (and, when shuffling, by a window of rows), never by the file's rows.
//
// Rows [a, b) are read by position with asynchronous reads (Node runs them on its I/O
// threads, so they overlap the steps; the trainer asks for batches ahead of their step): one
// read per tensor — dense, labels, and per table its lengths from the start of a's block, its
// indices and weights. Where a row's bag starts in indices.{t} comes from the block index
// (block_offsets, written by src/data/batch_writer.ts) or, in a file without one (written
// whole by writeBatchFile, or by an earlier dlrm-ts), from an index built at open by one
// pass over the lengths, in chunks.
//
// The order of an epoch:
//   - in file order (no shuffling): step s is rows [k·B, (k+1)·B) of the range, exactly what
//     the in-memory DatasetSource gives;
//   - shuffled, within bounded memory: the range is cut into blocks of R rows (the last one
//     may be short); each epoch e takes the blocks in a fresh random order (a permutation
//     drawn from (seed, e)), groups them W at a time into windows, and reads each window's rows
//     in a random order of its own (a permutation drawn from (seed, e, window)). So every row
//     is seen once per epoch, a batch mixes rows of W random blocks, and rows of one block stay
//     within a window of W·R positions: a block's neighbours in the file are likely to share
//     a batch, unlike a full shuffle. Memory: the windows in use and the next one, read
//     ahead (at most three, W·R rows each);
//   - shuffled, a range of at most W·R rows (one window holds it all): read once and kept,
//     in the full permutation of its rows each epoch that the in-memory DatasetSource draws
//     (EpochPermutations, same seed, same draws), so a small file trains exactly as it
//     would in memory (the demo page reads files in memory; `dlrm train` streams them).
// Either way the order is a pure function of (seed, epoch), so a resumed run needs only its step.
//
// Errors name the file, the tensor, and the row or position with the value.
//
// Glossary: N rows of the file, [s, e) the range read, B batch size, Dd dense features,
// F tables, G rows per block of the index, R rows per shuffle block, W blocks per window.

import { open, type FileHandle } from "node:fs/promises";
import { EpochPermutations, stepPlace, type BagLimits, type BatchSource } from "./batch_source.ts";
import { BLOCK_OFFSETS, BLOCK_ROWS_KEY, DEFAULT_BLOCK_ROWS, MAX_BAG_KEY } from "./batch_writer.ts";
import { concatDatasets, offsetsFromLengths, selectSamples, type Dataset, type SparseFeature } from "./dataset.ts";
import { halfsToFloat32 } from "../io/dtype.ts";
import { readSafetensorsIndex, SafetensorsError, type SafetensorsEntry } from "../io/safetensors.ts";
import { Rng } from "../tensor/rng.ts";

/** Rows per shuffle block and blocks per window, unless told otherwise. */
export const DEFAULT_SHUFFLE_BLOCK_ROWS = 4096;
export const DEFAULT_WINDOW_BLOCKS = 32;

export interface BatchFileSourceOptions {
  /** The rows [s, e) of the file this source reads (default: all). */
  rows?: readonly [number, number];
  /** Shuffle in bounded memory (blocks, then rows within windows); default: file order. */
  shuffle?: boolean;
  seed?: number;
  /** R: rows per shuffle block. */
  blockRows?: number;
  /** W: blocks per shuffle window. */
  windowBlocks?: number;
}

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
  fh: FileHandle;
  dense: SafetensorsEntry;
  labels: SafetensorsEntry;
  tables: TableFile[];
  G: number;
  /** Sources of this file not yet closed: the file closes with the last. */
  refs: number;
}

/** One shuffle window of an epoch: its rows (block after block) and their order. */
interface Window {
  data: Dataset;
  order: Int32Array;
}

/** A range one window holds, shuffled whole: its epochs' permutations and its rows, read at the first batch. */
interface WholeRange {
  orders: EpochPermutations;
  rows: Promise<Dataset> | null;
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
  readonly #windows = new Map<string, Promise<Window>>(); // at most three, most recent last
  readonly #plans = new Map<number, EpochPlan>(); // the two latest epochs'
  /** With shuffle, when one window holds the range (else null). */
  readonly #whole: WholeRange | null;
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
    this.shuffle = o.shuffle ?? false;
    this.seed = o.seed ?? 0;
    this.blockRows = o.blockRows ?? DEFAULT_SHUFFLE_BLOCK_ROWS;
    this.windowBlocks = o.windowBlocks ?? DEFAULT_WINDOW_BLOCKS;
    for (const [name, v] of [
      ["blockRows", this.blockRows],
      ["windowBlocks", this.windowBlocks],
    ] as const)
      if (!Number.isSafeInteger(v) || v < 1)
        throw new RangeError(`${path}: ${name} must be a positive integer, got ${v}`);
    this.#whole =
      this.shuffle && this.samplesPerEpoch <= this.blockRows * this.windowBlocks
        ? { orders: new EpochPermutations(this.samplesPerEpoch, this.seed, null, path), rows: null }
        : null;
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

  /** Opens a batch file and checks its structure (sizes, dtypes, the block index); reads no rows. */
  static async open(path: string, o: BatchFileSourceOptions = {}): Promise<BatchFileSource> {
    const index = readSafetensorsIndex(path);
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
    const fh = await open(path, "r");
    try {
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
      return new BatchFileSource({ path, fh, dense, labels, tables, G, refs: 0 }, o);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    if (this.#closed) return Promise.reject(new Error(`${this.path}: the source is closed`));
    let p;
    try {
      p = stepPlace(this.samplesPerEpoch, step, batchSize, this.path);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.shuffle) return this.readRows(this.first + p.start, this.first + p.start + p.count);
    if (this.#whole !== null) return this.#wholeShuffled(p.epoch, p.start, p.count);
    return this.#shuffled(p.epoch, p.start, p.count);
  }

  /** The file rows of step `step`'s batch, in batch order (to name a bad sample by its row). */
  rowsOf(step: number, batchSize: number): Int32Array {
    const p = stepPlace(this.samplesPerEpoch, step, batchSize, this.path);
    const out = new Int32Array(p.count);
    if (!this.shuffle) {
      for (let i = 0; i < p.count; i++) out[i] = this.first + p.start + i;
      return out;
    }
    if (this.#whole !== null) {
      const order = this.#whole.orders.orderOf(p.epoch);
      for (let i = 0; i < p.count; i++) out[i] = this.first + order[p.start + i];
      return out;
    }
    const plan = this.#epochPlan(p.epoch);
    for (let i = 0; i < p.count;) {
      const w = plan.windowAt(p.start + i);
      const [wStart, wEnd] = plan.windowRange(w);
      const rows = plan.blocksOf(w).flatMap((blk) => {
        const a = this.first + blk * this.blockRows;
        const b = Math.min(this.first + this.samplesPerEpoch, a + this.blockRows);
        return Array.from({ length: b - a }, (_, j) => a + j);
      });
      const order = plan.windowOrder(w, rows.length);
      for (; i < p.count && p.start + i < wEnd; i++) out[i] = rows[order[p.start + i - wStart]];
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#windows.values(), this.#whole?.rows]);
    this.#windows.clear();
    if (this.#whole !== null) this.#whole.rows = null;
    if (--this.#file.refs === 0) await this.#file.fh.close();
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
    await readFully(this.#file.fh, this.path, e, new Uint8Array(buf), e.begin + from * size);
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

  /** Samples [start, start + count) of epoch `epoch`'s full permutation of the range (held whole). */
  async #wholeShuffled(epoch: number, start: number, count: number): Promise<Dataset> {
    const whole = this.#whole as WholeRange;
    whole.rows ??= this.readRows(this.first, this.first + this.samplesPerEpoch);
    const rows = await whole.rows;
    return selectSamples(rows, whole.orders.orderOf(epoch).subarray(start, start + count));
  }

  /** Samples [start, start + count) of epoch `epoch`'s shuffled order. */
  async #shuffled(epoch: number, start: number, count: number): Promise<Dataset> {
    const plan = this.#epochPlan(epoch);
    const parts: Dataset[] = [];
    for (let at = start; at < start + count;) {
      const w = plan.windowAt(at);
      const [wStart, wEnd] = plan.windowRange(w);
      const win = await this.#window(epoch, w, plan);
      const to = Math.min(start + count, wEnd);
      parts.push(selectSamples(win.data, win.order.subarray(at - wStart, to - wStart)));
      at = to;
      if (w + 1 < plan.windows)
        void this.#window(epoch, w + 1, plan).catch(() => undefined); // read ahead
      else void this.#window(epoch + 1, 0, this.#epochPlan(epoch + 1)).catch(() => undefined);
    }
    return parts.length === 1 ? parts[0] : concatDatasets(parts);
  }

  #epochPlan(epoch: number): EpochPlan {
    let p = this.#plans.get(epoch);
    if (p === undefined) {
      p = new EpochPlan(this.samplesPerEpoch, this.blockRows, this.windowBlocks, this.seed, epoch);
      this.#plans.set(epoch, p);
      for (const old of this.#plans.keys()) if (this.#plans.size > 2 && old !== epoch) this.#plans.delete(old);
    }
    return p;
  }

  #window(epoch: number, w: number, plan: EpochPlan): Promise<Window> {
    const key = `${epoch}:${w}`;
    const kept = this.#windows.get(key);
    if (kept !== undefined) {
      this.#windows.delete(key);
      this.#windows.set(key, kept); // most recent last
      return kept;
    }
    const load = (async (): Promise<Window> => {
      const parts = await Promise.all(
        plan.blocksOf(w).map((blk) => {
          const a = this.first + blk * this.blockRows;
          return this.readRows(a, Math.min(this.first + this.samplesPerEpoch, a + this.blockRows));
        }),
      );
      const data = parts.length === 1 ? parts[0] : concatDatasets(parts);
      return { data, order: plan.windowOrder(w, data.n) };
    })();
    this.#windows.set(key, load);
    while (this.#windows.size > 3) this.#windows.delete(this.#windows.keys().next().value as string);
    return load;
  }
}

/** An epoch's shuffled order of blocks, cut into windows. */
class EpochPlan {
  readonly windows: number;
  readonly #blocks: Int32Array; // block numbers in the epoch's order
  readonly #R: number;
  readonly #W: number;
  readonly #short: number; // rows the last block of the range lacks (0 when it is whole)
  readonly #shortWindow: number; // the window holding the short block
  readonly #seed: number;
  readonly #epoch: number;

  constructor(n: number, R: number, W: number, seed: number, epoch: number) {
    const nBlocks = Math.ceil(n / R);
    this.#R = R;
    this.#W = W;
    this.#seed = seed;
    this.#epoch = epoch;
    this.#blocks = new Rng(derivedSeed(seed, epoch, -1)).shuffle(Int32Array.from({ length: nBlocks }, (_, i) => i));
    this.windows = Math.ceil(nBlocks / W);
    this.#short = nBlocks * R - n;
    this.#shortWindow = Math.floor(this.#blocks.indexOf(nBlocks - 1) / W);
  }

  /** The epoch's positions [start, end) that window w covers. */
  windowRange(w: number): [number, number] {
    const span = this.#W * this.#R;
    const start = w * span - (w > this.#shortWindow ? this.#short : 0);
    const blocks = Math.min(this.#W, this.#blocks.length - w * this.#W);
    return [start, start + blocks * this.#R - (w === this.#shortWindow ? this.#short : 0)];
  }

  /** The window that holds position p. */
  windowAt(p: number): number {
    const span = this.#W * this.#R;
    let w = Math.floor(p / span);
    if (w >= this.#shortWindow) w = Math.floor((p + this.#short) / span);
    return Math.min(w, this.windows - 1);
  }

  blocksOf(w: number): number[] {
    return Array.from(this.#blocks.subarray(w * this.#W, (w + 1) * this.#W));
  }

  /** (rows,) the order of window w's rows (a permutation drawn from (seed, epoch, w)). */
  windowOrder(w: number, rows: number): Int32Array {
    return new Rng(derivedSeed(this.#seed, this.#epoch, w)).shuffle(Int32Array.from({ length: rows }, (_, i) => i));
  }
}

/** A 32-bit seed for the stream of (seed, epoch, part): murmur3's finaliser over the three, so
 *  that nearby triples give unrelated generators. */
export function derivedSeed(seed: number, epoch: number, part: number): number {
  let h = seed >>> 0;
  for (const x of [epoch, part]) {
    h = (h ^ Math.imul((x | 0) + 0x7f4a7c15, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** Reads dst.length bytes at `at`, in reads of at most 1 GiB, or fails naming the file and tensor. */
async function readFully(
  fh: FileHandle,
  path: string,
  e: SafetensorsEntry,
  dst: Uint8Array,
  at: number,
): Promise<void> {
  for (let done = 0; done < dst.length;) {
    const { bytesRead } = await fh.read(dst, done, Math.min(1 << 30, dst.length - done), at + done);
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
  fh: FileHandle,
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
  fh: FileHandle,
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
