// The data-source registry: what `--data` and `--eval-data` name, and loading it:
//
//   <file>                    a batch file (our preprocessed format, docs/datasets.md), streamed:
//                             read batch by batch (src/data/batch_file_source.ts); one that
//                             `dlrm preprocess criteo` wrote is Criteo data (below)
//   random                    the reference's random data (sized from the model config)
//   synthetic                 labels from a hidden teacher model, with a held-out split
//   criteo:<file>[,<file>…]   raw Criteo click logs (Kaggle train.txt, or Terabyte day_N)
//   movielens:<dir>           MovieLens-100K, with --split <name> (default u1)
//   synthetic-trace:<profile> the reference's trace generator: ids drawn from a reuse-distance
//                             profile ("{t}" in the path is replaced by the table number)
//   <file>.bin                the reference's MLPerf binary Criteo format (mlperf_files.ts)
//   torchrec-npy:<dir>        TorchRec's preprocessed Criteo days, day_N_{dense,sparse,labels}.npy
//
// Each kind is one record in KINDS: the files it reads, its family (which data flags apply
// to it), how it loads as training data and as evaluation data, and what `dlrm predict`
// scores from it (scoredData). Real data (Criteo,
// MovieLens, batch files) defines the model's table sizes and is read before the model
// exists; generated data is drawn for a model (without --data-size endless, made batch by
// batch: src/data/generated.ts). So loading has two steps: loadSourceData
// (real data, or nothing) and then finishData (given the model config). A request is checked
// once, before anything slow is read (checkRequest); the loaders only load. A request that
// cannot be met as given is a DataRequestError (the CLI's usage error). The registry and the
// readers it opens read the host's files only through the request's DataFiles
// (src/data/files.ts): the CLI's are Node's (src/cli/node_files.ts), the demo page's the bytes
// of the files its user picked (src/data/byte_files.ts).
//
// Evaluation data, when --eval-data is absent: Criteo's test split (the reference's
// protocol, whose train split is what Criteo data always trains on), MovieLens's
// <split>.test, synthetic's held-out split; otherwise none.
//
// Glossary: N samples, F tables, R rows of a table; family: the dataset a source's ids come
// from (Criteo, MovieLens), which decides the flags that apply and the built-in model.

import {
  criteoBatchInfo,
  dictionaryPathFor,
  isCriteoBatchFile,
  requireDictionaryBeside,
  streamCriteoFiles,
  type ReadingProgress,
} from "./criteo_files.ts";
import { csvBatchInfo } from "./csv_files.ts";
import type { DataFiles } from "../files.ts";
import { isMlperfBinPath, openMlperfBinData } from "./mlperf_files.ts";
import { splitRatings } from "./movielens_splits.ts";
import { checkRunData, closeRunData, samplesOf, type RunData } from "./run_data.ts";
import type { BuiltinModel, BUILTIN_MODELS } from "./builtin_models.ts";
import { BatchFileSource } from "../batch_file_source.ts";
import { isBatchSource } from "../batch_source.ts";
import { criteoSplit } from "../criteo.ts";
import { criteoTableSizes, loadDictionary, type CriteoDictionary } from "../criteo_dictionary.ts";
import { criteoFieldName, CRITEO_DENSE, CRITEO_SPARSE } from "../criteo_fields.ts";
import { sliceDataset, type Dataset } from "../dataset.ts";
import { readMovieLens, type MovieLensData } from "../movielens.ts";
import { GeneratedSource, heldOutSize, STREAM, type SampleShape } from "../generated.ts";
import { randomLayout, randomSamples, type RandomSpec } from "../random.ts";
import { torchrecTableSizes, TorchrecNpySource } from "../torchrec_npy.ts";
import { TraceGenerator } from "../trace.ts";
import { DataError } from "../../dlrm/check_data.ts";
import type { DLRMConfig } from "../../dlrm/config.ts";
import { SyntheticTeacher, syntheticLayout } from "../../dlrm/synthetic.ts";
import { auc } from "../../metrics/metrics.ts";
import { notSafetensorsAt } from "../safetensors_files.ts";

