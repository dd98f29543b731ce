// `dlrm preprocess csv <file...> --schema schema.json --out x.safetensors`: a user's own click
// log (CSV, TSV, JSON lines) to what `dlrm train --data x.safetensors` reads with no other
// flag. It writes, each atomically:
//   x.safetensors        the training rows, a batch file whose metadata also holds the model
//                        derived from the schema and the data (src/dlrm/tabular_model.ts)
//   x.eval.safetensors   the evaluation rows the schema's split picks (when it picks any)
//   x.vocab.json         the schema, each table's values in id order (or its hash buckets)
//                        and each dense column's statistics: how a row became a sample
// Training on x.safetensors reads the model from its metadata and evaluates on the file beside
// it; both files record one pair id, so an evaluation file from another run is an error.
// Reading is src/data/tabular.ts (two streaming passes); docs/datasets.md has the schema.

import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { UsageError, type Io } from "./args.ts";
import { readSafetensorsMetadata } from "./metadata.ts";
import { checkOutputs } from "./paths.ts";
import { ReadProgress } from "./read_progress.ts";
import { batchFileTensors } from "../data/batch_file.ts";
import type { Dataset } from "../data/dataset.ts";
import { scanTabular, tabularChunks, type TabularStats } from "../data/tabular.ts";
import { tabularFormat } from "../data/tabular_rows.ts";
import { parseSchema, type TabularSchema } from "../data/tabular_schema.ts";
import { parseConfig } from "../dlrm/config.ts";
import type { BuiltinModel } from "../dlrm/dataset_configs.ts";
import { tabularModel } from "../dlrm/tabular_model.ts";
import { writeFileAtomically } from "../io/atomic_file.ts";
import { writeSafetensorsTogether } from "../io/safetensors.ts";
import { statSync } from "node:fs";

/** The `format` metadata of the training file `dlrm preprocess csv` writes, and of its evaluation file. */
export const CSV_BATCH_FORMAT = "dlrm-ts csv batch";
const CSV_EVAL_FORMAT = "dlrm-ts csv eval batch";

/** `x.safetensors` → `x<suffix>` (a name without the ending gets the suffix appended). */
function beside(out: string, suffix: string): string {
  return out.endsWith(".safetensors") ? `${out.slice(0, -".safetensors".length)}${suffix}` : `${out}${suffix}`;
}

export async function runPreprocessCsv(
  files: readonly string[],
  o: { out: string; schemaPath: string; onBadLine: "error" | "skip" },
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
    [...files.map((path) => ({ flag: "input file", path })), { flag: "--schema", path: o.schemaPath }],
  );
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
  const stats = await pass("preprocess csv (vocabularies)", (onProgress) =>
    scanTabular(files, schema, { ...opts, onProgress }),
  );
  const model = tabularModel(stats.tableSizes, schema.dense.length);
  const train = new ChunkCollector();
  const evalRows = new ChunkCollector();
  await pass("preprocess csv (samples)", async (onProgress) => {
    for await (const chunk of tabularChunks(files, schema, stats, { ...opts, onProgress }))
      (chunk.split === "train" ? train : evalRows).append(chunk.data);
  });

  const pair = randomBytes(8).toString("hex");
  const meta = {
    format: CSV_BATCH_FORMAT,
    files: JSON.stringify(files),
    schema: JSON.stringify(schema),
    table_names: JSON.stringify(schema.categorical.map((c) => c.column)),
    model: JSON.stringify(model.config),
    epochs: String(model.epochs),
    adagrad_initial_accumulator: String(model.adagradInitialAccumulator),
    eval_file: stats.evalRows > 0 ? basename(evalOut) : "",
    skipped_lines: String(stats.skipped),
    pair_id: pair,
  };
  const outputs = [{ path: o.out, tensors: batchFileTensors(o.out, train.dataset(), "I32"), metadata: meta }];
  if (stats.evalRows > 0)
    outputs.push({
      path: evalOut,
      tensors: batchFileTensors(evalOut, evalRows.dataset(), "I32"),
      metadata: { format: CSV_EVAL_FORMAT, pair_id: pair } as typeof meta,
    });
  const vocabText = `${JSON.stringify(vocabularyFile(schema, stats), null, 1)}\n`;
  writeFileAtomically(vocabOut, (write) => write(Buffer.from(vocabText)));
  writeSafetensorsTogether(outputs);
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

function vocabularyFile(schema: TabularSchema, stats: TabularStats) {
  return {
    format: "dlrm-ts csv vocabulary",
    schema,
    dense: schema.dense.map((d, k) => ({ column: d.column, transform: d.transform, ...stats.dense[k] })),
    tables: schema.categorical.map((c, t) => {
      const v = stats.vocabularies[t];
      return v === null
        ? { column: c.column, rows: c.hashBuckets, hash_buckets: c.hashBuckets }
        : { column: c.column, rows: v.rows, other_row: v.values.length, values: v.values };
    }),
  };
}

/**
 * The chunks of one output, joined into one Dataset when written. This holds the samples in
 * memory until the end: the chunked, positional batch-file writer (issue 23 item 1) replaces
 * it, and tabularChunks already hands over bounded chunks for that.
 */
class ChunkCollector {
  #chunks: Dataset[] = [];
  append(chunk: Dataset): void {
    this.#chunks.push(chunk);
  }
  dataset(): Dataset {
    return concatChunks(this.#chunks);
  }
}

function concatChunks(chunks: readonly Dataset[]): Dataset {
  const first = chunks[0] as Dataset;
  if (chunks.length === 1) return first;
  const n = chunks.reduce((a, c) => a + c.n, 0);
  const Dd = first.denseFeatures;
  const dense = new Float32Array(n * Dd);
  const labels = new Float32Array(n);
  let at = 0;
  for (const c of chunks) {
    dense.set(c.dense, at * Dd);
    labels.set(c.labels, at);
    at += c.n;
  }
  const sparse = first.sparse.map((_, t) => {
    const lengths = new Int32Array(n);
    const L = chunks.reduce((a, c) => a + (c.sparse[t]?.indices.length ?? 0), 0);
    const indices = new Int32Array(L);
    let row = 0;
    let pos = 0;
    for (const c of chunks) {
      const f = c.sparse[t] as Dataset["sparse"][number];
      lengths.set(f.lengths, row);
      indices.set(f.indices, pos);
      row += c.n;
      pos += f.indices.length;
    }
    const offsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = (offsets[i] as number) + (lengths[i] as number);
    return { lengths, offsets, indices, weights: null };
  });
  return { n, denseFeatures: Dd, dense, labels, sparse };
}

/** What `dlrm train` takes from a file that `dlrm preprocess csv` wrote. */
export interface CsvBatchInfo {
  model: BuiltinModel;
  tableNames: string[];
  /** The evaluation file beside it, or null when the split picked no row. */
  evalPath: string | null;
}

/** The preprocessing facts of a batch file, or null when `dlrm preprocess csv` did not write it. */
export function csvBatchInfo(path: string): CsvBatchInfo | null {
  const meta = readSafetensorsMetadata(path);
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
    evalPath = join(dirname(path), evalName);
    if (!existsSync(evalPath)) throw new Error(`${path}: its evaluation rows are in ${evalPath}, which is absent`);
    if (readSafetensorsMetadata(evalPath)["pair_id"] !== meta["pair_id"])
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
