// The `dlrm` command: preprocess data, train and predict with DLRM from the command line.
//
//   dlrm train      [--model config.json] [--data file|random|synthetic|criteo:…|movielens:…|synthetic-trace:…] ...
//   dlrm predict    --model config.json --checkpoint ckpt.safetensors --data batches --out preds.safetensors
//   dlrm preprocess criteo <file...> --out batches.safetensors [--max-ind-range R] [--dictionary dict]
//   dlrm convert    in.safetensors out.safetensors --to reference|torchrec [--dtype f32|f16|bf16]
//   dlrm export     --checkpoint ckpt.safetensors [--model config.json] --out model.onnx [--bag-size L]
//   dlrm plot       run.jsonl [more.jsonl ...] --out curves.svg
//   dlrm serve-demo [--dir docs/demo] [--host 127.0.0.1] [--port 8080]
//
// Results go to stdout (the last line of `train` is a JSON object); progress goes to
// stderr. Exit codes: 0 success, 1 an error in the inputs or the run, 2 a usage error.

import { fileURLToPath } from "node:url";
import {
  getBool,
  getString,
  helpText,
  parseFlags,
  positiveInt,
  UsageError,
  workerCount,
  type FlagSpecs,
  type Io,
} from "./args.ts";
import { runConvert } from "./convert.ts";
import { checkpointConfig } from "./checkpoint_config.ts";
import { runExport } from "./export.ts";
import { checkOutputs } from "./paths.ts";
import { runPlot } from "./plot.ts";
import { runPreprocess } from "./preprocess.ts";
import { runServeDemo } from "./serve_demo.ts";
import { translateReferenceFlags } from "./reference_flags.ts";
import { runTrain } from "./train.ts";
import { readBatchFile } from "../data/batch_file.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import { loadCheckpoint, openCheckpoint } from "../dlrm/checkpoint.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { checkPredictions } from "../dlrm/finite.ts";
import { DLRM, parameterSpecs } from "../dlrm/model.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { optimizerSpec } from "../optim/make.ts";
import { enableRelaxedSimd } from "../kernels/wasm.ts";
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
  data: { type: "string", placeholder: "batches.safetensors", help: "samples to score (required)" },
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
  help: { type: "bool", help: "show this help" },
};

const USAGE = `dlrm: train and run the Deep Learning Recommendation Model

Usage:
  dlrm train [flags]                   train a model (dlrm train --help)
  dlrm predict [flags]                 write click probabilities for a batch file (dlrm predict --help)
  dlrm preprocess criteo <file...>     raw Criteo logs to a batch file and its dictionary (dlrm preprocess --help)
  dlrm convert <in> <out> --to reference|torchrec
                                       rename a checkpoint to TorchRec's DLRM names and back, or change its dtype (dlrm convert --help)
  dlrm export [flags]                  write a checkpoint's model as ONNX, for ONNX Runtime (dlrm export --help)
  dlrm plot <run.jsonl...> --out f.svg training curves of dlrm train --log files as SVG (dlrm plot --help)
  dlrm serve-demo                      serve the browser demo, cross-origin isolated, on 127.0.0.1 (dlrm serve-demo --help)
`;

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const [verb, ...rest] = argv;
  enableRelaxedSimd(); // the command, unlike the library, may set V8's process-wide flag (src/kernels/wasm.ts)
  try {
    if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
      io.stdout.write(USAGE);
      return verb === undefined ? 2 : 0;
    }
    if (verb === "train") return await runTrain(translateReferenceFlags("train", rest), io);
    if (verb === "predict") return await runPredict(translateReferenceFlags("predict", rest), io);
    if (verb === "preprocess") return await runPreprocess(rest, io);
    if (verb === "convert") return await runConvert(rest, io);
    if (verb === "export") return runExport(rest, io);
    if (verb === "plot") return await runPlot(rest, io);
    if (verb === "serve-demo") return await runServeDemo(rest, io);
    throw new UsageError(
      `unknown verb "${verb}" (expected train, predict, preprocess, convert, export, plot or serve-demo; see dlrm --help)`,
    );
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr.write(`dlrm: ${escapeControl(err.message.split("\n")[0] as string)}\n`);
    if (process.env.DLRM_DEBUG) io.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** A message with the control characters a file may carry (in a name or a line echoed back)
 *  written as \xNN, so that printing it cannot move the cursor or recolour the terminal. */
export function escapeControl(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

async function runPredict(argv: readonly string[], io: Io): Promise<number> {
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
  const dataPath = required("data");
  const out = required("out");
  const batchSize = positiveInt("predict", f, "batch-size", 4096);
  const workers = workerCount("predict", f, 1);
  const model = getString(f, "model");
  const inputs = [
    ...checkpoints.map((path) => ({ flag: "--checkpoint", path })),
    { flag: "--data", path: dataPath },
    ...(model === undefined ? [] : [{ flag: "--model", path: model }]),
  ];
  checkOutputs("predict", [{ flag: "--out", path: out }], inputs);
  const data = readBatchFile(dataPath);
  const preds: Float32Array[] = [];
  for (const checkpoint of checkpoints) {
    const config = checkpointConfig(getString(f, "model"), checkpoint);
    openCheckpoint(checkpoint, config); // the file fits the model: checked before the data against it, and before the model's memory is allocated
    checkDataset(data, config, dataPath);
    const pred = await predictWith(config, checkpoint, data, batchSize, workers);
    checkPredictions(pred, checkpoint, new Set(parameterSpecs(config).map((p) => p.name)), dataPath);
    preds.push(pred);
  }
  const pred = preds.length === 1 ? (preds[0] as Float32Array) : averagePredictions(preds);
  writeSafetensors(out, { pred: { dtype: "F32", shape: [pred.length], data: pred } });
  io.stderr.write(
    `dlrm predict: wrote ${pred.length} predictions to ${out}${preds.length > 1 ? ` (the mean of ${preds.length} models)` : ""}\n`,
  );
  return 0;
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

// Run when executed directly (npm run dlrm, npm start); bin/dlrm.js imports main instead.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
