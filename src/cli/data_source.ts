// What `--data` and `--eval-data` name, and loading it:
//
//   <file>                    a batch file (our preprocessed format, docs/datasets.md); one
//                             that `dlrm preprocess criteo` wrote is Criteo data (below)
//   random                    the reference's random data (sized from the model config)
//   synthetic                 labels from a hidden teacher model, with a held-out split
//   criteo:<file>[,<file>…]   raw Criteo click logs (Kaggle train.txt, or Terabyte day_N)
//   movielens:<dir>           MovieLens-100K, with --split <name> (default u1)
//   synthetic-trace:<profile> the reference's trace generator: ids drawn from a reuse-distance
//                             profile ("{t}" in the path is replaced by the table number)
//
// Real data (Criteo, MovieLens) defines the model's table sizes and is loaded before the
// model exists; generated data is drawn for a model. So loading has two steps:
// loadSourceData (real data, or nothing) and then finishData (given the model config).
//
// Evaluation data, when --eval-data is absent: Criteo's test split (the reference's
// protocol, whose train split is what Criteo data always trains on), MovieLens's
// <split>.test, synthetic's held-out split; otherwise none.
//
// Glossary: N samples, F tables, R rows of a table.

import { existsSync } from "node:fs";
import { UsageError } from "./args.ts";
import { criteoBatchInfo, readCriteoFiles, requireDictionaryBeside } from "./criteo_source.ts";
import { splitRatings } from "./movielens_splits.ts";
import type { ProgressSink } from "./read_progress.ts";
import { readBatchFile } from "../data/batch_file.ts";
import { criteoSplit } from "../data/criteo.ts";
import { criteoTableSizes, loadDictionary, type CriteoDictionary } from "../data/criteo_dictionary.ts";
import { criteoFieldName, CRITEO_DENSE, CRITEO_SPARSE } from "../data/criteo_fields.ts";
import { sliceDataset, type Dataset } from "../data/dataset.ts";
import { readMovieLens } from "../data/movielens.ts";
import { randomDataset } from "../data/random.ts";
import { syntheticTraceDataset } from "../data/trace.ts";
import { checkDataset, DataError } from "../dlrm/check_data.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { syntheticData, syntheticEvalSize } from "../dlrm/synthetic.ts";
import { Rng } from "../tensor/rng.ts";

export type DataSpec =
  | { kind: "random"; text: string }
  | { kind: "synthetic"; text: string }
  | { kind: "file"; text: string; path: string }
  | { kind: "criteo"; text: string; files: string[] }
  | { kind: "movielens"; text: string; dir: string }
  | { kind: "synthetic-trace"; text: string; profile: string };

const FORMS =
  "a batch file, random, synthetic, criteo:<file>[,<file>...], movielens:<dir> or synthetic-trace:<profile>";

/** Parses the value of --data or --eval-data; a malformed one is a UsageError naming the flag. */
export function parseDataSpec(verb: string, flag: string, text: string): DataSpec {
  const prefixed = (prefix: string): string | null =>
    text.startsWith(`${prefix}:`) ? text.slice(prefix.length + 1) : null;
  const need = (rest: string, what: string): string => {
    if (rest === "") throw new UsageError(`${verb}: ${flag} ${text} names no ${what}`);
    return rest;
  };
  if (text === "random" || text === "synthetic") return { kind: text, text };
  const criteo = prefixed("criteo");
  if (criteo !== null) {
    const files = need(criteo, "file").split(",");
    if (files.some((f) => f === ""))
      throw new UsageError(`${verb}: ${flag} ${text} has an empty file name (criteo:<file>[,<file>...])`);
    return { kind: "criteo", text, files };
  }
  const movielens = prefixed("movielens");
  if (movielens !== null) return { kind: "movielens", text, dir: need(movielens, "folder") };
  const trace = prefixed("synthetic-trace");
  if (trace !== null) return { kind: "synthetic-trace", text, profile: need(trace, "profile file") };
  if (!existsSync(text))
    throw new UsageError(`${verb}: ${flag} "${text}" is neither an existing file nor one of ${FORMS}`);
  return { kind: "file", text, path: text };
}

