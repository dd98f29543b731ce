// TorchRec's preprocessed Criteo days (torchrec/datasets/criteo.py, BinaryCriteoUtils.tsv_to_npys
// and the in-memory/mmap readers): per day N three .npy files in one folder,
//   day_N_dense.npy   float32 (rows, 13)  already transformed: log(x − min + 2) over the day
//   day_N_sparse.npy  int64 (rows, 26)    raw 32-bit hashes (or int32 contiguous ids, after
//                                         TorchRec's sparse_to_contiguous)
//   day_N_labels.npy  int32 (rows, 1)     0 or 1
// read here rows by position (src/data/npy.ts). The dense values are used as they are (TorchRec
// took the log already); ids are taken modulo R (--max-ind-range), as TorchRec's readers do
// with their `hashes`, and a table then has R rows; without R the ids are used as they are and
// a table has its largest id + 1 rows (right for contiguous ids; raw hashes need R).
//
// Days: the days found, in order of N. The protocol is the reference's and TorchRec's: train on
// every day but the last, whose first half (larger half first) evaluates.
//
// The folder and its files are read through the host's file access handed in (src/data/files.ts).
//
// Glossary: N samples, F = 26 tables, R max index range.

import type { BatchSource } from "./batch_source.ts";
import { RowOrder, type RowOrderOptions } from "./row_order.ts";
import type { Dataset, SparseFeature } from "./dataset.ts";
import type { DataFiles } from "./files.ts";
import { NpyFile } from "./npy.ts";

const DENSE = 13;
const SPARSE = 26;
const DAY_FILE = /(?:^|[\\/])day_(\d+)_(dense|sparse|labels)\.npy$/;

/** One day's three files, checked to agree. */
export interface TorchrecDay {
  readonly day: number;
  readonly rows: number;
  readonly dense: NpyFile;
  readonly sparse: NpyFile;
  readonly labels: NpyFile;
}

/** The days in `dir`, in order; an error naming a missing or mismatched file. */
export function openTorchrecDays(dir: string, files: DataFiles): TorchrecDay[] {
  let names: string[]; // the folder's paths
  try {
    names = files.list(dir);
  } catch (e) {
    throw new Error(`torchrec-npy:${dir}: cannot read the folder: ${e instanceof Error ? e.message : String(e)}`);
  }
  const days = new Set<number>();
  for (const n of names) {
    const m = DAY_FILE.exec(n);
    if (m !== null) days.add(Number(m[1]));
  }
  if (days.size === 0)
    throw new Error(`torchrec-npy:${dir}: no day_N_dense.npy / day_N_sparse.npy / day_N_labels.npy files`);
  const opened: NpyFile[] = [];
  try {
    return [...days]
      .sort((a, b) => a - b)
      .map((day) => {
        const open = (part: string, cols: number): NpyFile => {
          const path = files.join(dir, `day_${day}_${part}.npy`);
          if (!names.includes(path)) throw new Error(`torchrec-npy:${dir}: day ${day} has no ${path}`);
          const f = new NpyFile(path, files);
          opened.push(f);
          const h = f.header;
          if (h.shape.length > 2 || h.rowValues !== cols)
            throw new Error(`${path}: shape (${h.shape.join(", ")}), expected (rows, ${cols})`);
          return f;
        };
        const dense = open("dense", DENSE);
        const sparse = open("sparse", SPARSE);
        const labels = open("labels", 1);
        const rows = dense.header.rows;
        if (sparse.header.rows !== rows || labels.header.rows !== rows)
          throw new Error(
            `torchrec-npy:${dir}: day ${day} has ${rows} dense rows, ${sparse.header.rows} sparse and ${labels.header.rows} labels`,
          );
        return { day, rows, dense, sparse, labels };
      });
  } catch (e) {
    for (const f of opened) f.close();
    throw e;
  }
}

/** Rows [start, end) of one day as a Dataset; ids modulo R when R > 0. */
export function readTorchrecRows(d: TorchrecDay, start: number, end: number, R: number): Dataset {
  const N = end - start;
  const dense = Float32Array.from(d.dense.rows(start, end));
  const labelsRaw = d.labels.rows(start, end);
  const labels = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    const l = labelsRaw[i];
    if (l !== 0 && l !== 1) throw new Error(`${d.labels.path}: row ${start + i}: label must be 0 or 1, got ${l}`);
    labels[i] = l;
  }
  const raw = d.sparse.rows(start, end);
  const indices = Array.from({ length: SPARSE }, () => new Int32Array(N));
  for (let i = 0; i < N; i++) {
    for (let t = 0; t < SPARSE; t++) {
      let id = raw[i * SPARSE + t];
      if (id < 0) throw new Error(`${d.sparse.path}: row ${start + i}, feature ${t}: negative id ${id}`);
      if (R > 0) id %= R;
      else if (id > 0x7fffffff)
        throw new Error(
          `${d.sparse.path}: row ${start + i}, feature ${t}: id ${id} needs --max-ind-range (raw hashes: TorchRec hashes them into a table of R rows)`,
        );
      (indices[t] as Int32Array)[i] = id;
    }
  }
  const lengths = new Int32Array(N).fill(1);
  const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i);
  const sparse: SparseFeature[] = indices.map((ix) => ({ lengths, offsets, indices: ix, weights: null }));
  return { n: N, denseFeatures: DENSE, dense, labels, sparse };
}