/** A request for data that cannot be met as given (a flag that does not apply, a malformed
 *  --data): the CLI reports it as a usage error, with this message. */
export class DataRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataRequestError";
  }
}

export type DataSpec =
  | { kind: "random"; text: string }
  | { kind: "synthetic"; text: string }
  | { kind: "file"; text: string; path: string }
  | { kind: "criteo"; text: string; files: string[] }
  | { kind: "movielens"; text: string; dir: string }
  | { kind: "synthetic-trace"; text: string; profile: string }
  | { kind: "mlperf-bin"; text: string; path: string }
  | { kind: "torchrec-npy"; text: string; dir: string };

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
  /** Makes the display of reading progress (the CLI's draws on stderr), or null for none. */
  progress: ((label: string) => ReadingProgress) | null;
  /** The host's files, which every reader opened reads through (the CLI's: src/cli/node_files.ts). */
  files: DataFiles;
}

/** Which built-in model fits the data (its name in BUILTIN_MODELS). */
export type DataFamily = keyof typeof BUILTIN_MODELS;

/** Real data, loaded before the model exists (a streamed file is a BatchSource, open until closeRunData). */
export interface SourceData {
  family: DataFamily | null;
  train: RunData;
  /** Evaluation data the source brings (Criteo's test split, MovieLens's <split>.test), when --eval-data is absent. */
  eval: RunData | null;
  /** Rows per table as the data defines them, or null when it does not. */
  tableSizes: number[] | null;
  tableNames: string[] | null;
  /** The dictionary Criteo ids were numbered with (to map Criteo eval data the same way). */
  dictionary: CriteoDictionary | null;
  notes: Record<string, number | string>;
  /** The model the data brings (a file from dlrm preprocess csv), trained when --model is absent. */
  model?: BuiltinModel;
  /** MovieLens's users and items (to rank the items for a user: the demo's predictions). */
  movielens?: MovieLensData;
}

export interface LoadedData {
  train: RunData;
  eval: RunData | null;
  /** Facts to print with the results, e.g. the synthetic teacher's AUC, lines skipped. */
  notes: Record<string, number | string>;
}

type Notes = Record<string, number | string>;
type Kind = DataSpec["kind"];
type SpecOf<K extends Kind> = Extract<DataSpec, { kind: K }>;

/** What evaluation loaders get: the request, the training source (null for generated data), the model. */
interface EvalContext {
  r: DataRequest;
  src: SourceData | null;
  config: DLRMConfig;
  /** Samples to generate for generated evaluation data. */
  n: number;
  notes: Notes;
}

/** One --data kind. */
interface SourceKind<S extends DataSpec> {
  /** The files it reads (checked against the outputs before a run starts). */
  files(s: S, files: DataFiles): string[];
  /** The family of its ids, or null; may read a file's header. */
  family(s: S, files: DataFiles): DataFamily | null;
  /** As training data: read before the model exists (real data), or drawn for it (generated). */
  train:
    | { read(s: S, r: DataRequest, verb: string): Promise<SourceData> }
    | { draw(s: S, r: DataRequest, config: DLRMConfig, n: number | null): LoadedData };
  /** What `dlrm predict --data` scores: the data itself (a file: a source read in order, as it
   *  is scored), the evaluation split training on it evaluates (so a trained model is measured
   *  on the same samples), or nothing (why). */
  scored: { open(s: S, files: DataFiles): Promise<RunData> } | "evaluation split" | { refused: string };
  /** As --eval-data: how it loads (and the family its training data must have), or why it cannot be. */
  asEval:
    { load(s: S, c: EvalContext): Promise<RunData>; needs?: { family: DataFamily; why: string } } | { refused: string };
}

const CRITEO_TABLE_NAMES = Array.from({ length: CRITEO_SPARSE }, (_, t) => criteoFieldName(1 + CRITEO_DENSE + t));

/** What predict says of generated data without a held-out split and of raw Criteo logs (whose
 *  numbering depends on the run's flags). */
const NOT_SCORED = {
  refused:
    "is not scored as it is: predict scores a batch file, movielens:<dir> or synthetic (write other data with dlrm preprocess)",
};

