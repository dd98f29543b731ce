// The MLPerf binary format of Criteo data that the reference trains from with
// --mlperf-bin-loader (facebookresearch/dlrm data_loader_terabyte.py, CriteoBinDataset and
// numpy_to_binary): a flat file of little-endian int32, 40 per sample and nothing else —
//   column 0       the label (0 or 1)
//   columns 1–13   the 13 integer features, negative values already made 0 (not yet log'd)
//   columns 14–39  the 26 categorical features as table row ids (numbered, or hashed)
// so sample i is the 160 bytes at i · 160, and a batch is one positional read. The reader
// transforms as the reference's _transform_features does: dense = log(float32(x) + 1) in
// float32, ids modulo maxIndRange when it is > 0, one lookup per table.
//
// The file is opened through the host's file access handed in (src/data/files.ts); writing one
// is src/data/mlperf_bin_writer.ts's.
//
// Glossary: N samples, Dd = 13 dense features, F = 26 tables, R max index range.

import type { BatchSource } from "./batch_source.ts";
import type { DataFiles, ReadableFile } from "./files.ts";
import { RowOrder, type RowOrderOptions } from "./row_order.ts";
import type { Dataset, SparseFeature } from "./dataset.ts";

export const MLPERF_DENSE = 13;
export const MLPERF_SPARSE = 26;
/** int32 values per sample: label, dense, sparse. */
export const MLPERF_COLUMNS = 1 + MLPERF_DENSE + MLPERF_SPARSE;
export const MLPERF_ROW_BYTES = 4 * MLPERF_COLUMNS;

/** Samples in a .bin file; an error unless its size is a whole number of rows. */
export function mlperfBinRows(path: string, size: number): number {
  if (size % MLPERF_ROW_BYTES !== 0)
    throw new Error(
      `${path}: ${size} bytes is not a whole number of ${MLPERF_ROW_BYTES}-byte samples (the MLPerf .bin format: 40 int32 per sample)`,
    );
  return size / MLPERF_ROW_BYTES;
}

/** A .bin file open for reading samples by position. */
export class MlperfBinFile {
  readonly path: string;
  readonly n: number;
  readonly #file: ReadableFile;
  readonly #maxIndRange: number;

  constructor(path: string, files: DataFiles, opts: { maxIndRange?: number } = {}) {
    const R = opts.maxIndRange ?? 0;
    if (!Number.isInteger(R) || R < 0) throw new Error(`${path}: maxIndRange must be a non-negative integer, got ${R}`);
    this.path = path;
    this.#maxIndRange = R;
    try {
      this.#file = files.open(path);
    } catch (e) {
      throw new Error(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      this.n = mlperfBinRows(path, this.#file.size);
    } catch (e) {
      this.#file.close();
      throw e;
    }
  }

  /** (end − start, 40) the raw int32 values of samples [start, end). */
  raw(start: number, end: number): Int32Array {
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= this.n))
      throw new Error(`${this.path}: samples [${start}, ${end}) are outside its ${this.n}`);
    const bytes = (end - start) * MLPERF_ROW_BYTES;
    const buf = new Uint8Array(bytes);
    let got = 0;
    while (got < bytes) {
      const k = this.#file.readSync(buf.subarray(got), start * MLPERF_ROW_BYTES + got);
      if (k === 0) throw new Error(`${this.path}: ended early, at byte ${start * MLPERF_ROW_BYTES + got}`);
      got += k;
    }
    const le = new DataView(buf.buffer);
    const out = new Int32Array(bytes / 4);
    for (let j = 0; j < out.length; j++) out[j] = le.getInt32(4 * j, true);
    return out;
  }

