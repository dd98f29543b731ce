// The MLPerf .bin format as data of a run (src/data/mlperf_bin.ts reads it): `dlrm train --data
// x.bin` takes the table sizes from the dictionary beside it when it is there (a file made by
// the reference has none: then the largest id of each table + 1, after --max-ind-range R as
// the reference's reader takes it), the built-in Criteo model, and no evaluation split (the
// reference keeps its test rows in another .bin: give it as --eval-data).

import { criteoTableSizes, loadDictionary } from "../criteo_dictionary.ts";
import type { CriteoDictionary } from "../criteo_parse.ts";
import { MlperfBinFile, MlperfBinSource } from "../mlperf_bin.ts";
import { dictionaryPathFor } from "./criteo_files.ts";
import type { DataFiles } from "../files.ts";

/** Whether `--out` / `--data` names the MLPerf binary format. */
export function isMlperfBinPath(path: string): boolean {
  return path.endsWith(".bin");
}

/** A .bin file as a source read by position as training goes, with its table sizes (its
 *  dictionary's when beside it, else its largest ids + 1). */
export function openMlperfBinData(
  path: string,
  maxIndRange: number | undefined,
  files: DataFiles,
): { data: MlperfBinSource; tableSizes: number[]; dictionary: CriteoDictionary | null } {
  const dictPath = dictionaryPathFor(path);
  const dictionary = files.exists(dictPath) ? loadDictionary(dictPath, files) : null;
  if (dictionary !== null && maxIndRange !== undefined && maxIndRange !== dictionary.maxIndRange)
    throw new Error(
      `${path}: --max-ind-range ${maxIndRange} differs from the ${dictionary.maxIndRange} of its dictionary ${dictPath}`,
    );
  const R = dictionary === null ? (maxIndRange ?? 0) : 0;
  let tableSizes: number[];
  if (dictionary !== null) tableSizes = criteoTableSizes(dictionary);
  else {
    const file = new MlperfBinFile(path, files, { maxIndRange: R });
    try {
      tableSizes = file.tableSizes();
    } finally {
      file.close();
    }
  }
  return { data: new MlperfBinSource(path, files, { maxIndRange: R }), tableSizes, dictionary };
}