const random: SourceKind<SpecOf<"random">> = {
  files: () => [],
  family: () => null,
  scored: NOT_SCORED,
  train: {
    draw(_s, r, config, n) {
      const spec = randomSpec(r, config);
      const draw = (first: number, m: number): Dataset => randomSamples(spec, STREAM.train, first, m);
      return { train: generated(randomLayout(spec), n, draw), eval: null, notes: {} };
    },
  },
  asEval: { load: async (_s, c) => randomSamples(randomSpec(c.r, c.config), STREAM.eval, 0, c.n) },
};

const synthetic: SourceKind<SpecOf<"synthetic">> = {
  files: () => [],
  family: () => null,
  scored: "evaluation split",
  train: {
    draw(_s, r, config, n) {
      const teacher = new SyntheticTeacher(config, r.seed);
      const train = generated(syntheticLayout(config), n, (first, m) => teacher.samples(STREAM.train, first, m).data);
      if (r.eval !== null) return { train, eval: null, notes: {} };
      const held = teacher.samples(STREAM.eval, 0, heldOutSize(n));
      return { train, eval: held.data, notes: { teacher_auc: round(auc(held.probs, held.data.labels)) } };
    },
  },
  asEval: { refused: "is not a thing: synthetic training data brings its own held-out split; leave out --eval-data" },
};

const syntheticTrace: SourceKind<SpecOf<"synthetic-trace">> = {
  files: (s) => [s.profile],
  family: () => null,
  scored: NOT_SCORED,
  train: {
    draw(s, r, config, n) {
      const g = traceGenerator(r, s.profile, config);
      return { train: generated(g.layout, n, (first, m) => g.samples(STREAM.train, first, m)), eval: null, notes: {} };
    },
  },
  asEval: { load: async (s, c) => traceGenerator(c.r, s.profile, c.config).samples(STREAM.eval, 0, c.n) },
};

const movielens: SourceKind<SpecOf<"movielens">> = {
  files(s, files) {
    try {
      return files.list(s.dir);
    } catch {
      return []; // the reader reports a missing folder, with its own message
    }
  },
  family: () => "movielens",
  scored: "evaluation split",
  train: {
    async read(s, r) {
      const { split, ...ml } = readSplit(s.dir, r);
      const { train, test, tableSizes, tableNames } = ml;
      return {
        family: "movielens",
        train,
        eval: test,
        tableSizes,
        tableNames,
        dictionary: null,
        notes: { split },
        movielens: ml,
      };
    },
  },
  asEval: {
    load: async (s, c) => readSplit(s.dir, c.r).test,
  },
};

const criteo: SourceKind<SpecOf<"criteo">> = {
  files: (s) => s.files,
  family: () => "criteo",
  scored: NOT_SCORED,
  train: {
    async read(s, r) {
      const { source, read } = await readCriteoData(s.files, r, undefined);
      try {
        const notes: Notes = r.onBadLine === "skip" ? { skipped_lines: read.skipped } : {};
        return criteoSource(source, read.dayRows, read.dictionary, notes, s.text, r.eval === null);
      } finally {
        await closeRunData(source); // the views made above keep the file open
      }
    },
  },
  asEval: {
    needs: {
      family: "criteo",
      why: "needs the dictionary of the training data: train on criteo:<files> or on a file from dlrm preprocess criteo",
    },
    async load(s, c) {
      // checkRequest has made sure the training data is Criteo's; ids already numbered
      // without a dictionary (a .bin made elsewhere, TorchRec's days) cannot be matched.
      const dictionary = c.src?.dictionary;
      if (dictionary === null || dictionary === undefined)
        throw new DataRequestError(
          `${c.r.train.text} has no dictionary of its values, so raw --eval-data ${s.text} cannot be numbered like it: preprocess the evaluation days to the same format`,
        );
      const { source, read } = await readCriteoData(s.files, c.r, dictionary);
      if (c.r.onBadLine === "skip") c.notes.eval_skipped_lines = read.skipped;
      return source;
    },
  },
};

