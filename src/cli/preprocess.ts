// `dlrm preprocess criteo <file...> --out <batches.safetensors>`: raw Criteo click logs to
// our batch format, every row kept, in file order, with the dictionary that numbered the
// categorical values written beside it (`x.safetensors` → `x.dict.safetensors`).
//
// Training on the output is training on the raw files: `dlrm train --data x.safetensors`
// reads the dictionary beside it (the built-in model's table sizes) and the rows per input
// day from the metadata (the reference's train/test protocol), and maps --eval-data
// criteo:<files> through the same dictionary. Splits apply when training; sub-sampling
// (--data-sub-sample-rate) applies here, while reading, because it decides which values get
// an id at all (the reference drops a line before numbering its values).
//
// `--dictionary <dict>` numbers the rows with an existing dictionary instead of building
// one (evaluation data, so that its ids mean what they meant in training): values it does
// not know go to each table's unknown row. The dictionary is then copied beside the output.
//
// The rows stream through: read in chunks, each chunk appended to the batch file's writer
// (src/data/batch_writer.ts) and forgotten, so memory holds one chunk and the dictionary,
// whatever the number of lines. Both files are written to temporary names and renamed into
// place only when both are complete, so a failure (ENOSPC, Ctrl-C) leaves the old pair or
// none; both record one random pair id, which readers check (a crash between the two renames
// cannot go unnoticed).

import {
  getBool,
  getNumber,
  getString,
  helpText,
  nonNegativeInt,
  oneOf,
  parseArgs,
  requiredString,
  UsageError,
  type FlagSpecs,
} from "./args.ts";
import { randomBytes } from "node:crypto";
import {
  criteoBatchMetadata,
  dictionaryPathFor,
  PAIR_ID_KEY,
  readCriteoFilesInChunks,
} from "../data/sources/criteo_files.ts";
import { nodeDataFiles } from "./node_files.ts";
import { ReadProgress } from "./read_progress.ts";
import { runPreprocessCsv } from "./csv_source.ts";
import { isMlperfBinPath } from "../data/sources/mlperf_files.ts";
import { preprocessCriteoBin } from "./mlperf_source.ts";
import { checkOutputs } from "./paths.ts";
import type { Io } from "./args.ts";
import { BatchFileWriter } from "../data/batch_writer.ts";
import { criteoTableSizes, dictionaryFile, loadDictionary } from "../data/criteo_dictionary.ts";
import { CRITEO_DENSE, CRITEO_SPARSE } from "../data/criteo_fields.ts";

const PREPROCESS_FLAGS: FlagSpecs = {
  out: {
    type: "string",
    placeholder: "file.safetensors",
    help: "the batch file to write (required; x.bin: the reference's MLPerf binary format); the dictionary goes beside it as <name>.dict.safetensors",
  },
  "max-ind-range": { type: "int", help: "take each categorical value modulo R before numbering (default: no modulo)" },
  "on-bad-line": {
    type: "string",
    placeholder: "error|skip",
    help: "a malformed line is an error naming file:line (default), or is skipped and counted",
  },
  "data-sub-sample-rate": {
    type: "number",
    help: "drop each negative line with this probability before numbering, as the reference (default 0)",
  },
  seed: { type: "seed", help: "seed of the sub-sampling draws (default 123, as dlrm train's)" },
  schema: {
    type: "string",
    placeholder: "schema.json",
    help: "csv: the columns' roles (label, dense, categorical, split; docs/datasets.md)",
  },
  vocabulary: {
    type: "string",
    placeholder: "x.vocab.json",
    help: "csv: number and scale the rows with this vocabulary of an earlier run (the training data's, for eval data) instead of counting",
  },
  dictionary: {
    type: "string",
    placeholder: "dict.safetensors",
    help: "number the values with this existing dictionary (e.g. the training data's, for eval data) instead of building one",
  },
  help: { type: "bool", help: "show this help" },
};

const USAGE =
  "Usage: dlrm preprocess criteo <file...> --out <file.safetensors> [flags]\n" +
  "       dlrm preprocess csv <file.csv|.tsv|.jsonl...> --schema <schema.json>\n" +
  "                               --out <file.safetensors> [--vocabulary <x.vocab.json>]\n" +
  "                               [--on-bad-line skip]";
const ABOUT =
  "Read raw Criteo click logs (Kaggle train.txt or Terabyte day_N: label, 13 integer and 26 hexadecimal features, tab-separated) " +
  "and write every row, in file order, in the batch format, with the dictionary of categorical values beside it; " +
  "or read your own click log through a schema and write training and evaluation batch files with the model they train. " +
  "Prints a JSON summary line.";

