// A file `dlrm preprocess csv` wrote (src/cli/csv_source.ts) as data of a run: its metadata
// holds the model derived from the schema and the data, and names the evaluation file beside
// it, which must record the same pair id.

import { parseConfig } from "../../dlrm/config.ts";
import { safetensorsMetadata } from "../safetensors_files.ts";
import type { BuiltinModel } from "./builtin_models.ts";
import type { DataFiles } from "../files.ts";

/** The `format` metadata of the training file `dlrm preprocess csv` writes. */
export const CSV_BATCH_FORMAT = "dlrm-ts csv batch";

/** What `dlrm train` takes from a file that `dlrm preprocess csv` wrote. */
export interface CsvBatchInfo {
  model: BuiltinModel;
  tableNames: string[];
  /** The evaluation file beside it, or null when the split picked no row. */
  evalPath: string | null;
}

/** The preprocessing facts of a batch file, or null when `dlrm preprocess csv` did not write it. */
export function csvBatchInfo(path: string, files: DataFiles): CsvBatchInfo | null {
  const meta = safetensorsMetadata(path, files);
  if (meta["format"] !== CSV_BATCH_FORMAT) return null;
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(meta[key] ?? "");
    } catch {
      throw new Error(`${path}: metadata ${key} is not JSON: ${JSON.stringify(meta[key] ?? null)}`);
    }
  };
  const config = parseConfig(parse("model"), `${path} (metadata model)`);
  const epochs = Number(meta["epochs"]);
  const acc = Number(meta["adagrad_initial_accumulator"] ?? 0);
  if (!Number.isInteger(epochs) || epochs < 1 || !(acc >= 0))
    throw new Error(
      `${path}: metadata epochs ${JSON.stringify(meta["epochs"])} / adagrad_initial_accumulator are not a positive integer and a non-negative number`,
    );
  const names = parse("table_names");
  const evalName = meta["eval_file"] ?? "";
  let evalPath: string | null = null;
  if (evalName !== "") {
    evalPath = files.join(files.dirname(path), evalName);
    if (!files.exists(evalPath)) throw new Error(`${path}: its evaluation rows are in ${evalPath}, which is absent`);
    if (safetensorsMetadata(evalPath, files)["pair_id"] !== meta["pair_id"])
      throw new Error(
        `${path} and ${evalPath} were not written together (another pair_id): run dlrm preprocess csv again`,
      );
  }
  return {
    model: { config, epochs, adagradInitialAccumulator: acc, ensemble: 1, tableWeightDecay: null },
    tableNames: Array.isArray(names) ? names.map(String) : [],
    evalPath,
  };
}
