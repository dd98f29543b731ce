// The `dlrm` command: preprocess data, train and predict with DLRM from the command line.
//
//   dlrm train      [--model config.json] [--data file|random|synthetic|criteo:…|movielens:…|synthetic-trace:…] ...
//   dlrm predict    --model config.json --checkpoint ckpt.safetensors --data batches --out preds.safetensors
//   dlrm preprocess criteo <file...> --out batches.safetensors [--max-ind-range R] [--dictionary dict]
//
// Results go to stdout (the last line of `train` is a JSON object); progress goes to
// stderr. Exit codes: 0 success, 1 an error in the inputs or the run, 2 a usage error.

import { closeSync, openSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { getBool, getNumber, getString, helpText, nonNegativeInt, oneOf, parseFlags, positiveInt, UsageError, type FlagSpecs } from "./args.ts";
import { checkTableSizes, finishData, loadSourceData, parseDataSpec, type DataRequest } from "./data_source.ts";
import { readSafetensorsMetadata } from "./metadata.ts";
import { runPreprocess } from "./preprocess.ts";
import { readBatchFile } from "../data/batch_file.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import { loadCheckpoint, saveCheckpoint } from "../dlrm/checkpoint.ts";
import { parseConfig, readConfig, type DLRMConfig } from "../dlrm/config.ts";
import { criteoModel, movielensModel } from "../dlrm/dataset_configs.ts";
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
import { averagePredictions, memberPath, memberSeed } from "../train/ensemble.ts";
import { computeMetrics } from "../train/metrics.ts";
import { batchesPerEpoch, predict, train, type TrainOptions, type TrainResult } from "../train/trainer.ts";
import { trainHybrid } from "../parallel/hybrid.ts";
import { formatShardingPlan, lookupsPerSampleOf, shardingPlan, type ShardingPlan } from "../parallel/plan.ts";

export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

const OPTIMIZERS = ["sgd", "adagrad", "rowwise-adagrad"] as const;

const TRAIN_FLAGS: FlagSpecs = {
  model: { type: "string", placeholder: "config.json", help: "model config (JSON, fields as ../shared/golden/README.md); default: the built-in model for the data, sized from it" },
  data: {
    type: "string",
    placeholder: "spec",
    help: "training data (default synthetic): a batch file (.safetensors); random; synthetic; criteo:<file>[,<file>...] (raw Criteo logs); movielens:<dir> (with --split); synthetic-trace:<profile> (ids from a reuse-distance profile, {t} = table number)",
  },
  "eval-data": { type: "string", placeholder: "spec", help: "evaluation data, in the forms of --data; default: Criteo's test split, MovieLens's <split>.test, synthetic's held-out split" },
  split: { type: "string", placeholder: "name", help: "MovieLens split: train on <name>.base, evaluate on <name>.test (default u1; u1 … u5 are rebuilt from u.data when absent)" },
  "max-ind-range": { type: "int", help: "Criteo: take each categorical value modulo R before numbering (default: no modulo)" },
  "data-sub-sample-rate": { type: "number", help: "Criteo: drop each negative training sample with this probability (default 0)" },
  "on-bad-line": { type: "string", placeholder: "error|skip", help: "Criteo: a malformed line is an error naming file:line (default), or is skipped and counted" },
  init: { type: "string", placeholder: "ckpt.safetensors", help: "start from these parameters (reference state_dict names)" },
  save: { type: "string", placeholder: "ckpt.safetensors", help: "write the trained parameters here (atomically); an ensemble's members go to <name>.member<k>.safetensors" },
  ensemble: { type: "int", help: "train K models from seeds seed … seed+K-1 and evaluate their averaged probabilities (default 1, or the built-in model's)" },
  steps: { type: "int", help: "optimizer steps (default: the config's steps, or --epochs)" },
  epochs: { type: "int", help: "passes over the data (instead of --steps)" },
  "batch-size": { type: "int", help: "samples per step (default: the config's batch_size)" },
  lr: { type: "number", help: "learning rate (default: the config's lr)" },
  optimizer: { type: "string", placeholder: "sgd|adagrad|rowwise-adagrad", help: "optimizer (default: the config's optimizer)" },
  "adagrad-initial-accumulator": {
    type: "number",
    help: "adagrad: starting value of every accumulator (PyTorch's initial_accumulator_value; default 0, or the built-in model's)",
  },
  "lr-num-warmup-steps": { type: "int", help: "linear warm-up steps of the learning rate (default 0)" },
  "lr-decay-start-step": { type: "int", help: "step where the polynomial decay starts (default 0)" },
  "lr-num-decay-steps": { type: "int", help: "steps of polynomial decay (default 0: no decay)" },
  "no-shuffle": { type: "bool", help: "batch s is samples [s·B, (s+1)·B) of the data, in file order" },
  seed: { type: "int", help: "seed of initialisation, shuffling and generated data (default 123)" },
  log: { type: "string", placeholder: "file.jsonl", help: "one JSON object per step (step, loss, lr), then the eval" },
  "data-size": { type: "int", help: "samples to generate for random/synthetic/synthetic-trace data (default: steps × batch, at least 50000 for synthetic)" },
  "num-indices-per-lookup": { type: "int", help: "random/synthetic-trace data: lookups per bag, or the maximum (default 10)" },
  "num-indices-per-lookup-fixed": { type: "bool", help: "random/synthetic-trace data: every bag has exactly --num-indices-per-lookup lookups" },
  "test-freq": { type: "int", help: "also evaluate every N steps, printing a JSON eval line each time (default: only at the end)" },
  "print-freq": { type: "int", help: "when stderr is not a terminal, a progress line every N steps (default 100)" },
  workers: { type: "int", help: "worker threads: 1 trains on this thread; N > 1 splits the tables over N ranks and the batch over their MLP replicas (default: the number of cores)" },
  "print-sharding-plan": { type: "bool", help: "print which rank holds which table (rows) before training" },
  help: { type: "bool", help: "show this help" },
};

const PREDICT_FLAGS: FlagSpecs = {
  model: { type: "string", placeholder: "config.json", help: "model config (JSON); default: the one the checkpoint records (dlrm train --save), else the built-in model" },
  checkpoint: { type: "string", placeholder: "ckpt.safetensors", help: "parameters to predict with (required); several, comma-separated (an ensemble's members), average their probabilities" },
  data: { type: "string", placeholder: "batches.safetensors", help: "samples to score (required)" },
  out: { type: "string", placeholder: "preds.safetensors", help: "where to write `pred` F32 [N], in data order (required)" },
  "batch-size": { type: "int", help: "samples per forward pass (default 4096)" },
  help: { type: "bool", help: "show this help" },
};

const USAGE = `dlrm: train and run the Deep Learning Recommendation Model

Usage:
  dlrm train [flags]                   train a model (dlrm train --help)
  dlrm predict [flags]                 write click probabilities for a batch file (dlrm predict --help)
  dlrm preprocess criteo <file...>     raw Criteo logs to a batch file and its dictionary (dlrm preprocess --help)
`;

export async function main(argv: readonly string[], io: Io = process): Promise<number> {
  const [verb, ...rest] = argv;
  try {
    if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
      io.stdout.write(USAGE);
      return verb === undefined ? 2 : 0;
    }
    if (verb === "train") return await runTrain(rest, io);
    if (verb === "predict") return runPredict(rest, io);
    if (verb === "preprocess") return await runPreprocess(rest, io);
    throw new UsageError(`unknown verb "${verb}" (expected train, predict or preprocess; see dlrm --help)`);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    io.stderr.write(`dlrm: ${err.message.split("\n")[0]}\n`);
    if (process.env.DLRM_DEBUG) io.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

/** --model, else the config a `dlrm train --save` checkpoint records, else the built-in default. */
function predictConfig(path: string | undefined, checkpoint: string): DLRMConfig {
  if (path !== undefined) return readConfig(path);
  const recorded = readSafetensorsMetadata(checkpoint)["dlrm_config"];
  if (recorded === undefined) return defaultConfig();
  let json: unknown;
  try {
    json = JSON.parse(recorded);
  } catch {
    throw new UsageError(`predict: ${checkpoint}: its dlrm_config metadata is not JSON; give --model`);
  }
  return parseConfig(json, `${checkpoint} (dlrm_config metadata)`);
}

async function runTrain(argv: readonly string[], io: Io): Promise<number> {
  const f = parseFlags("train", argv, TRAIN_FLAGS);
  if (getBool(f, "help")) {
    io.stdout.write(helpText("Usage: dlrm train [flags]", "Train a DLRM; the last line printed is a JSON object with the final metrics.", TRAIN_FLAGS));
    return 0;
  }
  const workers = positiveInt("train", f, "workers", availableParallelism());
  const seed = getNumber(f, "seed") ?? 123;
  if (f.has("steps") && f.has("epochs")) throw new UsageError("train: give --steps or --epochs, not both");
  const stepsFlag = f.has("steps") ? positiveInt("train", f, "steps", 1) : undefined;
  const epochsFlag = f.has("epochs") ? positiveInt("train", f, "epochs", 1) : undefined;
  const subSampleRate = getNumber(f, "data-sub-sample-rate") ?? 0;
  if (!(subSampleRate >= 0 && subSampleRate <= 1)) throw new UsageError(`train: --data-sub-sample-rate must be in [0, 1], got ${subSampleRate}`);
  // Flag values are checked before any data is read (reading a Criteo file takes minutes).
  const optimizerFlag = f.has("optimizer") ? oneOf("train", f, "optimizer", OPTIMIZERS, "sgd") : undefined;
  const lrFlag = getNumber(f, "lr");
  if (lrFlag !== undefined && !(lrFlag > 0)) throw new UsageError(`train: --lr must be positive, got ${lrFlag}`);
  const accFlag = getNumber(f, "adagrad-initial-accumulator");
  if (accFlag !== undefined && !(accFlag >= 0)) throw new UsageError(`train: --adagrad-initial-accumulator must be >= 0, got ${accFlag}`);
  if (f.has("batch-size")) positiveInt("train", f, "batch-size", 1);
  const printFreq = positiveInt("train", f, "print-freq", 100);
  const testFreq = nonNegativeInt("train", f, "test-freq") ?? 0;
  const evalText = getString(f, "eval-data");
  const request: DataRequest = {
    train: parseDataSpec("train", "--data", getString(f, "data") ?? "synthetic"),
    eval: evalText === undefined ? null : parseDataSpec("train", "--eval-data", evalText),
    split: getString(f, "split") ?? null,
    maxIndRange: nonNegativeInt("train", f, "max-ind-range"),
    onBadLine: oneOf("train", f, "on-bad-line", ["error", "skip"] as const, "error"),
    subSampleRate,
    seed,
    numIndicesPerLookup: getNumber(f, "num-indices-per-lookup") ?? 10,
    numIndicesPerLookupFixed: getBool(f, "num-indices-per-lookup-fixed"),
    progress: io.stderr,
  };

  // Real data first: it defines the tables of the built-in model, or checks those of --model.
  const source = await loadSourceData(request);
  if (source !== null && f.has("data-size")) throw new UsageError(`train: --data-size applies to generated data, not to ${request.train.text}`);
  const modelPath = getString(f, "model");
  let config: DLRMConfig;
  let builtinEpochs: number | undefined;
  let builtinAccumulator = 0;
  let builtinEnsemble = 1;
  let tableDecay: readonly number[] | null = null;
  if (modelPath !== undefined) {
    config = readConfig(modelPath);
    if (source !== null) checkTableSizes(config, modelPath, source, request.train.text);
  } else if (source?.family === "movielens" || source?.family === "criteo") {
    const sizes = source.tableSizes as number[];
    const builtin = source.family === "movielens" ? movielensModel(sizes, source.train.denseFeatures) : criteoModel(sizes, source.train.denseFeatures);
    config = builtin.config;
    builtinEpochs = builtin.epochs;
    builtinAccumulator = builtin.adagradInitialAccumulator;
    builtinEnsemble = builtin.ensemble;
    tableDecay = builtin.tableWeightDecay;
  } else {
    config = defaultConfig();
  }

  const batchSize = positiveInt("train", f, "batch-size", config.batch_size);
  const members = positiveInt("train", f, "ensemble", builtinEnsemble);
  const lr = lrFlag ?? config.lr;
  const optimizerName = optimizerFlag ?? config.optimizer;
  if (accFlag !== undefined && optimizerName !== "adagrad") {
    throw new UsageError(`train: --adagrad-initial-accumulator goes with the adagrad optimizer, not ${optimizerName}`);
  }
  const initialAccumulator = accFlag ?? builtinAccumulator;
  const plannedSteps = stepsFlag ?? config.steps;
  const generated = request.train.kind === "synthetic" ? Math.max(50000, plannedSteps * batchSize) : plannedSteps * batchSize;
  const dataSize = positiveInt("train", f, "data-size", generated);
  const data = await finishData(request, source, config, dataSize);
  const epochs = epochsFlag ?? (stepsFlag === undefined ? builtinEpochs : undefined);
  const steps = epochs !== undefined ? epochs * batchesPerEpoch(data.train.n, batchSize) : plannedSteps;

  const init = getString(f, "init");
  const warmup = getNumber(f, "lr-num-warmup-steps") ?? 0;
  const decayStart = getNumber(f, "lr-decay-start-step") ?? 0;
  const decaySteps = getNumber(f, "lr-num-decay-steps") ?? 0;

  const plan = workers === 1 && !getBool(f, "print-sharding-plan") ? null : shardingPlan({ ranks: workers, embeddingDim: config.embedding_dim, tableSizes: config.table_sizes, lookupsPerSample: lookupsPerSampleOf(data.train) });
  if (plan !== null && getBool(f, "print-sharding-plan")) io.stdout.write(`${formatShardingPlan(plan)}\n`);

  const logPath = getString(f, "log");
  const logFd = logPath === undefined ? null : openSync(logPath, "w");
  const log = (o: object): void => {
    if (logFd !== null) writeSync(logFd, `${JSON.stringify(o)}\n`);
  };
  io.stderr.write(
    `dlrm train: ${data.train.n} samples, ${config.table_sizes.length} tables, ${steps} steps of ${batchSize}, ${optimizerName} lr ${lr}, ${workers} worker${workers === 1 ? "" : "s"}` +
      `${optimizerName === "adagrad" && initialAccumulator > 0 ? ` (initial accumulator ${initialAccumulator})` : ""}` +
      `${tableDecay === null ? "" : optimizerName === "adagrad" ? `, table weight decay [${tableDecay.join(", ")}]` : ", no table weight decay (the built-in model's goes with adagrad)"}` +
      `${members > 1 ? `, an ensemble of ${members} models` : ""}` +
      `${Object.entries(data.notes).map(([k, v]) => `, ${k} ${v}`).join("")}\n`,
  );
  try {
    const save = getString(f, "save");
    const memberPreds: Float32Array[] = []; // (N_eval,) per member, for the ensemble's metrics
    const trainLosses: number[] = [];
    let single: TrainResult | null = null;
    for (let k = 0; k < members; k++) {
      // One member: its own seed for initialisation and shuffling; a single model is member 0.
      const mSeed = memberSeed(seed, k);
      const memberNote = members > 1 ? { member: k } : {};
      const model = new DLRM(config, new Rng(mSeed));
      if (init !== undefined) loadCheckpoint(init, model);
      const optimizer = makeOptimizer(optimizerName, model, lr, initialAccumulator, tableDecay);
      const scheduler = warmup > 0 || decaySteps > 0 ? new LRPolicyScheduler(optimizer, { warmupSteps: warmup, decayStartStep: decayStart, numDecaySteps: decaySteps }) : null;
      const options: TrainOptions = {
        model,
        optimizer,
        scheduler,
        data: data.train,
        evalData: data.eval,
        batchSize,
        steps,
        shuffle: !getBool(f, "no-shuffle"),
        seed: mSeed,
        testFreq,
        progress: new Progress({ out: io.stderr, every: printFreq, label: members > 1 ? `train ${k + 1}/${members}` : "train" }),
        onStep: (r) => log({ step: r.step, loss: r.loss, lr: r.lr, t_ms: performance.now(), ...memberNote }),
        onEval: (r) => {
          const line = { event: "eval", step: r.step, auc: r.auc, logloss: r.logloss, accuracy: r.accuracy, n: r.n, ...memberNote, ...data.notes };
          log(line);
          // A single model's final evaluation is the last line, below; an ensemble member's
          // final one is printed here, and the ensemble's below it.
          if (r.step !== steps || members > 1) io.stdout.write(`${JSON.stringify(line)}\n`);
        },
      };
      const result = workers === 1 ? train(options) : await trainHybrid({ ...options, workers, plan: plan as ShardingPlan });
      if (save !== undefined) saveCheckpoint(memberPath(save, k, members), model, { steps: String(steps), seed: String(mSeed), dlrm_config: JSON.stringify(config) });
      const tail = result.losses.slice(-100);
      trainLosses.push(tail.reduce((a, b) => a + b, 0) / tail.length);
      if (members === 1) single = result;
      else if (data.eval !== null) memberPreds.push(predict(model, data.eval, Math.max(batchSize, 4096)));
    }
    const trainLoss = trainLosses.reduce((a, b) => a + b, 0) / trainLosses.length; // mean over members
    const ensembleNote = members > 1 ? { ensemble: members } : {};
    let final: object;
    if (data.eval !== null) {
      const m = single !== null && single.eval !== null ? single.eval : { step: steps, ...computeMetrics(averagePredictions(memberPreds), data.eval.labels) };
      final = { event: "eval", step: m.step, auc: m.auc, logloss: m.logloss, accuracy: m.accuracy, n: m.n, train_loss: trainLoss, ...ensembleNote, ...data.notes };
      if (members > 1) log(final);
    } else {
      final = { event: "done", step: steps, train_loss: trainLoss, ...ensembleNote };
    }
    io.stdout.write(`${JSON.stringify(final)}\n`);
  } finally {
    if (logFd !== null) closeSync(logFd);
  }
  return 0;
}

/** The optimizer; with adagrad, tableDecay (one value per table, or null) is its weight decay on the tables. */
function makeOptimizer(name: (typeof OPTIMIZERS)[number], model: DLRM, lr: number, initialAccumulator: number, tableDecay: readonly number[] | null): Optimizer {
  const params = model.parameters();
  if (name === "adagrad") {
    const tables = model.emb_l.tables.map((t) => t.weight);
    const weightDecay = params.map((p) => (tableDecay === null ? 0 : (tableDecay[tables.indexOf(p)] ?? 0)));
    return new Adagrad(params, { lr, initialAccumulator, weightDecay });
  }
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
  const checkpoints = required("checkpoint").split(",");
  if (checkpoints.some((c) => c === "")) throw new UsageError(`predict: --checkpoint has an empty name in "${required("checkpoint")}"`);
  const dataPath = required("data");
  const out = required("out");
  const batchSize = positiveInt("predict", f, "batch-size", 4096);
  const data = readBatchFile(dataPath);
  const preds = checkpoints.map((checkpoint) => {
    const config = predictConfig(getString(f, "model"), checkpoint);
    const model = new DLRM(config, new Rng(0));
    loadCheckpoint(checkpoint, model);
    checkDataset(data, config, dataPath);
    return predict(model, data, batchSize);
  });
  const pred = preds.length === 1 ? (preds[0] as Float32Array) : averagePredictions(preds);
  writeSafetensors(out, { pred: { dtype: "F32", shape: [pred.length], data: pred } });
  io.stderr.write(`dlrm predict: wrote ${pred.length} predictions to ${out}${preds.length > 1 ? ` (the mean of ${preds.length} models)` : ""}\n`);
  return 0;
}

// Run when executed directly (npm run dlrm, npm start); bin/dlrm.js imports main instead.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