const file: SourceKind<SpecOf<"file">> = {
  files: (s) => [s.path, dictionaryPathFor(s.path)],
  family: (s, files) => (isCriteoBatchFile(s.path, files) ? "criteo" : null),
  scored: { open: (s, files) => BatchFileSource.open(s.path, files) },
  train: {
    async read(s, r, verb) {
      const data = await BatchFileSource.open(s.path, r.files);
      try {
        const plain = { family: null, eval: null, tableSizes: null, tableNames: null, dictionary: null, notes: {} };
        const csv = csvBatchInfo(s.path, r.files);
        if (csv !== null) {
          // Your own data: its model, and the evaluation rows its schema split off.
          const evalData =
            csv.evalPath !== null && r.eval === null ? await BatchFileSource.open(csv.evalPath, r.files) : null;
          return {
            ...plain,
            train: data.view({}),
            eval: evalData,
            tableSizes: [...csv.model.config.table_sizes],
            tableNames: csv.tableNames,
            model: csv.model,
          };
        }
        const info = criteoBatchInfo(s.path, data.fileRows, r.files);
        if (info === null) return { ...plain, train: data.view({}) };
        const dictionary = loadDictionary(requireDictionaryBeside(s.path, r.files), r.files);
        if (r.maxIndRange !== undefined && r.maxIndRange !== dictionary.maxIndRange) {
          throw new DataRequestError(
            `${verb}: --max-ind-range ${r.maxIndRange} differs from the ${dictionary.maxIndRange} that ${s.path} was preprocessed with`,
          );
        }
        // Sub-sampling happens while reading, before the values are numbered (the reference's
        // order), so a preprocessed file has it already or never will.
        if (r.subSampleRate > 0 && r.subSampleRate !== info.subSampleRate) {
          throw new DataRequestError(
            `${verb}: --data-sub-sample-rate ${r.subSampleRate} differs from the ${info.subSampleRate} that ${s.path} was preprocessed with; ` +
              `sub-sampling drops lines before their values are numbered, so it is given to dlrm preprocess criteo --data-sub-sample-rate p`,
          );
        }
        return criteoSource(data, info.dayRows, dictionary, {}, s.text, r.eval === null);
      } finally {
        await data.close(); // the views made above keep the file open
      }
    },
  },
  asEval: { load: async (s, c) => BatchFileSource.open(s.path, c.r.files) },
};

/** Criteo data whose ids are numbered already: the rows are used as they are, never sub-sampled. */
function refuseSubSampling(r: DataRequest, verb: string, text: string): void {
  if (r.subSampleRate > 0)
    throw new DataRequestError(
      `${verb}: --data-sub-sample-rate applies while raw Criteo lines are numbered, not to ${text}, which is numbered already (dlrm preprocess criteo --data-sub-sample-rate p)`,
    );
}

const mlperfBin: SourceKind<SpecOf<"mlperf-bin">> = {
  files: (s) => [s.path, dictionaryPathFor(s.path)],
  family: () => "criteo",
  scored: { open: async (s, files) => openMlperfBinData(s.path, undefined, files).data },
  train: {
    async read(s, r, verb) {
      refuseSubSampling(r, verb, s.text);
      const { data, tableSizes, dictionary } = openMlperfBinData(s.path, r.maxIndRange, r.files);
      // The reference keeps its test rows in another .bin (--eval-data); a .bin brings no split.
      return {
        family: "criteo",
        train: data,
        eval: null,
        tableSizes,
        tableNames: CRITEO_TABLE_NAMES,
        dictionary,
        notes: {},
      };
    },
  },
  asEval: { load: async (s, c) => openMlperfBinData(s.path, c.r.maxIndRange, c.r.files).data },
};

