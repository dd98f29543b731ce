// The `dlrm` command: train and predict with DLRM from the command line.
//
//   dlrm train   [--model config.json] [--data file|random|synthetic] ...
//   dlrm predict --model config.json --checkpoint ckpt.safetensors --data batches --out preds.safetensors
//
// Results go to stdout (the last line of `train` is a JSON object); progress goes to
// stderr. Exit codes: 0 success, 1 an error in the inputs or the run, 2 a usage error.

import { closeSync, openSync, writeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getBool, getNumber, getString, helpText, parseFlags, positiveInt, UsageError, type FlagSpecs } from "./args.ts";
import { loadData } from "./data_source.ts";
import { readBatchFile } from "../data/batch_file.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import { loadCheckpoint, saveCheckpoint } from "../dlrm/checkpoint.ts";
import { readConfig, type DLRMConfig } from "../dlrm/config.ts";
import { defaultConfig } from "../dlrm/defaults.ts";
import { DLRM } from "../dlrm/model.ts";
import { writeSafetensors } from "../io/safetensors.ts";
import { Adagrad } from "../optim/adagrad.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { RowWiseAdagrad } from "../optim/rowwise_adagrad.ts";
import { LRPolicyScheduler } from "../optim/schedule.ts";
import { SGD } from "../optim/sgd.ts";
import { Rng } from "../tensor/rng.ts";
import { Progress } from "../train/progress.ts";
import { batchesPerEpoch, predict, train } from "../train/trainer.ts";

export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

const TRAIN_FLAGS: FlagSpecs = {
  model: { type: "string", placeholder: "config.json", help: "model config (JSON, fields as ../shared/golden/README.md); default: the built-in model" },
  data: { type: "string", placeholder: "file|random|synthetic", help: "training data: a batch file (.safetensors) or a generator (default synthetic)" },
  "eval-data": { type: "string", placeholder: "file|random", help: "evaluation data; synthetic data brings its own held-out split" },
  init: { type: "string", placeholder: "ckpt.safetensors", help: "start from these parameters (reference state_dict names)" },
  save: { type: "string", placeholder: "ckpt.safetensors", help: "write the trained parameters here (atomically)" },
  steps: { type: "int", help: "optimizer steps (default: the config's steps, or --epochs)" },
  epochs: { type: "int", help: "passes over the data (instead of --steps)" },
  "batch-size": { type: "int", help: "samples per step (default: the config's batch_size)" },
  lr: { type: "number", help: "learning rate (default: the config's lr)" },
  optimizer: { type: "string", placeholder: "sgd|adagrad|rowwise-adagrad", help: "optimizer (default: the config's optimizer)" },
  "lr-num-warmup-steps": { type: "int", help: "linear warm-up steps of the learning rate (default 0)" },
  "lr-decay-start-step": { type: "int", help: "step where the polynomial decay starts (default 0)" },
  "lr-num-decay-steps": { type: "int", help: "steps of polynomial decay (default 0: no decay)" },
  "no-shuffle": { type: "bool", help: "batch s is samples [s·B, (s+1)·B) of the data, in file order" },
  seed: { type: "int", help: "seed of initialisation, shuffling and generated data (default 123)" },
  log: { type: "string", placeholder: "file.jsonl", help: "one JSON object per step (step, loss, lr), then the eval" },
  "data-size": { type: "int", help: "samples to generate for random/synthetic data (default: steps × batch, at least 50000 for synthetic)" },
  "num-indices-per-lookup": { type: "int", help: "random data: lookups per bag, or the maximum (default 10)" },
  "num-indices-per-lookup-fixed": { type: "bool", help: "random data: every bag has exactly --num-indices-per-lookup lookups" },
  "test-freq": { type: "int", help: "also evaluate every N steps (default: only at the end)" },
  "print-freq": { type: "int", help: "when stderr is not a terminal, a progress line every N steps (default 100)" },
  workers: { type: "int", help: "worker threads (only 1 for now)" },
  help: { type: "bool", help: "show this help" },
};