export interface DataRequest {
  train: DataSpec;
  eval: DataSpec | null;
  /** --split for MovieLens (default u1). */
  split: string | null;
  /** Criteo: --max-ind-range (undefined: none, or the dictionary's), --on-bad-line, --data-sub-sample-rate. */
  maxIndRange: number | undefined;
  onBadLine: "error" | "skip";
  subSampleRate: number;
  seed: number;
  numIndicesPerLookup: number;
  numIndicesPerLookupFixed: boolean;
  /** Where reading progress goes (stderr), or null. */
  progress: ProgressSink | null;
}

/** Which built-in model fits the data. */
export type DataFamily = "criteo" | "movielens";

/** Real data, loaded before the model exists. */
export interface SourceData {
  family: DataFamily | null;
  train: Dataset;
  /** Evaluation data the source brings (Criteo's test split, MovieLens's <split>.test), when --eval-data is absent. */
  eval: Dataset | null;
  /** Rows per table as the data defines them, or null when it does not. */
  tableSizes: number[] | null;
  tableNames: string[] | null;
  /** The dictionary Criteo ids were numbered with (to map Criteo eval data the same way). */
  dictionary: CriteoDictionary | null;
  notes: Record<string, number | string>;
}

export interface LoadedData {
  train: Dataset;
  eval: Dataset | null;
  /** Facts to print with the results, e.g. the synthetic teacher's AUC, lines skipped. */
  notes: Record<string, number | string>;
}

const CRITEO_TABLE_NAMES = Array.from({ length: CRITEO_SPARSE }, (_, t) => criteoFieldName(1 + CRITEO_DENSE + t));

// The two errors that both the early check and the loader can meet (finishData may be called
// without loadSourceData), in one place each.
function noSyntheticEval(verb: string): UsageError {
  return new UsageError(
    `${verb}: --eval-data synthetic is not a thing: synthetic training data brings its own held-out split; leave out --eval-data`,
  );
}

function criteoEvalNeedsDictionary(verb: string, text: string): UsageError {
  return new UsageError(
    `${verb}: --eval-data ${text} needs the dictionary of the training data: train on criteo:<files> or on a file from dlrm preprocess criteo`,
  );
}

/** Usage errors that need no data read, found before anything slow runs. */
function checkRequest(r: DataRequest, verb: string): void {
  const s = r.train;
  if (r.split !== null && s.kind !== "movielens" && r.eval?.kind !== "movielens")
    throw new UsageError(`${verb}: --split applies to movielens:<dir> data only`);
  if (r.subSampleRate > 0 && s.kind !== "criteo" && s.kind !== "file") {
    throw new UsageError(
      `${verb}: --data-sub-sample-rate applies to Criteo data (criteo:<files> or a file from dlrm preprocess criteo)`,
    );
  }
  const criteoInvolved = s.kind === "criteo" || s.kind === "file" || r.eval?.kind === "criteo";
  if (r.maxIndRange !== undefined && !criteoInvolved)
    throw new UsageError(`${verb}: --max-ind-range applies to Criteo data (criteo:<files>)`);
  if (r.eval?.kind === "synthetic") {
    throw noSyntheticEval(verb);
  }
  if (r.eval?.kind === "criteo" && s.kind !== "criteo" && s.kind !== "file") {
    throw criteoEvalNeedsDictionary(verb, r.eval.text);
  }
}