const torchrecNpy: SourceKind<SpecOf<"torchrec-npy">> = {
  files(s, files) {
    try {
      return files.list(s.dir);
    } catch {
      return []; // the reader reports a missing folder, with its own message
    }
  },
  family: () => "criteo",
  scored: NOT_SCORED,
  train: {
    async read(s, r, verb) {
      refuseSubSampling(r, verb, s.text);
      const R = r.maxIndRange ?? 0;
      const tableSizes = torchrecTableSizes(s.dir, r.files, R);
      const whole = new TorchrecNpySource(s.dir, r.files, { maxIndRange: R });
      const dayRows = whole.dayRows;
      await whole.close();
      const split = criteoSplit(dayRows);
      if (split.train[1] === 0)
        throw new DataError(`${s.text}: one day only: the protocol trains on every day but the last (give more days)`);
      // Each part reads its rows by position as training goes.
      const train = new TorchrecNpySource(s.dir, r.files, { maxIndRange: R, rows: split.train });
      const test = r.eval === null ? new TorchrecNpySource(s.dir, r.files, { maxIndRange: R, rows: split.test }) : null;
      return {
        family: "criteo",
        train,
        eval: test,
        tableSizes,
        tableNames: CRITEO_TABLE_NAMES,
        dictionary: null,
        notes: {},
      };
    },
  },
  asEval: {
    refused: "is not read as evaluation data: its last day is the evaluation split of --data torchrec-npy:<dir>",
  },
};

const KINDS: { [K in Kind]: SourceKind<SpecOf<K>> } = {
  "mlperf-bin": mlperfBin,
  "torchrec-npy": torchrecNpy,
  random,
  synthetic,
  "synthetic-trace": syntheticTrace,
  movielens,
  criteo,
  file,
};

/** The record of a spec's kind. */
function kindOf<K extends Kind>(s: SpecOf<K>): SourceKind<SpecOf<K>> {
  const kind: K = s.kind;
  return KINDS[kind];
}

const FORMS =
  "a batch file, random, synthetic, criteo:<file>[,<file>...], movielens:<dir>, an MLPerf .bin file, torchrec-npy:<dir> or synthetic-trace:<profile>";

/** Parses the value of --data or --eval-data; a malformed one is a DataRequestError naming the flag. */
export function parseDataSpec(verb: string, flag: string, text: string, files: DataFiles): DataSpec {
  const prefixed = (prefix: string): string | null =>
    text.startsWith(`${prefix}:`) ? text.slice(prefix.length + 1) : null;
  const need = (rest: string, what: string): string => {
    if (rest === "") throw new DataRequestError(`${verb}: ${flag} ${text} names no ${what}`);
    return rest;
  };
  if (text === "random" || text === "synthetic") return { kind: text, text };
  const criteoFiles = prefixed("criteo");
  if (criteoFiles !== null) {
    const files = need(criteoFiles, "file").split(",");
    if (files.some((f) => f === ""))
      throw new DataRequestError(`${verb}: ${flag} ${text} has an empty file name (criteo:<file>[,<file>...])`);
    return { kind: "criteo", text, files };
  }
  const npyDir = prefixed("torchrec-npy");
  if (npyDir !== null) return { kind: "torchrec-npy", text, dir: need(npyDir, "folder") };
  const dir = prefixed("movielens");
  if (dir !== null) return { kind: "movielens", text, dir: need(dir, "folder") };
  const trace = prefixed("synthetic-trace");
  if (trace !== null) return { kind: "synthetic-trace", text, profile: need(trace, "profile file") };
  if (!files.exists(text))
    throw new DataRequestError(`${verb}: ${flag} "${text}" is neither an existing file nor one of ${FORMS}`);
  if (isMlperfBinPath(text)) return { kind: "mlperf-bin", text, path: text };
  const other = notSafetensorsAt(text, files); // a text file, a folder, a .pt: say so, not "header length … absurdly large"
  if (other !== null) throw new DataRequestError(`${verb}: ${flag} ${text}: ${other}; ${flag} takes ${FORMS}`);
  return { kind: "file", text, path: text };
}

/** The files a --data/--eval-data spec reads (a folder's files for movielens:<dir>). */
export function dataSpecFiles(spec: DataSpec, files: DataFiles): string[] {
  return kindOf(spec).files(spec, files);
}

const CRITEO_DATA = "Criteo data (criteo:<files> or a file from dlrm preprocess criteo)";