const PREDICT_FLAGS: FlagSpecs = {
  model: { type: "string", placeholder: "config.json", help: "model config (JSON); default: the built-in model" },
  checkpoint: { type: "string", placeholder: "ckpt.safetensors", help: "parameters to predict with (required)" },
  data: { type: "string", placeholder: "batches.safetensors", help: "samples to score (required)" },
  out: { type: "string", placeholder: "preds.safetensors", help: "where to write `pred` F32 [N], in data order (required)" },
  "batch-size": { type: "int", help: "samples per forward pass (default 4096)" },
  help: { type: "bool", help: "show this help" },
};

const USAGE = `dlrm: train and run the Deep Learning Recommendation Model

Usage:
  dlrm train [flags]     train a model (dlrm train --help)
  dlrm predict [flags]   write click probabilities for a batch file (dlrm predict --help)
`;

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
      io.stdout.write(USAGE);
      return verb === undefined ? 2 : 0;
    }
    if (verb === "train") return runTrain(rest, io);
    if (verb === "predict") return runPredict(rest, io);
    throw new UsageError(`unknown verb "${verb}" (expected train or predict; see dlrm --help)`);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr.write(`dlrm: ${err.message.split("\n")[0]}\n`);
    if (process.env.DLRM_DEBUG) io.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

function loadConfig(path: string | undefined): DLRMConfig {
  return path === undefined ? defaultConfig() : readConfig(path);
}

function runTrain(argv: readonly string[], io: Io): number {
  const f = parseFlags("train", argv, TRAIN_FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(helpText("Usage: dlrm train [flags]", "Train a DLRM; the last line printed is a JSON object with the final metrics.", TRAIN_FLAGS));
    return 0;
  }
  const workers = positiveInt("train", f, "workers", 1);
  if (workers !== 1) throw new UsageError(`train: --workers ${workers} is not supported yet (hybrid-parallel training comes later); use --workers 1`);
  const config = loadConfig(getString(f, "model"));
  const batchSize = positiveInt("train", f, "batch-size", config.batch_size);
  const lr = getNumber(f, "lr") ?? config.lr;
  if (!(lr > 0)) throw new UsageError(`train: --lr must be positive, got ${lr}`);
  const seed = getNumber(f, "seed") ?? 123;
  if (f.has("steps") && f.has("epochs")) throw new UsageError("train: give --steps or --epochs, not both");
  const optimizerName = getString(f, "optimizer") ?? config.optimizer;
  if (!["sgd", "adagrad", "rowwise-adagrad"].includes(optimizerName)) {
    throw new UsageError(`train: --optimizer must be sgd, adagrad or rowwise-adagrad, got "${optimizerName}"`);
  }
  const spec = getString(f, "data") ?? "synthetic";
  const stepsFlag = f.has("steps") ? positiveInt("train", f, "steps", 1) : undefined;
  const epochs = f.has("epochs") ? positiveInt("train", f, "epochs", 1) : undefined;
  const plannedSteps = stepsFlag ?? config.steps;
  const defaultSize = spec === "synthetic" ? Math.max(50000, plannedSteps * batchSize) : plannedSteps * batchSize;
  const dataSize = positiveInt("train", f, "data-size", defaultSize);

  const data = loadData({
    spec,
    evalSpec: getString(f, "eval-data") ?? null,
    config,
    seed,
    dataSize,
    numIndicesPerLookup: getNumber(f, "num-indices-per-lookup") ?? 10,
    numIndicesPerLookupFixed: getBool(f, "num-indices-per-lookup-fixed"),
  });
  const steps = epochs !== undefined ? epochs * batchesPerEpoch(data.train.n, batchSize) : plannedSteps;

  const model = new DLRM(config, new Rng(seed));
  const init = getString(f, "init");
  if (init !== undefined) loadCheckpoint(init, model);
  const optimizer = makeOptimizer(optimizerName, model, lr);
  const warmup = getNumber(f, "lr-num-warmup-steps") ?? 0;
  const decayStart = getNumber(f, "lr-decay-start-step") ?? 0;
  const decaySteps = getNumber(f, "lr-num-decay-steps") ?? 0;
  const scheduler = warmup > 0 || decaySteps > 0 ? new LRPolicyScheduler(optimizer, { warmupSteps: warmup, decayStartStep: decayStart, numDecaySteps: decaySteps }) : null;

  const logPath = getString(f, "log");
  const logFd = logPath === undefined ? null : openSync(logPath, "w");
  const log = (o: object): void => {
    if (logFd !== null) writeSync(logFd, `${JSON.stringify(o)}\n`);
  };
  io.stderr.write(
    `dlrm train: ${data.train.n} samples, ${config.table_sizes.length} tables, ${steps} steps of ${batchSize}, ${optimizerName} lr ${lr}` +
      `${Object.entries(data.notes).map(([k, v]) => `, ${k} ${v}`).join("")}\n`,
  );
  try {
    const result = train({
      model,
      optimizer,
      scheduler,
      data: data.train,
      evalData: data.eval,
      batchSize,
      steps,
      shuffle: !getBool(f, "no-shuffle"),
      seed,
      testFreq: getNumber(f, "test-freq") ?? 0,
      progress: new Progress({ out: io.stderr, every: positiveInt("train", f, "print-freq", 100), label: "train" }),
      onStep: (r) => log({ step: r.step, loss: r.loss, lr: r.lr }),
      onEval: (r) => {
        const line = { event: "eval", step: r.step, auc: r.auc, logloss: r.logloss, accuracy: r.accuracy, n: r.n, ...data.notes };
        log(line);
        if (r.step !== steps) io.stdout.write(`${JSON.stringify(line)}\n`);
      },
    });
    const save = getString(f, "save");
    if (save !== undefined) saveCheckpoint(save, model, { steps: String(steps) });
    const tail = result.losses.slice(-100);
    const trainLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
    const final = result.eval
      ? { event: "eval", step: result.eval.step, auc: result.eval.auc, logloss: result.eval.logloss, accuracy: result.eval.accuracy, n: result.eval.n, train_loss: trainLoss, ...data.notes }
      : { event: "done", step: steps, train_loss: trainLoss };
    io.stdout.write(`${JSON.stringify(final)}\n`);
  } finally {
    if (logFd !== null) closeSync(logFd);
  }
  return 0;
}

