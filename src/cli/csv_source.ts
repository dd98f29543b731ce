// `dlrm preprocess csv <file...> --schema schema.json --out x.safetensors`: a user's own click
// log (CSV, TSV, JSON lines) to what `dlrm train --data x.safetensors` reads with no other
// flag. It writes, each atomically:
//   x.safetensors        the training rows, a batch file whose metadata also holds the model
//                        derived from the schema and the data (src/data/sources/tabular_model.ts)
//   x.eval.safetensors   the evaluation rows the schema's split picks (when it picks any)
//   x.vocab.json         the schema, each table's values in id order (or its hash buckets)
//                        and each dense column's statistics: how a row became a sample
// Training on x.safetensors reads the model from its metadata and evaluates on the file beside
// it (src/data/sources/csv_files.ts); both files record one pair id, so an evaluation file
// from another run is an error.
// `--vocabulary v.vocab.json` numbers and scales the rows with a training run's vocabulary
// file instead of counting (evaluation files, rows to score: their ids mean the training
// data's rows, and the model written is the training one's); it is copied beside the output.
// Reading is src/data/tabular.ts (two streaming passes); the samples go to disk chunk by chunk
// through BatchFileWriter, so memory holds one chunk and the vocabularies, never the rows.
// docs/datasets.md has the schema.

import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { UsageError, type Io } from "./args.ts";
import { checkOutputs } from "./paths.ts";
import { ReadProgress } from "./read_progress.ts";
import { BatchFileWriter } from "../data/batch_writer.ts";
import { scanTabular, tabularChunks } from "../data/tabular.ts";
import { readTabularVocabulary, tabularVocabularyJson } from "../data/tabular_vocabulary.ts";
import { tabularFormat } from "../data/tabular_rows.ts";
import { parseSchema, type TabularSchema } from "../data/tabular_schema.ts";
import { CSV_BATCH_FORMAT } from "../data/sources/csv_files.ts";
import { tabularModel } from "../data/sources/tabular_model.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { nodeDataFiles } from "./node_files.ts";

/** The `format` metadata of the evaluation file `dlrm preprocess csv` writes beside the training file (CSV_BATCH_FORMAT). */
const CSV_EVAL_FORMAT = "dlrm-ts csv eval batch";

/** `x.safetensors` → `x<suffix>` (a name without the ending gets the suffix appended). */
function beside(out: string, suffix: string): string {
  return out.endsWith(".safetensors") ? `${out.slice(0, -".safetensors".length)}${suffix}` : `${out}${suffix}`;
}

export async function runPreprocessCsv(
  files: readonly string[],
  o: { out: string; schemaPath: string; onBadLine: "error" | "skip"; vocabularyPath: string | undefined },
  io: Io,
): Promise<number> {
  if (files.length === 0) throw new UsageError("preprocess: csv needs at least one input file (.csv, .tsv or .jsonl)");
  for (const f of files) {
    try {
      tabularFormat(f);
      statSync(f);
    } catch (e) {
      throw new UsageError(`preprocess: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const schema = readSchema(o.schemaPath);
  const evalOut = beside(o.out, ".eval.safetensors");
  const vocabOut = beside(o.out, ".vocab.json");
  checkOutputs(
    "preprocess",
    [
      { flag: "--out", path: o.out },
      { flag: "its evaluation file", path: evalOut },
      { flag: "its vocabulary", path: vocabOut },
    ],
    [
      ...files.map((path) => ({ flag: "input file", path })),
      { flag: "--schema", path: o.schemaPath },
      ...(o.vocabularyPath === undefined ? [] : [{ flag: "--vocabulary", path: o.vocabularyPath }]),
    ],
    // The vocabulary written over the --vocabulary read is the same vocabulary, written atomically.
    (out, input) => out.flag === "its vocabulary" && input.flag === "--vocabulary",
  );
  let given = null;
  if (o.vocabularyPath !== undefined) {
    try {
      given = readTabularVocabulary(o.vocabularyPath, nodeDataFiles, schema);
    } catch (e) {
      throw new UsageError(`preprocess: --vocabulary ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const totalBytes = files.reduce((a, f) => a + statSync(f).size, 0);
  const pass = async <T>(
    label: string,
    run: (onProgress: (file: string, bytes: number, rows: number) => void) => Promise<T>,
  ): Promise<T> => {
    const bar = new ReadProgress(io.stderr, label);
    let done = 0;
    let current = "";
    let last = 0;
    try {
      return await run((file, bytes, rows) => {
        if (file !== current) {
          done += last;
          current = file;
        }
        last = bytes;
        bar.update(rows, done + bytes, totalBytes);
      });
    } finally {
      bar.done();
    }
  };
  const opts = { onBadLine: o.onBadLine };
  const stats = await pass(given === null ? "preprocess csv (vocabularies)" : "preprocess csv (split)", (onProgress) =>
    scanTabular(files, nodeDataFiles, schema, { ...opts, onProgress }, given),
  );
  const model = tabularModel(stats.tableSizes, schema.dense.length);
  // Chunks go to disk as they come (BatchFileWriter spills each tensor), so memory stays one chunk.
  const shape = { denseFeatures: schema.dense.length, tables: schema.categorical.length };
  const train = new BatchFileWriter(o.out, shape);
  const evalRows = stats.evalRows > 0 ? new BatchFileWriter(evalOut, shape) : null;
  const pair = randomBytes(8).toString("hex");
  try {
    await pass("preprocess csv (samples)", async (onProgress) => {
      for await (const chunk of tabularChunks(files, nodeDataFiles, schema, stats, { ...opts, onProgress }))
        (chunk.split === "train" ? train : (evalRows as BatchFileWriter)).append(chunk.data);
    });
    const vocabText = `${JSON.stringify(tabularVocabularyJson(schema, stats), null, 1)}\n`;
    writeFileAtomically(vocabOut, (write) => write(Buffer.from(vocabText)));
    // The evaluation file first: training reads it through the one it names, whose pair id it must share.
    evalRows?.finish({ format: CSV_EVAL_FORMAT, pair_id: pair });
    train.finish({
      format: CSV_BATCH_FORMAT,
      files: JSON.stringify(files),
      schema: JSON.stringify(schema),
      table_names: JSON.stringify(schema.categorical.map((c) => c.column)),
      model: JSON.stringify(model.config),
      epochs: String(model.epochs),
      adagrad_initial_accumulator: String(model.adagradInitialAccumulator),
      eval_file: evalRows === null ? "" : basename(evalOut),
      skipped_lines: String(stats.skipped),
      pair_id: pair,
    });
  } finally {
    train.abort();
    evalRows?.abort();
  }
  const summary = {
    event: "preprocess",
    out: o.out,
    eval: stats.evalRows > 0 ? evalOut : null,
    vocabulary: vocabOut,
    train_rows: stats.trainRows,
    eval_rows: stats.evalRows,
    skipped_lines: stats.skipped,
    table_sizes: stats.tableSizes,
    dense_features: schema.dense.length,
  };
  io.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

function readSchema(path: string): TabularSchema {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`preprocess: --schema ${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`preprocess: --schema ${path}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  try {
    return parseSchema(json, path);
  } catch (e) {
    throw new UsageError(`preprocess: --schema ${e instanceof Error ? e.message : String(e)}`);
  }
}
