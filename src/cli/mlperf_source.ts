// The MLPerf .bin format on the command line (src/data/mlperf_bin.ts):
//   `dlrm preprocess criteo <file...> --out x.bin` writes it, streaming, with the dictionary
//   beside it as x.bin.dict.safetensors (the table sizes; `--dictionary` numbers eval days
//   with the training days' ids, as for our batch format);
//   `dlrm train --data x.bin` reads it: the table sizes from that dictionary when it is
//   there (a file made by the reference has none: then the largest id of each table + 1,
//   after --max-ind-range R as the reference's reader takes it), the built-in Criteo model,
//   and no evaluation split (the reference keeps its test rows in another .bin: give it as
//   --eval-data).

import { existsSync, statSync } from "node:fs";
import type { Io } from "./args.ts";
import { dictionaryPathFor } from "./criteo_source.ts";
import { ReadProgress } from "./read_progress.ts";
import { criteoTableSizes, loadDictionary, saveDictionary } from "../data/criteo_dictionary.ts";
import type { CriteoDictionary } from "../data/criteo_parse.ts";
import { criteoToMlperfBin } from "../data/criteo_mlperf.ts";
import { MlperfBinFile, MlperfBinSource } from "../data/mlperf_bin.ts";

/** Whether `--out` / `--data` names the MLPerf binary format. */
export function isMlperfBinPath(path: string): boolean {
  return path.endsWith(".bin");
}

/** `dlrm preprocess criteo ... --out x.bin`; returns the exit code. */
export async function preprocessCriteoBin(
  files: readonly string[],
  out: string,
  o: {
    maxIndRange: number | undefined;
    onBadLine: "error" | "skip";
    dictionary: CriteoDictionary | undefined;
    subSampleRate: number;
    seed: number;
  },
  io: Io,
): Promise<number> {
  const sizes = files.map((f) => statSync(f).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const before = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const bar = new ReadProgress(io.stderr, "preprocess criteo (.bin)");
  let result;
  try {
    result = await criteoToMlperfBin(files, out, {
      ...(o.maxIndRange === undefined ? {} : { maxIndRange: o.maxIndRange }),
      ...(o.dictionary === undefined ? {} : { dictionary: o.dictionary }),
      onBadLine: o.onBadLine,
      subSampleRate: o.subSampleRate,
      seed: o.seed,
      onProgress: (lines, bytes, f) => bar.update(lines, (before[f] as number) + bytes, total),
    });
  } finally {
    bar.done();
  }
  const dictOut = dictionaryPathFor(out);
  saveDictionary(dictOut, result.dictionary);
  const summary = {
    event: "preprocess",
    out,
    format: "mlperf-bin",
    dictionary: dictOut,
    rows: result.rows,
    file_rows: result.fileRows,
    skipped_lines: result.skipped,
    max_ind_range: result.dictionary.maxIndRange,
    table_sizes: criteoTableSizes(result.dictionary),
  };
  io.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

/** A .bin file as a source read by position as training goes, with its table sizes (its
 *  dictionary's when beside it, else its largest ids + 1). */
export function openMlperfBinData(
  path: string,
  maxIndRange: number | undefined,
): { data: MlperfBinSource; tableSizes: number[]; dictionary: CriteoDictionary | null } {
  const dictPath = dictionaryPathFor(path);
  const dictionary = existsSync(dictPath) ? loadDictionary(dictPath) : null;
  if (dictionary !== null && maxIndRange !== undefined && maxIndRange !== dictionary.maxIndRange)
    throw new Error(
      `${path}: --max-ind-range ${maxIndRange} differs from the ${dictionary.maxIndRange} of its dictionary ${dictPath}`,
    );
  const R = dictionary === null ? (maxIndRange ?? 0) : 0;
  let tableSizes: number[];
  if (dictionary !== null) tableSizes = criteoTableSizes(dictionary);
  else {
    const file = new MlperfBinFile(path, { maxIndRange: R });
    try {
      tableSizes = file.tableSizes();
    } finally {
      file.close();
    }
  }
  return { data: new MlperfBinSource(path, { maxIndRange: R }), tableSizes, dictionary };
}