export async function runPreprocess(argv: readonly string[], io: Io): Promise<number> {
  const { flags: f, args } = parseArgs("preprocess", argv, PREPROCESS_FLAGS, true);
  if (getBool(f, "help")) {
    io.stdout.write(helpText(USAGE, ABOUT, PREPROCESS_FLAGS));
    return 0;
  }
  const [kind, ...files] = args;
  if (kind === undefined)
    throw new UsageError(
      "preprocess: name the data set and the files: dlrm preprocess criteo <file...> --out <file.safetensors>",
    );
  if (kind === "csv") {
    for (const name of f.keys())
      if (!["out", "schema", "on-bad-line", "vocabulary"].includes(name))
        throw new UsageError(`preprocess: --${name} applies to criteo data, not to csv`);
    return runPreprocessCsv(
      files,
      {
        out: requiredString("preprocess", f, "out"),
        schemaPath: requiredString("preprocess", f, "schema"),
        onBadLine: oneOf("preprocess", f, "on-bad-line", ["error", "skip"] as const, "error"),
        vocabularyPath: getString(f, "vocabulary"),
      },
      io,
    );
  }
  for (const name of ["schema", "vocabulary"])
    if (f.has(name)) throw new UsageError(`preprocess: --${name} applies to csv data, not to criteo`);
  if (kind !== "criteo")
    throw new UsageError(
      `preprocess: unknown data set "${kind}" (criteo, or csv for your own data; MovieLens is read directly)`,
    );
  if (files.length === 0) throw new UsageError("preprocess: criteo needs at least one input file");
  const out = requiredString("preprocess", f, "out");
  const onBadLine = oneOf("preprocess", f, "on-bad-line", ["error", "skip"] as const, "error");
  const maxIndRange = nonNegativeInt("preprocess", f, "max-ind-range");
  const dictPath = getString(f, "dictionary");
  const subSampleRate = getNumber(f, "data-sub-sample-rate") ?? 0;
  if (!(subSampleRate >= 0 && subSampleRate <= 1))
    throw new UsageError(`preprocess: --data-sub-sample-rate must be in [0, 1], got ${subSampleRate}`);
  const seed = getNumber(f, "seed") ?? 123;
  const dictOut = dictionaryPathFor(out);

  const given = dictPath === undefined ? undefined : loadDictionary(dictPath, nodeDataFiles);
  // The dictionary written over the --dictionary read is the same dictionary, written atomically.
  const inputs = [
    ...files.map((path) => ({ flag: "input file", path })),
    ...(dictPath === undefined ? [] : [{ flag: "--dictionary", path: dictPath }]),
  ];
  checkOutputs(
    "preprocess",
    [
      { flag: "--out", path: out },
      { flag: "its dictionary", path: dictOut },
    ],
    inputs,
    (o, i) => o.flag === "its dictionary" && i.flag === "--dictionary",
  );
  if (isMlperfBinPath(out))
    return preprocessCriteoBin(files, out, { maxIndRange, onBadLine, dictionary: given, subSampleRate, seed }, io);
  const writer = new BatchFileWriter(out, { denseFeatures: CRITEO_DENSE, tables: CRITEO_SPARSE });
  let read;
  try {
    read = await readCriteoFilesInChunks(
      files,
      {
        maxIndRange,
        onBadLine,
        dictionary: given,
        subSampleRate,
        seed,
        progress: (label) => new ReadProgress(io.stderr, label),
        label: "preprocess criteo",
        fileAccess: nodeDataFiles,
      },
      (chunk) => writer.append(chunk),
    );
  } catch (e) {
    writer.abort();
    throw e;
  }
  if (read.rows === 0) {
    writer.abort();
    throw new Error(
      `preprocess: ${files.join(", ")}: no samples to write (${read.skipped} malformed lines skipped${subSampleRate > 0 ? `, --data-sub-sample-rate ${subSampleRate}` : ""})`,
    );
  }
  const R = read.dictionary.maxIndRange;
  // Both files are complete on disk before either is renamed into place; the pair id they
  // both record lets the reader catch a pair that a crash between the renames mixed up.
  const pair = { [PAIR_ID_KEY]: randomBytes(8).toString("hex") };
  const dictFile = dictionaryFile(dictOut, read.dictionary);
  writer.finish(
    {
      ...criteoBatchMetadata(
        { files: [...files], dayRows: read.dayRows, skipped: read.skipped, subSampleRate, seed },
        R,
      ),
      ...pair,
    },
    [{ path: dictOut, tensors: dictFile.tensors, metadata: { ...dictFile.metadata, ...pair } }],
  );
  const summary = {
    event: "preprocess",
    out,
    dictionary: dictOut,
    rows: read.rows,
    day_rows: read.dayRows,
    skipped_lines: read.skipped,
    max_ind_range: R,
    table_sizes: criteoTableSizes(read.dictionary),
  };
  io.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}