export { DENSE as TORCHREC_DENSE, SPARSE as TORCHREC_SPARSE };

/** Rows of each table: R each when R > 0, else the largest id + 1 over every day (read in
 *  blocks of rows, never a whole file). */
export function torchrecTableSizes(dir: string, files: DataFiles, R: number, blockRows = 65536): number[] {
  if (R > 0) return new Array<number>(SPARSE).fill(R);
  const days = openTorchrecDays(dir, files);
  try {
    const max = new Array<number>(SPARSE).fill(-1);
    for (const d of days)
      for (let s = 0; s < d.rows; s += blockRows) {
        const part = readTorchrecRows(d, s, Math.min(d.rows, s + blockRows), 0);
        part.sparse.forEach((f, t) => {
          let m = max[t];
          for (const id of f.indices) if (id > m) m = id;
          max[t] = m;
        });
      }
    return max.map((m) => m + 1);
  } finally {
    for (const d of days) for (const f of [d.dense, d.sparse, d.labels]) f.close();
  }
}

/** Datasets of one lookup per table, joined. */
function concatSingleLookup(parts: readonly Dataset[]): Dataset {
  const N = parts.reduce((a, p) => a + p.n, 0);
  const dense = new Float32Array(N * DENSE);
  const labels = new Float32Array(N);
  const indices = Array.from({ length: SPARSE }, () => new Int32Array(N));
  let at = 0;
  for (const p of parts) {
    dense.set(p.dense, at * DENSE);
    labels.set(p.labels, at);
    p.sparse.forEach((f, t) => (indices[t] as Int32Array).set(f.indices, at));
    at += p.n;
  }
  const lengths = new Int32Array(N).fill(1);
  const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i);
  return {
    n: N,
    denseFeatures: DENSE,
    dense,
    labels,
    sparse: indices.map((ix) => ({ lengths, offsets, indices: ix, weights: null })),
  };
}

export interface TorchrecNpySourceOptions extends RowOrderOptions {
  maxIndRange?: number;
  /** Global rows [s, e) over the days in order (default: all). */
  rows?: readonly [number, number];
}

/** TorchRec's days as a BatchSource: global rows [start, end) over the days in order (a batch
 *  may span two days), each step's rows read by position, in file order or shuffled in
 *  bounded memory as our batch files are (src/data/row_order.ts). */
export class TorchrecNpySource implements BatchSource {
  readonly denseFeatures = DENSE;
  readonly tables = SPARSE;
  readonly samplesPerEpoch: number;
  readonly #dir: string;
  readonly #files: DataFiles;
  readonly #opts: TorchrecNpySourceOptions;
  readonly #days: TorchrecDay[];
  readonly #first: number[]; // (days + 1,) the global row of each day's first row
  readonly #R: number;
  readonly #name: string;
  readonly #order: RowOrder;
  readonly #views: TorchrecNpySource[] = []; // withOrder's, closed with this one
  #closed = false;

  constructor(dir: string, files: DataFiles, opts: TorchrecNpySourceOptions = {}) {
    this.#dir = dir;
    this.#files = files;
    this.#opts = opts;
    this.#name = `torchrec-npy:${dir}`;
    this.#days = openTorchrecDays(dir, files);
    this.#first = [0];
    for (const d of this.#days) this.#first.push(this.#first[this.#first.length - 1] + d.rows);
    const total = this.#first[this.#days.length];
    const [s, e] = opts.rows ?? [0, total];
    this.#R = opts.maxIndRange ?? 0;
    try {
      if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s <= e && e <= total))
        throw new Error(`${this.#name}: rows [${s}, ${e}) are outside its ${total}`);
      this.samplesPerEpoch = e - s;
      this.#order = new RowOrder(this.#name, e - s, async (a, b) => this.#readRows(s + a, s + b), opts);
    } catch (err) {
      this.#closeFiles();
      throw err;
    }
  }

  /** Rows of each day, in order (the protocol's days). */
  get dayRows(): number[] {
    return this.#days.map((d) => d.rows);
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    if (this.#closed) return Promise.reject(new Error(`${this.#name}: the source is closed`));
    return this.#order.batch(step, batchSize);
  }

  /** The same rows in the run's order (BatchSource.withOrder), with open files of its own. */
  withOrder(order: { shuffle: boolean; seed: number }): TorchrecNpySource {
    if (this.#closed) throw new Error(`${this.#name}: the source is closed`);
    const view = new TorchrecNpySource(this.#dir, this.#files, { ...this.#opts, ...order });
    this.#views.push(view);
    return view;
  }

  /** Global rows [a, b), in order. */
  #readRows(a: number, b: number): Dataset {
    const parts: Dataset[] = [];
    this.#days.forEach((d, k) => {
      const lo = Math.max(a, this.#first[k]);
      const hi = Math.min(b, this.#first[k + 1]);
      if (lo < hi) parts.push(readTorchrecRows(d, lo - this.#first[k], hi - this.#first[k], this.#R));
    });
    return parts.length === 1 ? parts[0] : concatSingleLookup(parts);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#views.splice(0).map((v) => v.close()));
    await this.#order.settle();
    this.#closeFiles();
  }

  #closeFiles(): void {
    for (const d of this.#days) {
      d.dense.close();
      d.sparse.close();
      d.labels.close();
    }
  }
}