function makeOptimizer(name: string, model: DLRM, lr: number): Optimizer {
  const params = model.parameters();
  if (name === "adagrad") return new Adagrad(params, { lr });
  if (name === "rowwise-adagrad") return new RowWiseAdagrad(params, { lr });
  return new SGD(params, { lr });
}

function runPredict(argv: readonly string[], io: Io): number {
  const f = parseFlags("predict", argv, PREDICT_FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(helpText("Usage: dlrm predict --checkpoint <ckpt> --data <batches> --out <preds> [flags]", "Write the click probabilities of every sample, in data order, as `pred` F32 [N].", PREDICT_FLAGS));
    return 0;
  }
  const required = (name: string): string => {
    const v = getString(f, name);
    if (v === undefined) throw new UsageError(`predict: --${name} is required`);
    return v;
  };
  const checkpoint = required("checkpoint");
  const dataPath = required("data");
  const out = required("out");
  const config = loadConfig(getString(f, "model"));
  const model = new DLRM(config, new Rng(0));
  loadCheckpoint(checkpoint, model);
  const data = readBatchFile(dataPath);
  checkDataset(data, config, dataPath);
  const pred = predict(model, data, positiveInt("predict", f, "batch-size", 4096));
  writeSafetensors(out, { pred: { dtype: "F32", shape: [pred.length], data: pred } });
  io.stderr.write(`dlrm predict: wrote ${pred.length} predictions to ${out}\n`);
  return 0;
}

// Run when executed directly (npm run dlrm, npm start); bin/dlrm.js imports main instead.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