/** The data flags that apply to one family: given when, and where they apply (for the message). */
const FAMILY_FLAGS: { flag: string; given: (r: DataRequest) => boolean; family: DataFamily; what: string }[] = [
  { flag: "--split", given: (r) => r.split !== null, family: "movielens", what: "movielens:<dir> data only" },
  { flag: "--data-sub-sample-rate", given: (r) => r.subSampleRate > 0, family: "criteo", what: CRITEO_DATA },
  { flag: "--max-ind-range", given: (r) => r.maxIndRange !== undefined, family: "criteo", what: CRITEO_DATA },
];

/** Every usage error that needs no data read, found once, before anything slow runs. */
function checkRequest(r: DataRequest, verb: string): void {
  let trainFamily: DataFamily | null | undefined; // read on first use: a batch file's header
  const familyOfTrain = (): DataFamily | null => (trainFamily ??= kindOf(r.train).family(r.train, r.files));
  const evalFamily = r.eval === null ? null : kindOf(r.eval).family(r.eval, r.files);
  for (const f of FAMILY_FLAGS) {
    if (!f.given(r)) continue;
    // --split also picks the evaluation split of movielens:<dir> eval data.
    const applies = familyOfTrain() === f.family || (f.family === "movielens" && evalFamily === "movielens");
    if (!applies) throw new DataRequestError(`${verb}: ${f.flag} applies to ${f.what}, not to --data ${r.train.text}`);
  }
  if (r.eval !== null) {
    const how = kindOf(r.eval).asEval;
    const refuse = (why: string): never => {
      throw new DataRequestError(`${verb}: --eval-data ${r.eval?.text} ${why}`);
    };
    if ("refused" in how) refuse(how.refused);
    else if (how.needs !== undefined && how.needs.family !== familyOfTrain()) refuse(how.needs.why);
  }
}

/** Checks the request, then loads real training data (and the evaluation data it brings); null for generated data. */
export async function loadSourceData(r: DataRequest, verb = "train"): Promise<SourceData | null> {
  checkRequest(r, verb);
  const how = kindOf(r.train).train;
  return "read" in how ? how.read(r.train, r, verb) : null;
}

/** Criteo samples of consecutive days (already sub-sampled while read) → the reference's
 *  protocol: the train split trains, and the test split evaluates unless --eval-data is given.
 *  A streamed file gives views of its rows (each to be closed), data in memory copies. */
