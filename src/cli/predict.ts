// `dlrm predict`: click probabilities of every sample of a data set, in data order, written
// as `pred` F32 [N]; with several checkpoints, the mean of their probabilities (an ensemble).
//
// The data: a batch file or an MLPerf .bin, streamed (read in order a batch at a time, so that
// memory holds two batches and the N predictions and labels, not the file), or the evaluation
// split `dlrm train` scores for a source that brings one, so that a trained model is measured
// on the same samples:
//   movielens:<dir> [--split uK]                 MovieLens's <split>.test
//   synthetic [--seed S] [--data-size N]         the held-out split `dlrm train --data
//                                                synthetic --seed S --data-size N` draws; S and
//                                                N default to what the checkpoint's run records
// (which samples each --data kind gives is its record's `scored`, src/data/sources/registry.ts).
// --metrics prints the AUC, logloss, accuracy, NE and calibration against the data's labels
// (a JSON line; docs/results.md defines them); with it, --out is optional.
//
// Quantized tables (the reference's --quantize-emb-with-bit 8|4, inference only): the
// float32 checkpoint's tables are quantized after loading (src/interop/quantized/quantized.ts), or the
// checkpoint already holds them (dlrm convert --quantize-emb-with-bit); 32 means float32 (the
// reference's default). They predict on this thread (--workers 1).
//
// Glossary: N samples.

import { smallEvalWarning } from "./eval_size.ts";
import { predictionFormat, writePredictions } from "./predictions_file.ts";
import {
  getBool,
  getNumber,
  getString,
  helpText,
  parseFlags,
  positiveInt,
  requiredString,
  UsageError,
  workerCount,
  type FlagSpecs,
  type Io,
  type ParsedFlags,
} from "./args.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { dataSpecFiles, parseDataSpec, scoredData, type DataRequest } from "../data/sources/registry.ts";
import { checkRunData, closeRunData, type RunData } from "../data/sources/run_data.ts";
import { nodeDataFiles } from "./node_files.ts";
import { checkOutputs } from "./paths.ts";
import type { Dataset } from "../data/dataset.ts";
import { loadCheckpoint, openCheckpoint, readRunState } from "../dlrm/checkpoint.ts";
import { checkpointFormat, readCheckpointIndex } from "../interop/checkpoint_file.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { checkPredictions } from "../dlrm/finite.ts";
import { DLRM } from "../dlrm/model.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import {
  floatTableBytes,
  loadQuantizedCheckpoint,
  QuantizedDLRM,
  quantBits,
  quantizedCheckpointBits,
} from "../interop/quantized/quantized.ts";
import { heldOutSize } from "../data/generated.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import type { QuantBits } from "../kernels/fused_rows.ts";
import { formatBytes } from "../kernels/memory.ts";
import { computeMetrics, undefinedMetricsNote } from "../metrics/metrics.ts";
import { optimizerSpec } from "../optim/make.ts";
import { openExecutor } from "../run/recipe.ts";
import { PREDICT_TABLE_STORE_FLAGS, tableStoreOptions } from "./table_store.ts";
import { DiskTableExecutor } from "../train/disk_executor.ts";
import { averagePredictions } from "../train/ensemble.ts";
import { predictAll } from "../train/batch_feed.ts";

const PREDICT_FLAGS: FlagSpecs = {
  model: {
    type: "string",
    placeholder: "config.json",
    help: "model config (JSON); default: the one the checkpoint records (dlrm train --save), else the one its tensor shapes give",
  },
  checkpoint: {
    type: "string",
    placeholder: "ckpt.safetensors",
    help: "parameters to predict with (required; .pt/.pth: a torch.save file such as the reference's --save-model, else safetensors); several, comma-separated (an ensemble's members), average their probabilities",
  },
  data: {
    type: "string",
    placeholder: "batches.safetensors",
    help: "samples to score (required): a batch file or an MLPerf .bin (streamed, in order); movielens:<dir> (its --split's test ratings); synthetic (the held-out split dlrm train --data synthetic draws for --seed and --data-size)",
  },
  out: {
    type: "string",
    placeholder: "preds.safetensors|.csv|.jsonl",
    help: 'where to write the predictions, in data order (required unless --metrics), by extension: .safetensors (`pred` F32 [N]), .csv (pred[,label] rows) or .jsonl ({"pred": p[, "label": y]} lines)',
  },
  "batch-size": { type: "int", help: "samples per forward pass (default 4096)" },
  ...PREDICT_TABLE_STORE_FLAGS,
  workers: {
    type: "int",
    help: "worker threads: 1 predicts on this thread (default); N > 1 reads the tables into N ranks and runs the hybrid forward there",
  },
  "quantize-emb-with-bit": {
    type: "int",
    help: "quantize the tables to 8 or 4 bits per value (fbgemm's row-wise layouts; 32: float32, the default) after loading; inference on this thread. A checkpoint of dlrm convert --quantize-emb-with-bit predicts with its own int8/int4 tables without it",
  },
  split: { type: "string", help: "movielens:<dir> data: the split whose test ratings are scored (default u1)" },
  seed: {
    type: "seed",
    help: "synthetic data: the seed dlrm train drew it with (default: the checkpoint's recorded run, else 123)",
  },
  "data-size": {
    type: "int",
    help: `synthetic data: the training samples dlrm train drew before the held-out split (default: the checkpoint's recorded run; none: the endless stream, whose held-out split is ${heldOutSize(null)} samples)`,
  },
  metrics: {
    type: "bool",
    help: "print AUC, logloss, accuracy, NE and calibration against the data's labels (a JSON line on stdout)",
  },
  help: { type: "bool", help: "show this help" },
};

