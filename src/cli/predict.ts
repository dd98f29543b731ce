// `dlrm predict`: click probabilities of every sample of a data set, in data order, written
// as `pred` F32 [N]; with several checkpoints, the mean of their probabilities (an ensemble).
//
// The data: a batch file (scored whole), or the evaluation split `dlrm train` scores for a
// source that brings one, so that a trained model is measured on the same samples:
//   movielens:<dir> [--split uK]                 MovieLens's <split>.test
//   synthetic [--seed S] [--data-size N]         the held-out split `dlrm train --data
//                                                synthetic --seed S --data-size N` draws; S and
//                                                N default to what the checkpoint's run records
// --metrics prints the AUC, logloss and accuracy against the data's labels (a JSON line).
//
// Quantized tables (the reference's --quantize-emb-with-bit 8|4, inference only): the
// float32 checkpoint's tables are quantized after loading (src/dlrm/quantized.ts), or the
// checkpoint already holds them (dlrm convert --quantize-emb-with-bit); 32 means float32 (the
// reference's default). They predict on this thread (--workers 1).
//
// Glossary: N samples.

import {
  getBool,
  getNumber,
  getString,
  helpText,
  parseFlags,
  positiveInt,
  UsageError,
  workerCount,
  type FlagSpecs,
  type Io,
} from "./args.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { splitRatings } from "./movielens_splits.ts";
import { checkOutputs } from "./paths.ts";
import { readBatchFile } from "../data/batch_file.ts";
import type { Dataset } from "../data/dataset.ts";
import { readMovieLens } from "../data/movielens.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import { loadCheckpoint, openCheckpoint, readRunState } from "../dlrm/checkpoint.ts";
import { readCheckpointIndex } from "../dlrm/checkpoint_format.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { checkPredictions } from "../dlrm/finite.ts";
import { DLRM, parameterSpecs } from "../dlrm/model.ts";
import { embeddingPieces } from "../dlrm/tables.ts";
import {
  floatTableBytes,
  loadQuantizedCheckpoint,
  QuantizedDLRM,
  quantBits,
  quantizedCheckpointBits,
} from "../dlrm/quantized.ts";
import { SYNTHETIC_MIN_SIZE, syntheticData, syntheticEvalSize } from "../dlrm/synthetic.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import type { QuantBits } from "../kernels/fused_rows.ts";
import { formatBytes } from "../kernels/memory.ts";
import { computeMetrics } from "../metrics/metrics.ts";
import { optimizerSpec } from "../optim/make.ts";
import { HybridExecutor } from "../parallel/hybrid.ts";
import { averagePredictions } from "../train/ensemble.ts";
import { predict } from "../train/trainer.ts";

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
    help: "samples to score (required): a batch file; movielens:<dir> (its --split's test ratings); synthetic (the held-out split dlrm train --data synthetic draws for --seed and --data-size)",
  },
  out: {
    type: "string",
    placeholder: "preds.safetensors",
    help: "where to write `pred` F32 [N], in data order (required)",
  },
  "batch-size": { type: "int", help: "samples per forward pass (default 4096)" },
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
    type: "int",
    help: "synthetic data: the seed dlrm train drew it with (default: the checkpoint's recorded run, else 123)",
  },
  "data-size": {
    type: "int",
    help: `synthetic data: the training samples dlrm train drew before the held-out split (default: the checkpoint's recorded run, else ${SYNTHETIC_MIN_SIZE})`,
  },
  metrics: { type: "bool", help: "print AUC, logloss and accuracy against the data's labels (a JSON line on stdout)" },
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
  const required = (name: string): string => {
    const v = getString(f, name);
    if (v === undefined) throw new UsageError(`predict: --${name} is required`);
    return v;
  };
  const checkpoints = required("checkpoint").split(",");
  if (checkpoints.some((c) => c === ""))
    throw new UsageError(`predict: --checkpoint has an empty name in "${required("checkpoint")}"`);
  const dataText = required("data");
  const out = required("out");
  const batchSize = positiveInt("predict", f, "batch-size", 4096);
  const workers = workerCount("predict", f, 1);
  const model = getString(f, "model");
  const bitsFlag = getNumber(f, "quantize-emb-with-bit");
  let bits: QuantBits | null = null;
  try {
    bits = bitsFlag === undefined ? null : quantBits(bitsFlag, "predict");
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const source = dataSource(dataText, f);
  const inputs = [
    ...checkpoints.map((path) => ({ flag: "--checkpoint", path })),
    ...(source.kind === "file" ? [{ flag: "--data", path: dataText }] : []),
    ...(model === undefined ? [] : [{ flag: "--model", path: model }]),
  ];
  checkOutputs("predict", [{ flag: "--out", path: out }], inputs);
  const fileData = source.kind === "file" ? readBatchFile(dataText) : null;
  const preds: Float32Array[] = [];
  let labels: Float32Array | null = null;
  for (const checkpoint of checkpoints) {
    const config = checkpointConfig(model, checkpoint);
    const stored = quantizedCheckpointBits(checkpoint);
    if (stored === null) openCheckpoint(checkpoint, config); // the file fits the model: checked before the data against it, and before the model's memory is allocated
    const data = source.kind === "file" ? (fileData as Dataset) : sourceData(source, config, checkpoint);
    checkDataset(data, config, dataText);
    labels = data.labels;
    let pred: Float32Array;
    if (stored !== null || bits !== null) {
      if (workers !== 1)
        throw new UsageError(
          `predict: quantized tables (${stored !== null ? `${checkpoint} holds int${stored} tables` : `--quantize-emb-with-bit ${bits}`}) predict on this thread: leave out --workers ${workers}`,
        );
      if (stored !== null && bits !== null && stored !== bits)
        throw new UsageError(
          `predict: ${checkpoint} holds int${stored} tables; --quantize-emb-with-bit ${bits} cannot requantize them (give ${stored}, or the float32 checkpoint)`,
        );
      pred = predictQuantized(config, checkpoint, stored, bits as QuantBits, data, batchSize, io);
    } else {
      pred = await predictWith(config, checkpoint, data, batchSize, workers);
    }
    // a NaN prediction is traced to the first non-finite float parameter (stored quantized tables are checked when read)
    const pieces = new Set(embeddingPieces(config).map((p) => p.name));
    const floats = parameterSpecs(config).filter((p) => stored === null || !pieces.has(p.name));
    checkPredictions(pred, checkpoint, new Set(floats.map((p) => p.name)), dataText);
    preds.push(pred);
  }
  const pred = preds.length === 1 ? (preds[0] as Float32Array) : averagePredictions(preds);
  writeSafetensors(out, { pred: { dtype: "F32", shape: [pred.length], data: pred } });
  io.stderr.write(
    `dlrm predict: wrote ${pred.length} predictions to ${out}${preds.length > 1 ? ` (the mean of ${preds.length} models)` : ""}\n`,
  );
  if (getBool(f, "metrics") && labels !== null) {
    io.stdout.write(`${JSON.stringify({ event: "predict", ...computeMetrics(pred, labels), data: dataText })}\n`);
  }
  return 0;
}