  /** Samples [start, end) as a Dataset, transformed as the reference's reader does. */
  read(start: number, end: number): Dataset {
    const raw = this.raw(start, end);
    const N = end - start;
    const R = this.#maxIndRange;
    const dense = new Float32Array(N * MLPERF_DENSE);
    const labels = new Float32Array(N);
    const indices = Array.from({ length: MLPERF_SPARSE }, () => new Int32Array(N));
    for (let i = 0; i < N; i++) {
      const row = i * MLPERF_COLUMNS;
      const where = (): string => `${this.path}: sample ${start + i}`;
      const label = raw[row];
      if (label !== 0 && label !== 1) throw new Error(`${where()}: label must be 0 or 1, got ${label}`);
      labels[i] = label;
      for (let d = 0; d < MLPERF_DENSE; d++) {
        const x = raw[row + 1 + d];
        if (x < 0)
          throw new Error(`${where()}: dense feature ${d} is ${x}; the format holds them after negatives became 0`);
        dense[i * MLPERF_DENSE + d] = Math.log(Math.fround(Math.fround(x) + 1)); // float32 steps, as torch's
      }
      for (let t = 0; t < MLPERF_SPARSE; t++) {
        const id = raw[row + 1 + MLPERF_DENSE + t];
        if (id < 0) throw new Error(`${where()}: categorical feature ${t} has a negative id ${id}`);
        (indices[t] as Int32Array)[i] = R > 0 ? id % R : id;
      }
    }
    const lengths = new Int32Array(N).fill(1);
    const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i);
    const sparse: SparseFeature[] = indices.map((ix) => ({ lengths, offsets, indices: ix, weights: null }));
    return { n: N, denseFeatures: MLPERF_DENSE, dense, labels, sparse };
  }

  /** (26,) rows each table needs: the largest id (after the modulo) + 1, read in blocks. */
  tableSizes(blockRows = 65536): number[] {
    const max = new Array<number>(MLPERF_SPARSE).fill(-1);
    for (let s = 0; s < this.n; s += blockRows) {
      const e = Math.min(this.n, s + blockRows);
      const d = this.read(s, e);
      d.sparse.forEach((f, t) => {
        let m = max[t];
        for (const id of f.indices) if (id > m) m = id;
        max[t] = m;
      });
    }
    return max.map((m) => m + 1);
  }

  close(): void {
    this.#file.close();
  }
}

export interface MlperfBinSourceOptions extends RowOrderOptions {
  maxIndRange?: number;
  /** The rows [s, e) of the file this source reads (default: all). */
  rows?: readonly [number, number];
}

/** A .bin file as a BatchSource: step s reads its batch's rows by position, rows [start, end)
 *  of the file, in file order (the reference's loader without --mlperf-bin-shuffle) or
 *  shuffled in bounded memory as our batch files are (src/data/row_order.ts). */
export class MlperfBinSource implements BatchSource {
  readonly denseFeatures = MLPERF_DENSE;
  readonly tables = MLPERF_SPARSE;
  readonly samplesPerEpoch: number;
  readonly #path: string;
  readonly #files: DataFiles;
  readonly #opts: MlperfBinSourceOptions;
  readonly #file: MlperfBinFile;
  readonly #order: RowOrder;
  readonly #views: MlperfBinSource[] = []; // withOrder's, closed with this one
  #closed = false;

  constructor(path: string, files: DataFiles, opts: MlperfBinSourceOptions = {}) {
    this.#path = path;
    this.#files = files;
    this.#opts = opts;
    this.#file = new MlperfBinFile(
      path,
      files,
      opts.maxIndRange === undefined ? {} : { maxIndRange: opts.maxIndRange },
    );
    const [s, e] = opts.rows ?? [0, this.#file.n];
    try {
      if (!(Number.isInteger(s) && Number.isInteger(e) && 0 <= s && s <= e && e <= this.#file.n))
        throw new Error(`${path}: rows [${s}, ${e}) are outside its ${this.#file.n}`);
      this.samplesPerEpoch = e - s;
      this.#order = new RowOrder(path, e - s, async (a, b) => this.#file.read(s + a, s + b), opts);
    } catch (err) {
      this.#file.close();
      throw err;
    }
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    if (this.#closed) return Promise.reject(new Error(`${this.#path}: the source is closed`));
    return this.#order.batch(step, batchSize);
  }

  /** The same rows in the run's order (BatchSource.withOrder), with an open file of its own. */
  withOrder(order: { shuffle: boolean; seed: number }): MlperfBinSource {
    if (this.#closed) throw new Error(`${this.#path}: the source is closed`);
    const view = new MlperfBinSource(this.#path, this.#files, { ...this.#opts, ...order });
    this.#views.push(view);
    return view;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#views.splice(0).map((v) => v.close()));
    await this.#order.settle();
    this.#file.close();
  }
}
