// The Criteo click-log reader: the files given (Kaggle Display Advertising Challenge
// `train.txt`, Terabyte `day_N`), streamed one chunk at a time, through the parser of
// src/data/criteo_parse.ts (whose head says how lines become samples, and which a page uses
// on a file the user picks), and the reference's train/test protocol over its days. The files
// are read through the host's file access handed in (src/data/files.ts).

import type { DataFiles } from "./files.ts";
import { readLineChunks } from "./lines.ts";
import type { Dataset } from "./dataset.ts";
import {
  parseCriteo,
  parseCriteoChunks,
  type CriteoChunksResult,
  type CriteoOptions,
  type CriteoResult,
  type CriteoSource,
} from "./criteo_parse.ts";
export {
  concatCriteoChunks,
  CRITEO_CHUNK_ROWS,
  parseCriteoChunks,
  type CriteoChunksResult,
  criteoSplit,
  criteoBytesSource,
  KAGGLE_DAYS,
  kaggleDays,
  parseCriteo,
  type CriteoOptions,
  type CriteoResult,
  type CriteoSource,
  type CriteoSplit,
} from "./criteo_parse.ts";

/** The samples of `files`, read in order, as one Dataset with 13 dense features and 26 single-lookup tables. */
export async function readCriteo(
  files: readonly string[],
  access: DataFiles,
  opts: CriteoOptions = {},
): Promise<CriteoResult> {
  return parseCriteo(criteoFileSources(files, access), opts);
}

/** The samples of `files`, read in order, handed to `sink` in chunks of `chunkRows` rows (parseCriteoChunks). */
export async function readCriteoChunks(
  files: readonly string[],
  access: DataFiles,
  opts: CriteoOptions,
  sink: (chunk: Dataset) => void,
  chunkRows?: number,
): Promise<CriteoChunksResult> {
  return parseCriteoChunks(criteoFileSources(files, access), opts, sink, chunkRows);
}

function criteoFileSources(files: readonly string[], access: DataFiles): CriteoSource[] {
  const sizes = files.map((f) => {
    try {
      return access.size(f);
    } catch (e) {
      throw new Error(`readCriteo: cannot read ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return files.map((f, i) => ({ name: f, bytes: sizes[i], batches: () => readLineChunks(f, access) }));
}