export async function runPredict(argv: readonly string[], io: Io): Promise<number> {
  const f = parseFlags("predict", argv, PREDICT_FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(
      helpText(
        "Usage: dlrm predict --checkpoint <ckpt> --data <batches> --out <preds> [flags]",
        "Write the click probabilities of every sample, in data order, as `pred` F32 [N].",
        PREDICT_FLAGS,
      ),
    );
    return 0;
  }
  const required = (name: string): string => requiredString("predict", f, name);
  const checkpoints = required("checkpoint").split(",");
  if (checkpoints.some((c) => c === ""))
    throw new UsageError(`predict: --checkpoint has an empty name in "${required("checkpoint")}"`);
  const dataText = required("data");
  const metrics = getBool(f, "metrics");
  const out = metrics ? getString(f, "out") : required("out");
  if (out !== undefined) predictionFormat(out);
  const batchSize = positiveInt("predict", f, "batch-size", 4096);
  const workers = workerCount("predict", f, 1);
  const store = tableStoreOptions(f, "predict");
  const model = getString(f, "model");
  const bitsFlag = getNumber(f, "quantize-emb-with-bit");
  let bits: QuantBits | null = null;
  try {
    bits = bitsFlag === undefined ? null : quantBits(bitsFlag, "predict");
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const inputs = [
    ...checkpoints.map((path) => ({ flag: "--checkpoint", path })),
    ...dataSpecFiles(parseDataSpec("predict", "--data", dataText, nodeDataFiles), nodeDataFiles).map((path) => ({
      flag: "--data",
      path,
    })),
    ...(model === undefined ? [] : [{ flag: "--model", path: model }]),
  ];
  checkOutputs("predict", out === undefined ? [] : [{ flag: "--out", path: out }], inputs);
  const preds: Float32Array[] = [];
  let shared: RunData | null = null;
  let labels: Float32Array | null = null;
  try {
    for (const checkpoint of checkpoints) {
      const config = checkpointConfig(model, checkpoint);
      const stored = quantizedCheckpointBits(checkpoint);
      if (stored === null) openCheckpoint(checkpoint, config, null, checkpointFormat(checkpoint)); // the file fits the model: checked before the data against it, and before the model's memory is allocated
      // A file or a MovieLens split is opened once for every member; synthetic data is drawn for each member's model.
      const { r, dataSize } = scoreRequest(f, dataText, checkpoint);
      let data: RunData;
      if (shared === null) {
        data = await scoredData(r, config, dataSize);
        if (r.train.kind !== "synthetic") shared = data;
      } else data = checkRunData(shared, config, dataText); // each member checks the samples against its model
      let predictBatch: (d: Dataset) => Float32Array | Promise<Float32Array>;
      let release = async (): Promise<void> => undefined;
      if (stored !== null || bits !== null) {
        if (store !== null)
          throw new UsageError("predict: quantized tables are not kept on disk: leave out --table-dir");
        if (workers !== 1)
          throw new UsageError(
            `predict: quantized tables (${stored !== null ? `${checkpoint} holds int${stored} tables` : `--quantize-emb-with-bit ${bits}`}) predict on this thread: leave out --workers ${workers}`,
          );
        if (stored !== null && bits !== null && stored !== bits)
          throw new UsageError(
            `predict: ${checkpoint} holds int${stored} tables; --quantize-emb-with-bit ${bits} cannot requantize them (give ${stored}, or the float32 checkpoint)`,
          );
        const q = quantizedModel(config, checkpoint, stored, bits as QuantBits, io);
        predictBatch = (d) => q.predict(d, batchSize);
      } else if (store !== null && workers === 1) {
        const spec = optimizerSpec("sgd", config.lr); // never steps: the records hold weights only
        const disk = new DiskTableExecutor(
          config,
          spec,
          { kind: "file", index: readCheckpointIndex(checkpoint), withOptimizer: false },
          store,
        );
        predictBatch = (d) => disk.predict(d, batchSize);
        release = () => disk.close();
      } else {
        // This thread's model, or ranks that read their own shards of the checkpoint.
        const executor = await openExecutor({
          config,
          spec: optimizerSpec("sgd", config.lr), // never steps: prediction only
          workers,
          seed: 0,
          checkpoint: {
            index: readCheckpointIndex(checkpoint),
            withOptimizer: false,
            load: (m) => loadCheckpoint(checkpoint, m, null, null, checkpointFormat(checkpoint)),
          },
          data: [data],
          maxBatch: batchSize,
          store,
        });
        predictBatch = (d) => executor.predict(d, batchSize);
        release = () => executor.close();
      }
      let scored;
      try {
        scored = await predictAll({ predict: async (d) => predictBatch(d) }, data, batchSize);
      } finally {
        await release();
      }
      checkPredictions(scored.preds, checkpoint, dataText);
      preds.push(scored.preds);
      labels = scored.labels;
    }
  } finally {
    if (shared !== null) await closeRunData(shared);
  }
  const pred = preds.length === 1 ? preds[0] : averagePredictions(preds);
  if (out !== undefined) {
    writePredictions(out, pred, labels);
    io.stderr.write(
      `dlrm predict: wrote ${pred.length} predictions to ${out}${preds.length > 1 ? ` (the mean of ${preds.length} models)` : ""}\n`,
    );
  }
  if (metrics && labels !== null) {
    io.stderr.write(smallEvalWarning("predict", labels.length) ?? "");
    const m = computeMetrics(pred, labels);
    io.stdout.write(`${JSON.stringify({ event: "predict", ...m, data: dataText })}\n`);
    const note = undefinedMetricsNote(m);
    if (note !== null) io.stderr.write(`dlrm predict: ${dataText}: ${note}\n`);
  }
  return 0;
}

/** The request for the samples to score: --data, with --split, and for synthetic data the seed
 *  and size `dlrm train` drew it with (as given, else as the checkpoint's run records). */
function scoreRequest(f: ParsedFlags, text: string, checkpoint: string): { r: DataRequest; dataSize: number | null } {
  const spec = parseDataSpec("predict", "--data", text, nodeDataFiles);
  if (spec.kind !== "synthetic")
    for (const flag of ["seed", "data-size"])
      if (f.has(flag)) throw new UsageError(`predict: --${flag} applies to synthetic data, not to --data ${text}`);
  const seedFlag = getNumber(f, "seed");
  if (seedFlag !== undefined && !Number.isInteger(seedFlag))
    throw new UsageError(`predict: --seed must be an integer, got ${seedFlag}`);
  const run = spec.kind === "synthetic" ? readRunState(checkpoint, readCheckpointIndex(checkpoint).metadata) : null;
  const recordedSize = run?.flags["data"] === "synthetic" ? run.flags["data-size"] : undefined;
  const dataSize = f.has("data-size")
    ? positiveInt("predict", f, "data-size", 1)
    : typeof recordedSize === "number"
      ? recordedSize
      : null;
  const r: DataRequest = {
    train: spec,
    eval: null,
    split: getString(f, "split") ?? null,
    maxIndRange: undefined,
    onBadLine: "error",
    subSampleRate: 0,
    seed: seedFlag ?? run?.seed ?? 123,
    numIndicesPerLookup: 10,
    numIndicesPerLookupFixed: false,
    progress: null,
    files: nodeDataFiles,
  };
  return { r, dataSize };
}

/** The quantized model to predict with: the checkpoint's own tables (stored) or the float32 ones quantized to `bits`. */
function quantizedModel(
  config: DLRMConfig,
  checkpoint: string,
  stored: QuantBits | null,
  bits: QuantBits,
  io: Io,
): QuantizedDLRM {
  let q: QuantizedDLRM;
  let floatBytes: number;
  if (stored !== null) {
    q = loadQuantizedCheckpoint(checkpoint, config);
    floatBytes = q.pieces.reduce((n, p) => n + 4 * p.rows * p.dim, 0);
  } else {
    const m = new DLRM(config, 0);
    loadCheckpoint(checkpoint, m, null, null, checkpointFormat(checkpoint));
    floatBytes = floatTableBytes(m);
    q = QuantizedDLRM.fromModel(m, bits);
  }
  const bytes = q.tableBytes();
  io.stderr.write(
    `dlrm predict: int${q.bits} tables (fbgemm row-wise): ${formatBytes(bytes)}, float32 ${formatBytes(floatBytes)} (${(floatBytes / bytes).toFixed(2)}× smaller)\n`,
  );
  return q;
}