type Source =
  | { kind: "file" }
  | { kind: "movielens"; dir: string; split: string }
  | { kind: "synthetic"; seed: number | null; dataSize: number | null };

/** What --data names; --split, --seed and --data-size only where they apply. */
function dataSource(text: string, f: ReturnType<typeof parseFlags>): Source {
  const split = getString(f, "split");
  const misplaced = (flag: string, kind: string): UsageError =>
    new UsageError(`predict: --${flag} applies to ${kind} data, not to --data ${text}`);
  if (text.startsWith("movielens:")) {
    const dir = text.slice("movielens:".length);
    if (dir === "") throw new UsageError(`predict: --data ${text} names no folder`);
    for (const flag of ["seed", "data-size"]) if (f.has(flag)) throw misplaced(flag, "synthetic");
    return { kind: "movielens", dir, split: split ?? "u1" };
  }
  if (split !== undefined) throw misplaced("split", "movielens:<dir>");
  if (text === "synthetic") {
    const seed = getNumber(f, "seed") ?? null;
    if (seed !== null && !Number.isInteger(seed))
      throw new UsageError(`predict: --seed must be an integer, got ${seed}`);
    return { kind: "synthetic", seed, dataSize: f.has("data-size") ? positiveInt("predict", f, "data-size", 1) : null };
  }
  for (const flag of ["seed", "data-size"]) if (f.has(flag)) throw misplaced(flag, "synthetic");
  if (text === "random" || /^(criteo|synthetic-trace):/.test(text))
    throw new UsageError(
      `predict: --data ${text}: predict scores a batch file, movielens:<dir> or synthetic (write other data with dlrm preprocess)`,
    );
  return { kind: "file" };
}

