// Criteo data for the CLI: reading one or more raw files into one Dataset with one
// dictionary, the reference's train/test protocol, and the preprocessed form that
// `dlrm preprocess criteo` writes (a batch file, its dictionary beside it, and metadata
// that lets training apply the same protocol to it).
//
// Several files are read one at a time and their dictionaries merged, which numbers raw
// values exactly as one pass over all files would (first appearance, files in order), and
// gives the rows of each file, which the day protocol needs.
//
// Glossary: N samples, F = 26 tables, D files (days).

import { existsSync, statSync } from "node:fs";
import { readSafetensorsMetadata } from "./metadata.ts";
import {
  CRITEO_DENSE,
  CRITEO_SPARSE,
  kaggleDays,
  readCriteo,
  type CriteoDictionary,
  type IdMap,
} from "../data/criteo.ts";
import type { Dataset, SparseFeature } from "../data/dataset.ts";
import type { ProgressSink } from "./read_progress.ts";
import { ReadProgress } from "./read_progress.ts";
import { Rng } from "../tensor/rng.ts";

/** The `format` metadata of a batch file written by `dlrm preprocess criteo`. */
export const CRITEO_BATCH_FORMAT = "dlrm-ts criteo batch";

/** Where the dictionary of a preprocessed batch file lives: `x.safetensors` → `x.dict.safetensors`
 *  (any other name gets `.dict.safetensors` appended). */
export function dictionaryPathFor(batchPath: string): string {
  return batchPath.endsWith(".safetensors") ? `${batchPath.slice(0, -".safetensors".length)}.dict.safetensors` : `${batchPath}.dict.safetensors`;
}

export interface CriteoRead {
  data: Dataset;
  dictionary: CriteoDictionary;
  /** (D,) samples kept from each file, in order. */
  fileRows: number[];
  /** Samples kept from each day of the reference's protocol (criteoDays). */
  dayRows: number[];
  /** Malformed lines skipped (onBadLine "skip"). */
  skipped: number;
}

export interface CriteoReadOptions {
  /** R, or undefined for none (or, with a dictionary, the dictionary's). */
  maxIndRange: number | undefined;
  onBadLine: "error" | "skip";
  /** Map through this dictionary (eval data); undefined: build one. */
  dictionary: CriteoDictionary | undefined;
  /** Where to draw the byte progress (stderr), or null for none. */
  progress: ProgressSink | null;
  label: string;
  /** p: drop each negative row with probability p as it is read, before its values are numbered (the reference's --data-sub-sample-rate); 0: keep every row. */
  subSampleRate: number;
  /** Seed of the sub-sampling draws: one per line, continuing over the files. */
  seed: number;
}

