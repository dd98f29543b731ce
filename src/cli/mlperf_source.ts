// The MLPerf .bin format on the command line (src/data/mlperf_bin.ts):
//   `dlrm preprocess criteo <file...> --out x.bin` writes it, streaming, with the dictionary
//   beside it as x.bin.dict.safetensors (the table sizes; `--dictionary` numbers eval days
//   with the training days' ids, as for our batch format);
//   `dlrm train --data x.bin` reads it (src/data/sources/mlperf_files.ts).

import { statSync } from "node:fs";
import type { Io } from "./args.ts";
import { dictionaryPathFor } from "../data/sources/criteo_files.ts";
import { ReadProgress } from "./read_progress.ts";
import { criteoTableSizes } from "../data/criteo_dictionary.ts";
import { saveDictionary } from "../data/criteo_dictionary_writer.ts";
import type { CriteoDictionary } from "../data/criteo_parse.ts";
import { criteoToMlperfBin } from "../data/criteo_mlperf.ts";
import { nodeDataFiles } from "./node_files.ts";

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
    result = await criteoToMlperfBin(files, nodeDataFiles, out, {
      ...(o.maxIndRange === undefined ? {} : { maxIndRange: o.maxIndRange }),
      ...(o.dictionary === undefined ? {} : { dictionary: o.dictionary }),
      onBadLine: o.onBadLine,
      subSampleRate: o.subSampleRate,
      seed: o.seed,
      onProgress: (lines, bytes, f) => bar.update(lines, before[f] + bytes, total),
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