/** The evaluation split `dlrm train` scores for this source and model (synthetic: its seed and size as given, else as the checkpoint's run records). */
function sourceData(s: Exclude<Source, { kind: "file" }>, config: DLRMConfig, checkpoint: string): Dataset {
  if (s.kind === "movielens") return readMovieLens(s.dir, s.split, splitRatings(s.dir, s.split)).test;
  const run = readRunState(checkpoint, readCheckpointIndex(checkpoint).metadata);
  const recordedSize = run?.flags["data"] === "synthetic" ? run.flags["data-size"] : undefined;
  const seed = s.seed ?? run?.seed ?? 123;
  const dataSize = s.dataSize ?? (typeof recordedSize === "number" ? recordedSize : SYNTHETIC_MIN_SIZE);
  const syn = syntheticData(config, { sizes: [dataSize, syntheticEvalSize(dataSize)], seed });
  return syn.splits[1] as Dataset;
}

/** Predictions with quantized tables: the checkpoint's own (stored) or the float32 ones quantized to `bits`. */
function predictQuantized(
  config: DLRMConfig,
  checkpoint: string,
  stored: QuantBits | null,
  bits: QuantBits,
  data: Dataset,
  batchSize: number,
  io: Io,
): Float32Array {
  let q: QuantizedDLRM;
  let floatBytes: number;
  if (stored !== null) {
    q = loadQuantizedCheckpoint(checkpoint, config);
    floatBytes = q.pieces.reduce((n, p) => n + 4 * p.rows * p.dim, 0);
  } else {
    const m = new DLRM(config, 0);
    loadCheckpoint(checkpoint, m);
    floatBytes = floatTableBytes(m);
    q = QuantizedDLRM.fromModel(m, bits);
  }
  const bytes = q.tableBytes();
  io.stderr.write(
    `dlrm predict: int${q.bits} tables (fbgemm row-wise): ${formatBytes(bytes)}, float32 ${formatBytes(floatBytes)} (${(floatBytes / bytes).toFixed(2)}× smaller)\n`,
  );
  return q.predict(data, batchSize);
}

/** One checkpoint's predictions: on this thread, or on ranks that read their own shards of it. */
async function predictWith(
  config: DLRMConfig,
  checkpoint: string,
  data: Dataset,
  batchSize: number,
  workers: number,
): Promise<Float32Array> {
  if (workers === 1) {
    const model = new DLRM(config, 0);
    loadCheckpoint(checkpoint, model);
    return predict(model, data, batchSize);
  }
  const executor = await HybridExecutor.start({
    config,
    workers,
    optimizer: optimizerSpec("sgd", config.lr), // never steps: prediction only
    source: { kind: "file", path: checkpoint, withOptimizer: false },
    datasets: [data],
    maxBatch: batchSize,
  });
  try {
    return await executor.predict(data, batchSize);
  } finally {
    await executor.close();
  }
}
