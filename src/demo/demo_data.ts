// What the demo page trains, from the data the user chose: the model, optimizer and data
// `dlrm train` builds for the same choice (src/cli/train.ts and src/data/sources/registry.ts), made
// here from bytes the page read (nothing is uploaded) with the CLI's own parsers:
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

import { parseCriteo, criteoSplit, criteoTableSizes, criteoBytesSource } from "../data/criteo_parse.ts";
import { sliceDataset, type Dataset } from "../data/dataset.ts";
import { isOfficialSplit, officialSplitFromText } from "../data/movielens_folds.ts";
import { parseMovieLens, type MovieLensData, type RatingsText } from "../data/movielens_parse.ts";
import { latin1Text } from "../data/text_lines.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { criteoModel, movielensModel } from "../data/sources/builtin_models.ts";
import { defaultConfig } from "../dlrm/defaults.ts";
import { heldOutSize } from "../data/generated.ts";
import { syntheticData } from "../dlrm/synthetic.ts";
import { optimizerSpec, type OptimizerSpec } from "../optim/make.ts";
import { builtinOptimizer, finiteSyntheticSize } from "../run/recipe.ts";

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
  /** The synthetic teacher's held-out AUC, or null. */
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

export async function demoRun(data: DemoData, steps: number, batchSize: number, seed: number): Promise<DemoRun> {
  if (data.kind === "synthetic") {
    const config = defaultConfig();
    const dataSize = finiteSyntheticSize(steps, batchSize);
    const syn = syntheticData(config, { sizes: [dataSize, heldOutSize(dataSize)], seed });
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
    const split = data.split;
    let base = text(`${split}.base`);
    let test = text(`${split}.test`);
    const udata = (base === null || test === null) && isOfficialSplit(split) ? text("u.data") : null;
    if (udata !== null) ({ base, test } = officialSplitFromText(udata, split, (f) => f));
    if (user === null || item === null || base === null || test === null) {
      const rebuild = isOfficialSplit(split) ? " (or u.data to rebuild them)" : "";
      const missing = [
        ...(user === null ? ["u.user"] : []),
        ...(item === null ? ["u.item"] : []),
        ...(base === null || test === null ? [`${split}.base and ${split}.test${rebuild}`] : []),
      ];
      throw new Error(
        `movielens: the picked folder has no ${missing.join(", ")}: pick MovieLens-100K's ml-100k folder`,
      );
    }
    const ml = parseMovieLens({ user, item, base, test });
    const builtin = movielensModel(ml.tableSizes, ml.train.denseFeatures);
    checkDataset(ml.train, builtin.config, `${data.split}.base`);
    checkDataset(ml.test, builtin.config, `${data.split}.test`);
    return {
      config: builtin.config,
      spec: builtinOptimizer(builtin),
      train: ml.train,
      eval: ml.test,
      tableNames: ml.tableNames,
      teacherAuc: null,
      movielens: ml,
    };
  }
  if (data.files.length === 0) throw new Error("criteo: pick one or more TSV files");
  const read = await parseCriteo(data.files.map((f) => criteoBytesSource(f.name, f.bytes)));
  const name = data.files.map((f) => f.name).join(",");
  const split = criteoSplit(read.dayRows);
  const train = sliceDataset(read.data, ...split.train);
  const [start, end] = split.test;
  if (end === start)
    throw new Error(`${name}: its ${read.data.n} rows leave the test split empty (the reference's protocol)`);
  const evalData = sliceDataset(read.data, start, end);
  const builtin = criteoModel(criteoTableSizes(read.dictionary), train.denseFeatures);
  checkDataset(train, builtin.config, name);
  return {
    config: builtin.config,
    spec: builtinOptimizer(builtin),
    train,
    eval: evalData,
    tableNames: null,
    teacherAuc: null,
    movielens: null,
  };
}
