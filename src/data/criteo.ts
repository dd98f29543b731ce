// The Criteo click-log reader: the files given (Kaggle Display Advertising Challenge
// `train.txt`, Terabyte `day_N`), streamed one chunk at a time, through the parser of
// src/data/criteo_parse.ts (whose head says how lines become samples, and which a page uses
// on a file the user picks), and the reference's train/test protocol over its days.

import { statSync } from "node:fs";
import { readLineBatches } from "./lines.ts";
import { parseCriteo, type CriteoOptions, type CriteoResult } from "./criteo_parse.ts";
export {
  criteoSplit,
  criteoTextSource,
  KAGGLE_DAYS,
  kaggleDays,
  parseCriteo,
  type CriteoOptions,
  type CriteoResult,
  type CriteoSource,
  type CriteoSplit,
} from "./criteo_parse.ts";

/** The samples of `files`, read in order, as one Dataset with 13 dense features and 26 single-lookup tables. */
export async function readCriteo(files: readonly string[], opts: CriteoOptions = {}): Promise<CriteoResult> {
  const sizes = files.map((f) => {
    try {
      return statSync(f).size;
    } catch (e) {
      throw new Error(`readCriteo: cannot read ${f}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return parseCriteo(
    files.map((f, i) => ({ name: f, bytes: sizes[i] as number, batches: () => readLineBatches(f) })),
    opts,
  );
}
