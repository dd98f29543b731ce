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
  kaggleSplits,
  readCriteo,
  type CriteoDictionary,
  type IdMap,
} from "../data/criteo.ts";
import type { Dataset, SparseFeature } from "../data/dataset.ts";
import type { ProgressSink } from "./read_progress.ts";
import { ReadProgress } from "./read_progress.ts";

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
  try {
    for (const [k, file] of files.entries()) {
      // A file read without a dictionary numbers its values from 0 …; later files are then
      // renumbered into the first file's dictionary (mergeInto), as one pass would number them.
      const r = await readCriteo([file], {
        ...(o.maxIndRange === undefined ? {} : { maxIndRange: o.maxIndRange }),
        ...(o.dictionary === undefined ? {} : { dictionary: o.dictionary }),
        onBadLine: o.onBadLine,
        onProgress: (lines, bytes) => bar?.update(linesBefore + lines, bytesBefore + bytes, total),
      });
      linesBefore += r.lines;
      bytesBefore += sizes[k] as number;
      skipped += r.skipped;
      fileRows.push(r.data.n);
      if (dictionary === undefined) dictionary = r.dictionary;
      else if (o.dictionary === undefined) mergeInto(dictionary, r.dictionary, r.data);
      parts.push(r.data);
    }
  } finally {
    bar?.done();
  }
  return { data: parts.length === 1 ? (parts[0] as Dataset) : concatSingleLookup(parts), dictionary: dictionary as CriteoDictionary, fileRows, skipped };
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

/** The reference's protocol over N samples from files of `fileRows` samples: one file is
 *  Kaggle's train.txt, cut into 7 "days" (kaggleSplits: train on days 0–5, day 6 halved
 *  into test, then validation); several files are days (Terabyte's day_0 …): train on all
 *  but the last, the last halved, larger half first, into test, then validation. */
export function criteoSplit(fileRows: readonly number[]): CriteoSplit {
  const n = fileRows.reduce((a, b) => a + b, 0);
  if (fileRows.length <= 1) return kaggleSplits(n);
  const last = fileRows[fileRows.length - 1] as number;
  const trainEnd = n - last;
  const testEnd = trainEnd + Math.ceil(last / 2);
  return { train: [0, trainEnd], test: [trainEnd, testEnd], val: [testEnd, n] };
}

/** What `dlrm preprocess criteo` records in its output's metadata. */
export interface CriteoBatchInfo {
  /** (D,) samples from each input file, in order. */
  fileRows: number[];
  files: string[];
  skipped: number;
}

export function criteoBatchMetadata(info: CriteoBatchInfo, maxIndRange: number): Record<string, string> {
  return {
    format: CRITEO_BATCH_FORMAT,
    files: JSON.stringify(info.files),
    file_rows: JSON.stringify(info.fileRows),
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
  const fileRows = parse("file_rows");
  const files = parse("files");
  if (!Array.isArray(fileRows) || !fileRows.every((x) => Number.isInteger(x) && x >= 0) || fileRows.reduce((a: number, b: number) => a + b, 0) !== n) {
    throw new Error(`${path}: metadata file_rows ${JSON.stringify(meta["file_rows"] ?? null)} does not add up to the file's ${n} samples`);
  }
  return {
    fileRows: fileRows as number[],
    files: Array.isArray(files) ? files.map(String) : [],
    skipped: Number(meta["skipped_lines"] ?? 0),
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