/** Loads real training data (and the evaluation data it brings); null for generated data. */
export async function loadSourceData(r: DataRequest, verb = "train"): Promise<SourceData | null> {
  checkRequest(r, verb);
  const s = r.train;
  if (s.kind === "criteo") {
    const read = await readCriteoFiles(s.files, {
      maxIndRange: r.maxIndRange,
      onBadLine: r.onBadLine,
      dictionary: undefined,
      subSampleRate: r.subSampleRate,
      seed: r.seed,
      progress: r.progress,
      label: "read criteo",
    });
    const notes: Record<string, number | string> = {};
    if (r.onBadLine === "skip") notes.skipped_lines = read.skipped;
    return criteoSource(read.data, read.dayRows, read.dictionary, notes, s.text, r.eval === null);
  }
  if (s.kind === "movielens") {
    const split = r.split ?? "u1";
    const ml = readMovieLens(s.dir, split, splitRatings(s.dir, split));
    return {
      family: "movielens",
      train: ml.train,
      eval: ml.test,
      tableSizes: ml.tableSizes,
      tableNames: ml.tableNames,
      dictionary: null,
      notes: { split },
    };
  }
  if (s.kind === "file") {
    const data = readBatchFile(s.path);
    const info = criteoBatchInfo(s.path, data.n);
    if (info === null) {
      if (r.subSampleRate > 0 || r.maxIndRange !== undefined) {
        const flag = r.subSampleRate > 0 ? "--data-sub-sample-rate" : "--max-ind-range";
        throw new UsageError(
          `${verb}: ${flag} applies to Criteo data; ${s.path} was not written by dlrm preprocess criteo`,
        );
      }
      return { family: null, train: data, eval: null, tableSizes: null, tableNames: null, dictionary: null, notes: {} };
    }
    const dictionary = loadDictionary(requireDictionaryBeside(s.path));
    if (r.maxIndRange !== undefined && r.maxIndRange !== dictionary.maxIndRange) {
      throw new UsageError(
        `${verb}: --max-ind-range ${r.maxIndRange} differs from the ${dictionary.maxIndRange} that ${s.path} was preprocessed with`,
      );
    }
    // Sub-sampling happens while reading, before the values are numbered (the reference's
    // order), so a preprocessed file has it already or never will.
    if (r.subSampleRate > 0 && r.subSampleRate !== info.subSampleRate) {
      throw new UsageError(
        `${verb}: --data-sub-sample-rate ${r.subSampleRate} differs from the ${info.subSampleRate} that ${s.path} was preprocessed with; ` +
          `sub-sampling drops lines before their values are numbered, so it is given to dlrm preprocess criteo --data-sub-sample-rate p`,
      );
    }
    return criteoSource(data, info.dayRows, dictionary, {}, s.text, r.eval === null);
  }
  return null;
}

/** Criteo samples of consecutive days (already sub-sampled while read) → the reference's
 *  protocol: the train split trains, and the test split evaluates unless --eval-data is given. */
function criteoSource(
  all: Dataset,
  dayRows: readonly number[],
  dictionary: CriteoDictionary,
  notes: Record<string, number | string>,
  text: string,
  needTest: boolean,
): SourceData {
  const split = criteoSplit(dayRows);
  const train = sliceDataset(all, ...split.train);
  let test: Dataset | null = null;
  if (needTest) {
    const [start, end] = split.test;
    if (end === start)
      throw new DataError(
        `${text}: its ${all.n} rows leave the test split empty (the reference's protocol); give --eval-data`,
      );
    test = sliceDataset(all, start, end);
  }
  return {
    family: "criteo",
    train,
    eval: test,
    tableSizes: criteoTableSizes(dictionary),
    tableNames: CRITEO_TABLE_NAMES,
    dictionary,
    notes,
  };
}

/** A one-line error unless the model's tables are the ones the data defines. */
export function checkTableSizes(config: DLRMConfig, configSource: string, src: SourceData, dataText: string): void {
  const sizes = src.tableSizes;
  if (sizes === null) return;
  if (config.table_sizes.length !== sizes.length) {
    throw new DataError(
      `${configSource}: the model has ${config.table_sizes.length} tables but ${dataText} has ${sizes.length}`,
    );
  }
  sizes.forEach((rows, t) => {
    const have = config.table_sizes[t];
    if (have !== rows) {
      const name = src.tableNames?.[t];
      throw new DataError(
        `${configSource}: table ${t}${name === undefined ? "" : ` (${name})`} has ${have} rows but ${dataText} defines ${rows}`,
      );
    }
  });
}