function criteoSource(
  all: Dataset | BatchFileSource,
  dayRows: readonly number[],
  dictionary: CriteoDictionary,
  notes: Notes,
  text: string,
  needTest: boolean,
): SourceData {
  const split = criteoSplit(dayRows);
  const rows = (range: [number, number]): RunData =>
    all instanceof BatchFileSource ? all.view({ rows: range }) : sliceDataset(all, ...range);
  let test: RunData | null = null;
  if (needTest) {
    const [start, end] = split.test;
    if (end === start)
      throw new DataError(
        `${text}: its ${samplesOf(all)} rows leave the test split empty (the reference's protocol); give --eval-data`,
      );
    test = rows(split.test);
  }
  const train = rows(split.train);
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

/** The training and evaluation data for a model: source data as loaded (`src`, from
 *  loadSourceData on the same request), or generated data drawn for the config; evaluation
 *  data from --eval-data when given. Both are checked against the config. */
export async function finishData(
  r: DataRequest,
  src: SourceData | null,
  config: DLRMConfig,
  dataSize: number | null,
): Promise<LoadedData> {
  const asTrain = kindOf(r.train).train;
  let data: LoadedData;
  if ("draw" in asTrain) data = asTrain.draw(r.train, r, config, dataSize);
  else if (src !== null) data = { train: src.train, eval: src.eval, notes: { ...src.notes } };
  else throw new Error(`${r.train.text} is real data: finishData needs what loadSourceData read from it`);
  data.train = checkRunData(data.train, config, r.train.text);

  const e = r.eval;
  if (e === null) {
    if (data.eval !== null) data.eval = checkRunData(data.eval, config, `${r.train.text} (evaluation split)`);
    return data;
  }
  const asEval = kindOf(e).asEval;
  if ("refused" in asEval) throw new Error(`--eval-data ${e.text}: loadSourceData refuses it before finishData`);
  const n = heldOutSize(dataSize);
  const loaded = await asEval.load(e, { r, src, config, n, notes: data.notes });
  return { train: data.train, eval: await checkedOrClosed(loaded, config, e.text), notes: data.notes };
}

/** MovieLens-100K's --split (default u1): its ratings as training and test data. */
function readSplit(dir: string, r: DataRequest): ReturnType<typeof readMovieLens> & { split: string } {
  const split = r.split ?? "u1";
  return { ...readMovieLens(dir, split, r.files, splitRatings(dir, split, r.files)), split };
}

/** Criteo files read with the request's flags, streamed (streamCriteoFiles): training data
 *  (no dictionary yet) sub-sampled and numbered afresh; evaluation data whole, numbered with
 *  the training data's dictionary. */
function readCriteoData(files: readonly string[], r: DataRequest, dictionary: CriteoDictionary | undefined) {
  const forEval = dictionary !== undefined;
  return streamCriteoFiles(files, {
    maxIndRange: r.maxIndRange,
    onBadLine: r.onBadLine,
    dictionary,
    subSampleRate: forEval ? 0 : r.subSampleRate,
    seed: forEval ? 0 : r.seed,
    progress: r.progress,
    fileAccess: r.files,
    label: forEval ? "read criteo (eval)" : "read criteo",
  });
}

/** The samples `dlrm predict --data` scores for a model (r.eval is null): a file, as a source
 *  read in order (checked against the model batch by batch), or the evaluation split `dlrm
 *  train --data` evaluates for the same flags. */
export async function scoredData(r: DataRequest, config: DLRMConfig, dataSize: number | null): Promise<RunData> {
  const scored = kindOf(r.train).scored;
  if (typeof scored === "object" && "refused" in scored)
    throw new DataRequestError(`predict: --data ${r.train.text} ${scored.refused}`);
  if (typeof scored === "object") {
    checkRequest(r, "predict");
    return checkedOrClosed(await scored.open(r.train, r.files), config, r.train.text);
  }
  const src = await loadSourceData(r, "predict");
  let data: LoadedData;
  try {
    data = await finishData(r, src, config, dataSize);
  } catch (e) {
    if (src !== null) await closeRunData(src.train, src.eval);
    throw e;
  }
  try {
    if (data.eval === null) throw new Error(`${r.train.text}: no evaluation split was drawn`);
    return isBatchSource(data.eval) ? await data.eval.batch(0, data.eval.samplesPerEpoch) : data.eval;
  } finally {
    await closeRunData(data.train, data.eval);
  }
}

/** checkRunData, closing the data (which holds files open) when it does not fit the model. */
async function checkedOrClosed(d: RunData, config: DLRMConfig, text: string): Promise<RunData> {
  try {
    return checkRunData(d, config, text);
  } catch (e) {
    await closeRunData(d);
    throw e;
  }
}

/** Generated training data: the first n samples of its training stream (--data-size n), or
 *  without a size the endless stream, made batch by batch as the trainer asks for it. */
function generated(shape: SampleShape, n: number | null, draw: (first: number, n: number) => Dataset): RunData {
  return n === null ? new GeneratedSource(shape, draw) : draw(0, n);
}

function randomSpec(r: DataRequest, config: DLRMConfig): RandomSpec {
  return {
    denseFeatures: config.dense_features,
    tableSizes: config.table_sizes,
    numIndicesPerLookup: r.numIndicesPerLookup,
    numIndicesPerLookupFixed: r.numIndicesPerLookupFixed,
    perSampleWeights: config.per_sample_weights,
    seed: r.seed,
  };
}

/** The request's synthetic-trace generator (its profiles read now). */
function traceGenerator(r: DataRequest, profile: string, config: DLRMConfig): TraceGenerator {
  const { perSampleWeights: _weights, ...spec } = randomSpec(r, config);
  return new TraceGenerator({ ...spec, profile }, r.files);
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
