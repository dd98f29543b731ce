// What the demo page trains, from the data the user chose: the model, optimizer and data
// `dlrm train` builds for the same choice (src/cli/train.ts and src/cli/data_source.ts), made
// here from bytes the page read (nothing is uploaded) with the CLI's own parsers:
//   synthetic   the built-in model, the synthetic teacher's data sized for the steps and its
//               held-out split                       = dlrm train --data synthetic
//   movielens   u.user, u.item, u1.base, u1.test of the picked folder (the split rebuilt from
//               u.data when u1's files are absent, as the CLI does): the built-in MovieLens
//               model (one member: --ensemble 1), Adagrad with its initial accumulator and
//               table weight decay; evaluated on u1.test = dlrm train --data movielens:<dir>
//   criteo      one TSV file (Kaggle's train.txt format): the built-in Criteo model, trained
//               on the reference's train split of its 7 days, evaluated on its test split
//                                                    = dlrm train --data criteo:<file>
//
// Glossary: N samples, B batch size.

import { parseCriteo, criteoSplit, criteoTableSizes, criteoTextSource } from "../data/criteo_parse.ts";
import { sliceDataset, type Dataset } from "../data/dataset.ts";
import { officialSplitFromText } from "../data/movielens_folds.ts";
import { parseMovieLens, type MovieLensData, type RatingsText } from "../data/movielens_parse.ts";
import { latin1Text } from "../data/text_lines.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { criteoModel, movielensModel, type BuiltinModel } from "../dlrm/dataset_configs.ts";
import { defaultConfig } from "../dlrm/defaults.ts";
import { SYNTHETIC_MIN_SIZE, syntheticData, syntheticEvalSize } from "../dlrm/synthetic.ts";
import { embeddingPieces } from "../dlrm/tables.ts";
import { optimizerSpec, type OptimizerSpec } from "../optim/make.ts";

/** The data the page was given: bytes of the files the user picked, by file name. */
export type DemoData =
  | { kind: "synthetic" }
  | { kind: "movielens"; files: Record<string, Uint8Array> }
  | { kind: "criteo"; name: string; bytes: Uint8Array };

export interface DemoRun {
  config: DLRMConfig;
  spec: OptimizerSpec;
  train: Dataset;
  eval: Dataset;
  /** The table names to show (the data's fields), or null for numbers. */
  tableNames: string[] | null;
  /** The synthetic teacher's held-out AUC, or null. */
  teacherAuc: number | null;
  /** MovieLens: ids, titles and the candidates of a user, for predictions. */
  movielens: MovieLensData | null;
}

/** The MovieLens files the page reads from the picked folder (the u1 split, or u.data to rebuild it from). */
export const MOVIELENS_FILES = ["u.user", "u.item", "u1.base", "u1.test", "u.data"] as const;

/** The optimizer dlrm train uses for a built-in model of real data (its initial accumulator and per-table weight decay). */
function builtinSpec(b: BuiltinModel): OptimizerSpec {
  const decay = b.tableWeightDecay;
  const weightDecay =
    decay === null ? {} : Object.fromEntries(embeddingPieces(b.config).map((p) => [p.name, decay[p.table] as number]));
  return optimizerSpec(b.config.optimizer, b.config.lr, {
    initialAccumulator: b.adagradInitialAccumulator,
    weightDecay,
  });
}

export async function demoRun(data: DemoData, steps: number, batchSize: number, seed: number): Promise<DemoRun> {
  if (data.kind === "synthetic") {
    const config = defaultConfig();
    const dataSize = Math.max(SYNTHETIC_MIN_SIZE, steps * batchSize);
    const syn = syntheticData(config, { sizes: [dataSize, syntheticEvalSize(dataSize)], seed });
    const [train, evalData] = syn.splits as [Dataset, Dataset];
    return {
      config,
      spec: optimizerSpec(config.optimizer, config.lr),
      train,
      eval: evalData,
      tableNames: null,
      teacherAuc: syn.teacherAuc[1] ?? null,
      movielens: null,
    };
  }
  if (data.kind === "movielens") {
    const text = (name: string): RatingsText | null => {
      const bytes = data.files[name];
      return bytes === undefined ? null : { path: name, text: latin1Text(bytes) };
    };
    const user = text("u.user");
    const item = text("u.item");
    let base = text("u1.base");
    let test = text("u1.test");
    const udata = base === null || test === null ? text("u.data") : null;
    if (udata !== null) ({ base, test } = officialSplitFromText(udata, "u1", (f) => f));
    if (user === null || item === null || base === null || test === null) {
      const missing = [
        ...(user === null ? ["u.user"] : []),
        ...(item === null ? ["u.item"] : []),
        ...(base === null || test === null ? ["u1.base and u1.test (or u.data to rebuild them)"] : []),
      ];
      throw new Error(
        `movielens: the picked folder has no ${missing.join(", ")}: pick MovieLens-100K's ml-100k folder`,
      );
    }
    const ml = parseMovieLens({ user, item, base, test });
    const builtin = movielensModel(ml.tableSizes, ml.train.denseFeatures);
    checkDataset(ml.train, builtin.config, "u1.base");
    checkDataset(ml.test, builtin.config, "u1.test");
    return {
      config: builtin.config,
      spec: builtinSpec(builtin),
      train: ml.train,
      eval: ml.test,
      tableNames: ml.tableNames,
      teacherAuc: null,
      movielens: ml,
    };
  }
  const text = new TextDecoder("utf-8").decode(data.bytes);
  const read = await parseCriteo([criteoTextSource(data.name, text, data.bytes.length)]);
  const split = criteoSplit(read.dayRows);
  const train = sliceDataset(read.data, ...split.train);
  const [start, end] = split.test;
  if (end === start)
    throw new Error(`${data.name}: its ${read.data.n} rows leave the test split empty (the reference's protocol)`);
  const evalData = sliceDataset(read.data, start, end);
  const builtin = criteoModel(criteoTableSizes(read.dictionary), train.denseFeatures);
  checkDataset(train, builtin.config, data.name);
  return {
    config: builtin.config,
    spec: builtinSpec(builtin),
    train,
    eval: evalData,
    tableNames: null,
    teacherAuc: null,
    movielens: null,
  };
}