/** The samples of `files` in order as one Dataset, every row kept. */
export async function readCriteoFiles(files: readonly string[], o: CriteoReadOptions): Promise<CriteoRead> {
  if (files.length === 0) throw new Error("criteo: no files given");
  const sizes = files.map((f) => {
    try {
      return statSync(f).size;
    } catch (e) {
      throw new Error(`criteo: cannot read ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  const bar = o.progress === null ? null : new ReadProgress(o.progress, o.label);
  const parts: Dataset[] = [];
  const fileRows: number[] = [];
  let dictionary = o.dictionary;
  let skipped = 0;
  let linesBefore = 0;
  let bytesBefore = 0;
  const draws = new Rng(o.seed);
  const dayRows: number[] = [];
  try {
    for (const [k, file] of files.entries()) {
      // A file read without a dictionary numbers its values from 0 …; later files are then
      // renumbered into the first file's dictionary (mergeInto), as one pass would number them.
      const r = await readCriteo([file], {
        ...(o.maxIndRange === undefined ? {} : { maxIndRange: o.maxIndRange }),
        ...(o.dictionary === undefined ? {} : { dictionary: o.dictionary }),
        onBadLine: o.onBadLine,
        subSampleRate: o.subSampleRate,
        rng: draws,
        onProgress: (lines, bytes) => bar?.update(linesBefore + lines, bytesBefore + bytes, total),
      });
      linesBefore += r.lines;
      bytesBefore += sizes[k] as number;
      skipped += r.skipped;
      fileRows.push(r.data.n);
      // One file is Kaggle's train.txt: its 7 days are cut by line, before sub-sampling, as
      // the reference cuts them; a day then holds the rows kept from its lines.
      if (files.length === 1) dayRows.push(...keptPerDay(kaggleDays(r.lines), r.rowLines));
      else dayRows.push(r.data.n);
      if (dictionary === undefined) dictionary = r.dictionary;
      else if (o.dictionary === undefined) mergeInto(dictionary, r.dictionary, r.data);
      parts.push(r.data);
    }
  } finally {
    bar?.done();
  }
  return { data: parts.length === 1 ? (parts[0] as Dataset) : concatSingleLookup(parts), dictionary: dictionary as CriteoDictionary, fileRows, dayRows, skipped };
}

/** Rows per day, for days of `dayLines` lines each and the (increasing) line of every row. */
function keptPerDay(dayLines: readonly number[], rowLines: Int32Array): number[] {
  const out: number[] = [];
  let row = 0;
  let end = 0;
  for (const lines of dayLines) {
    end += lines;
    const first = row;
    while (row < rowLines.length && (rowLines[row] as number) < end) row++;
    out.push(row - first);
  }
  return out;
}

/** Extends `into` with the values of `from` in `from`'s id order (its order of first
 *  appearance) and renumbers `data`'s ids from `from`'s numbering to `into`'s, in place. */
function mergeInto(into: CriteoDictionary, from: CriteoDictionary, data: Dataset): void {
  for (let t = 0; t < CRITEO_SPARSE; t++) {
    const target = into.features[t] as IdMap;
    const raw = (from.features[t] as IdMap).rawValues();
    const remap = new Int32Array(raw.length); // local id → merged id
    for (let id = 0; id < raw.length; id++) remap[id] = target.add(raw[id] as number);
    const indices = (data.sparse[t] as SparseFeature).indices;
    for (let i = 0; i < indices.length; i++) indices[i] = remap[indices[i] as number] as number;
  }
}

/** Datasets whose tables all have one lookup per sample, end to end. */
function concatSingleLookup(parts: readonly Dataset[]): Dataset {
  const N = parts.reduce((a, d) => a + d.n, 0);
  const dense = new Float32Array(N * CRITEO_DENSE); // (N, 13)
  const labels = new Float32Array(N); // (N,)
  const indices = Array.from({ length: CRITEO_SPARSE }, () => new Int32Array(N)); // F × (N,)
  let at = 0;
  for (const d of parts) {
    dense.set(d.dense, at * CRITEO_DENSE);
    labels.set(d.labels, at);
    d.sparse.forEach((f, t) => (indices[t] as Int32Array).set(f.indices, at));
    at += d.n;
  }
  const lengths = new Int32Array(N).fill(1); // (N,) shared by every table
  const offsets = Int32Array.from({ length: N + 1 }, (_, i) => i); // (N + 1,)
  const sparse: SparseFeature[] = indices.map((ix) => ({ lengths, offsets, indices: ix, weights: null }));
  return { n: N, denseFeatures: CRITEO_DENSE, dense, labels, sparse };
}

export interface CriteoSplit {
  train: [number, number];
  test: [number, number];
  val: [number, number];
}

/** The reference's protocol over days of `dayRows` samples: train on all days but the last,
 *  the last halved, larger half first (np.array_split), into test, then validation. Kaggle's
 *  single train.txt is cut into 7 days (kaggleDays), Terabyte's day_0 … are days. */
export function criteoSplit(dayRows: readonly number[]): CriteoSplit {
  const n = dayRows.reduce((a, b) => a + b, 0);
  const last = dayRows.length === 0 ? 0 : (dayRows[dayRows.length - 1] as number);
  const trainEnd = n - last;
  const testEnd = trainEnd + Math.ceil(last / 2);
  return { train: [0, trainEnd], test: [trainEnd, testEnd], val: [testEnd, n] };
}

/** What `dlrm preprocess criteo` records in its output's metadata. */
export interface CriteoBatchInfo {
  /** (D,) samples from each input file, in order. */
  fileRows: number[];
  /** Samples of each day of the protocol (criteoSplit). */
  dayRows: number[];
  files: string[];
  skipped: number;
  /** The sub-sampling applied when the rows were read (rate 0: none). */
  subSampleRate: number;
  seed: number;
}

export function criteoBatchMetadata(info: CriteoBatchInfo, maxIndRange: number): Record<string, string> {
  return {
    format: CRITEO_BATCH_FORMAT,
    files: JSON.stringify(info.files),
    file_rows: JSON.stringify(info.fileRows),
    day_rows: JSON.stringify(info.dayRows),
    sub_sample_rate: String(info.subSampleRate),
    sub_sample_seed: String(info.seed),
    max_ind_range: String(maxIndRange),
    skipped_lines: String(info.skipped),
  };
}

/** The preprocessing facts of a batch file, or null when `dlrm preprocess criteo` did not write it. */
export function criteoBatchInfo(path: string, n: number): CriteoBatchInfo | null {
  const meta = readSafetensorsMetadata(path);
  if (meta["format"] !== CRITEO_BATCH_FORMAT) return null;
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(meta[key] ?? "null");
    } catch {
      return null;
    }
  };
  const counts = (key: string): number[] => {
    const v = parse(key);
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0) || v.reduce((a: number, b: number) => a + b, 0) !== n) {
      throw new Error(`${path}: metadata ${key} ${JSON.stringify(meta[key] ?? null)} does not add up to the file's ${n} samples`);
    }
    return v as number[];
  };
  const fileRows = counts("file_rows");
  const files = parse("files");
  const rate = Number(meta["sub_sample_rate"] ?? 0);
  if (!(rate >= 0 && rate <= 1)) throw new Error(`${path}: metadata sub_sample_rate ${JSON.stringify(meta["sub_sample_rate"])} is not in [0, 1]`);
  return {
    fileRows,
    // Files written before day_rows was recorded were never sub-sampled: their days follow from the rows.
    dayRows: meta["day_rows"] !== undefined ? counts("day_rows") : fileRows.length === 1 ? kaggleDays(n) : fileRows,
    files: Array.isArray(files) ? files.map(String) : [],
    skipped: Number(meta["skipped_lines"] ?? 0),
    subSampleRate: rate,
    seed: Number(meta["sub_sample_seed"] ?? 0),
  };
}

/** The metadata key of the random id that a batch file and its dictionary share (dlrm preprocess). */
export const PAIR_ID_KEY = "pair_id";

/** The dictionary file beside a preprocessed batch file, checked to be the one written with
 *  it (the same pair id), or an error naming where it should be. */
export function requireDictionaryBeside(batchPath: string): string {
  const p = dictionaryPathFor(batchPath);
  if (!existsSync(p)) throw new Error(`${batchPath}: a preprocessed Criteo file needs its dictionary beside it, ${p}, which is absent`);
  const batchId = readSafetensorsMetadata(batchPath)[PAIR_ID_KEY];
  const dictId = readSafetensorsMetadata(p)[PAIR_ID_KEY];
  if (batchId !== dictId) {
    throw new Error(
      `${batchPath} and its dictionary ${p} were not written together (pair_id ${JSON.stringify(batchId ?? null)} vs ${JSON.stringify(dictId ?? null)}: one was replaced without the other); run dlrm preprocess again`,
    );
  }
  return p;
}