/** The training and evaluation data for a model: source data as loaded, or generated data
 *  drawn for the config; evaluation data from --eval-data when given. Both are checked
 *  against the config. */
export async function finishData(
  r: DataRequest,
  src: SourceData | null,
  config: DLRMConfig,
  dataSize: number,
  verb = "train",
): Promise<LoadedData> {
  const notes: Record<string, number | string> = { ...(src?.notes ?? {}) };
  let train: Dataset;
  let evalData: Dataset | null = r.eval === null ? (src?.eval ?? null) : null;
  const s = r.train;
  if (src !== null) {
    train = src.train;
  } else if (s.kind === "random") {
    train = random(r, config, dataSize, r.seed);
  } else if (s.kind === "synthetic") {
    const evalSize = r.eval === null ? syntheticEvalSize(dataSize) : 0;
    const syn = syntheticData(config, { sizes: evalSize > 0 ? [dataSize, evalSize] : [dataSize], seed: r.seed });
    train = syn.splits[0] as Dataset;
    if (evalSize > 0) {
      evalData = syn.splits[1] as Dataset;
      notes.teacher_auc = round(syn.teacherAuc[1]);
    }
  } else if (s.kind === "synthetic-trace") {
    train = traceDataset(r, s.profile, config, dataSize, r.seed);
  } else {
    throw new Error(`${verb}: ${s.text} was not loaded`); // loadSourceData handles the other kinds
  }
  checkDataset(train, config, s.text);

  const e = r.eval;
  if (e !== null) {
    evalData = await loadEval(r, e, src, config, dataSize, notes, verb);
    checkDataset(evalData, config, e.text);
  } else if (evalData !== null) {
    checkDataset(evalData, config, `${s.text} (evaluation split)`);
  }
  return { train, eval: evalData, notes };
}

async function loadEval(
  r: DataRequest,
  e: DataSpec,
  src: SourceData | null,
  config: DLRMConfig,
  dataSize: number,
  notes: Record<string, number | string>,
  verb: string,
): Promise<Dataset> {
  const evalSize = Math.max(1000, Math.round(dataSize / 5));
  switch (e.kind) {
    case "random":
      return random(r, config, evalSize, r.seed + 1);
    case "synthetic":
      throw noSyntheticEval(verb);
    case "synthetic-trace":
      return traceDataset(r, e.profile, config, evalSize, r.seed + 1);
    case "movielens": {
      const split = r.split ?? "u1";
      return readMovieLens(e.dir, split, splitRatings(e.dir, split)).test;
    }
    case "criteo": {
      const dictionary = src?.dictionary ?? null;
      if (dictionary === null) {
        throw criteoEvalNeedsDictionary(verb, e.text);
      }
      // Evaluation data named on its own is evaluated whole: no sub-sampling.
      const read = await readCriteoFiles(e.files, {
        maxIndRange: r.maxIndRange,
        onBadLine: r.onBadLine,
        dictionary,
        subSampleRate: 0,
        seed: 0,
        progress: r.progress,
        label: "read criteo (eval)",
      });
      if (r.onBadLine === "skip") notes.eval_skipped_lines = read.skipped;
      return read.data;
    }
    case "file":
      return readBatchFile(e.path);
  }
}

function random(r: DataRequest, config: DLRMConfig, n: number, seed: number): Dataset {
  return randomDataset({
    n,
    denseFeatures: config.dense_features,
    tableSizes: config.table_sizes,
    numIndicesPerLookup: r.numIndicesPerLookup,
    numIndicesPerLookupFixed: r.numIndicesPerLookupFixed,
    perSampleWeights: config.per_sample_weights,
    seed,
  });
}

function traceDataset(r: DataRequest, profile: string, config: DLRMConfig, n: number, seed: number): Dataset {
  return syntheticTraceDataset({
    profile,
    n,
    denseFeatures: config.dense_features,
    tableSizes: config.table_sizes,
    numIndicesPerLookup: r.numIndicesPerLookup,
    numIndicesPerLookupFixed: r.numIndicesPerLookupFixed,
    seed,
  });
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
