// What the demo page trains, from the data the user chose: the model, optimizer and data
// `dlrm train` builds for the same choice, opened by the same data-source registry
// (src/data/sources/registry.ts) and run recipe (src/run/recipe.ts), over the bytes the page
// read (nothing is uploaded) handed in as the registry's files (src/data/byte_files.ts):
//   synthetic   the built-in model, the synthetic teacher's data sized for the steps and its
//               held-out split                       = dlrm train --data synthetic --data-size N
//   movielens   u.user, u.item, <split>.base, <split>.test of the picked folder (u1 … u5
//               rebuilt from u.data when their files are absent, as the CLI does): the
//               built-in MovieLens model (one member: --ensemble 1), Adagrad with its initial
//               accumulator and table weight decay; evaluated on <split>.test
//                                                    = dlrm train --data movielens:<dir> --split <split>
//   criteo      TSV files in Kaggle's train.txt format (one file: its 7 days; several: a day
//               each, like Terabyte's day_N), read in order: the built-in Criteo model, trained
//               on the reference's train split of the days, evaluated on its test split
//                                                    = dlrm train --data criteo:<file>[,<file>…]
//
// Glossary: N samples, B batch size.

import { byteDataFiles } from "../data/byte_files.ts";
import type { Dataset } from "../data/dataset.ts";
import { isBatchSource } from "../data/batch_source.ts";
import { isOfficialSplit } from "../data/movielens_folds.ts";
import type { MovieLensData } from "../data/movielens_parse.ts";
import { finishData, loadSourceData, type DataRequest, type DataSpec } from "../data/sources/registry.ts";
import type { RunData } from "../data/sources/run_data.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { defaultConfig } from "../dlrm/defaults.ts";
import { optimizerSpec, type OptimizerSpec } from "../optim/make.ts";
import { builtinOptimizer, dataModel, finiteSyntheticSize } from "../run/recipe.ts";

/** The data the page was given: bytes of the files the user picked, by file name. */
export type DemoData =
  | { kind: "synthetic" }
  | { kind: "movielens"; split: string; files: Record<string, Uint8Array> }
  | { kind: "criteo"; files: { name: string; bytes: Uint8Array }[] };

export interface DemoRun {
  config: DLRMConfig;
  spec: OptimizerSpec;
  train: Dataset;
  eval: Dataset;
  /** The table names to show (the data's fields), or null for numbers. */
  tableNames: string[] | null;
  /** The synthetic teacher's held-out AUC (to 4 digits, as dlrm train prints it), or null. */
  teacherAuc: number | null;
  /** MovieLens: ids, titles and the candidates of a user, for predictions. */
  movielens: MovieLensData | null;
}

/** MovieLens-100K's splits: the five folds and the two ten-per-user ones. */
export const MOVIELENS_SPLITS = ["u1", "u2", "u3", "u4", "u5", "ua", "ub"] as const;

/** The MovieLens files the page reads from the picked folder (a split's, or u.data to rebuild u1 … u5 from). */
export const MOVIELENS_FILES = [
  "u.user",
  "u.item",
  "u.data",
  ...MOVIELENS_SPLITS.flatMap((s) => [`${s}.base`, `${s}.test`]),
];

/** The --data of the choice, and its files as the registry's (names in the picked folder, "."). */
function demoSource(data: DemoData): { spec: DataSpec; files: Map<string, Uint8Array> } {
  if (data.kind === "synthetic") return { spec: { kind: "synthetic", text: "synthetic" }, files: new Map() };
  if (data.kind === "movielens") {
    // Which files a folder lacks is said in the page's words (pick the ml-100k folder).
    const has = (name: string): boolean => data.files[name] !== undefined;
    const split = data.split;
    const ratings = (has(`${split}.base`) && has(`${split}.test`)) || (isOfficialSplit(split) && has("u.data"));
    if (!has("u.user") || !has("u.item") || !ratings) {
      const rebuild = isOfficialSplit(split) ? " (or u.data to rebuild them)" : "";
      const missing = [
        ...(has("u.user") ? [] : ["u.user"]),
        ...(has("u.item") ? [] : ["u.item"]),
        ...(ratings ? [] : [`${split}.base and ${split}.test${rebuild}`]),
      ];
      throw new Error(
        `movielens: the picked folder has no ${missing.join(", ")}: pick MovieLens-100K's ml-100k folder`,
      );
    }
    return {
      spec: { kind: "movielens", text: "movielens:.", dir: "." },
      files: new Map(Object.entries(data.files)),
    };
  }
  if (data.files.length === 0) throw new Error("criteo: pick one or more TSV files");
  const names = data.files.map((f) => f.name);
  return {
    spec: { kind: "criteo", text: `criteo:${names.join(",")}`, files: names },
    files: new Map(data.files.map((f) => [f.name, f.bytes])),
  };
}

/** Data the page holds: in memory (the registry streams files only from a disk). */
function inMemory(d: RunData | null, what: string): Dataset {
  if (d === null || isBatchSource(d)) throw new Error(`demo: the ${what} data is not held in memory`);
  return d;
}

export async function demoRun(data: DemoData, steps: number, batchSize: number, seed: number): Promise<DemoRun> {
  const { spec: train, files } = demoSource(data);
  const request: DataRequest = {
    train,
    eval: null,
    split: data.kind === "movielens" ? data.split : null,
    maxIndRange: undefined,
    onBadLine: "error",
    subSampleRate: 0,
    seed,
    numIndicesPerLookup: 10,
    numIndicesPerLookupFixed: false,
    progress: null,
    files: byteDataFiles(files),
  };
  const src = await loadSourceData(request, "demo");
  const builtin = dataModel(src);
  const config = builtin?.config ?? defaultConfig();
  // Generated data is sized for the steps (dlrm train --data synthetic --data-size N).
  const loaded = await finishData(request, src, config, src === null ? finiteSyntheticSize(steps, batchSize) : null);
  const teacherAuc = loaded.notes["teacher_auc"];
  return {
    config,
    spec: builtin === null ? optimizerSpec(config.optimizer, config.lr) : builtinOptimizer(builtin),
    train: inMemory(loaded.train, "training"),
    eval: inMemory(loaded.eval, "evaluation"),
    tableNames: src?.tableNames ?? null,
    teacherAuc: typeof teacherAuc === "number" ? teacherAuc : null,
    movielens: src?.movielens ?? null,
  };
}
