// dlrm train: read the flags, load the data, pick the model and its optimizer, build the
// executor (this thread, or N ranks that own the tables), run the one training loop
// (src/train/trainer.ts), save, and print the final metrics as the last line.
//
// A run is resumable: its checkpoint records the flags that define it (the run flags below),
// its optimizer state and where it stands (src/dlrm/checkpoint.ts). `--resume ckpt` takes
// those flags as its defaults; a run flag given again must say the same, since a different
// value would make a different run.

import { closeSync, openSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import {
  getBool,
  getNumber,
  getString,
  helpText,
  nonNegativeInt,
  oneOf,
  parseFlags,
  positiveInt,
  UsageError,
  workerCount,
  type FlagSpecs,
  type ParsedFlags,
} from "./args.ts";
import {
  checkTableSizes,
  dataSpecFiles,
  finishData,
  loadSourceData,
  parseDataSpec,
  type DataRequest,
  type LoadedData,
} from "../data/sources/registry.ts";
import { nodeDataFiles } from "./node_files.ts";
import { onInterrupt } from "./interrupt.ts";
import { ReadProgress } from "./read_progress.ts";
import { runName, writePlot } from "./plot.ts";
import { checkOutputs, type NamedPath } from "./paths.ts";
import { loadCheckpoint, openCheckpoint, readRunState, type RunState } from "../dlrm/checkpoint.ts";
import { checkpointFormat, readCheckpointIndex, readCheckpointMetadata } from "../interop/checkpoint_file.ts";
import { ptFormat } from "../interop/torch/checkpoint_pt.ts";
import { parseConfig, type DLRMConfig } from "../dlrm/config.ts";
import { readConfig } from "../dlrm/config_file.ts";
import { defaultConfig } from "../dlrm/defaults.ts";
import { checkpointConfig } from "../dlrm/infer_config.ts";
import type { DLRM } from "../dlrm/model.ts";
import type { SaveDType } from "../io/dtype.ts";
import { OPTIMIZERS, specAtStep, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { LRPolicyOptions } from "../optim/schedule.ts";
import { formatShardingPlan, type ShardingPlan } from "../parallel/plan.ts";
import { averagePredictions, memberPath, memberSeed } from "../train/ensemble.ts";
import type { Executor } from "../train/executor.ts";
import { computeMetrics, undefinedMetricsNote, type Metrics } from "../metrics/metrics.ts";
import { Progress } from "../train/progress.ts";
import { batchesPerEpoch, SATURATED_LOSS, train, type TrainResult } from "../train/trainer.ts";
import { predictAll } from "../train/batch_feed.ts";
import { isBatchSource } from "../data/batch_source.ts";
import { closeRunData, samplesOf, type RunData } from "../data/sources/run_data.ts";
import {
  dataModel,
  evalBatchSize,
  openExecutor,
  runCheckpointMetadata,
  runOptimizer,
  runShardingPlan,
  trailingLoss,
} from "../run/recipe.ts";
import type { Io } from "./args.ts";
import { TABLE_TRICK_FLAG_NAMES, TABLE_TRICK_FLAGS, withTableTricks } from "./table_tricks.ts";
import { TRAIN_HELP_GROUPS } from "./train_help.ts";
import { INTERACTION_FLAG_NAMES, INTERACTION_FLAGS, withInteraction } from "./interaction_flags.ts";
import { reportTableStore, startDiskExecutor, TABLE_STORE_FLAGS, tableStoreOptions } from "./table_store.ts";
import type { TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import { smallEvalWarning } from "./eval_size.ts";

export const TRAIN_FLAGS: FlagSpecs = {
  model: {
    type: "string",
    placeholder: "config.json",
    help: "model config (JSON; its fields: docs/config.md); default: the built-in model for the data, sized from it",
  },
  data: {
    type: "string",
    placeholder: "spec",
    help: "training data (default synthetic): a batch file (.safetensors; from dlrm preprocess csv: with its model and evaluation rows); an MLPerf .bin; random; synthetic; criteo:<file>[,<file>...] (raw Criteo logs); movielens:<dir> (with --split); torchrec-npy:<dir> (TorchRec's day_N_*.npy); synthetic-trace:<profile> (ids from a reuse-distance profile, {t} = table number)",
  },
  "eval-data": {
    type: "string",
    placeholder: "spec",
    help: "evaluation data, in the forms of --data; default: Criteo's test split, MovieLens's <split>.test, synthetic's held-out split",
  },
  split: {
    type: "string",
    placeholder: "name",
    help: "MovieLens split: train on <name>.base, evaluate on <name>.test (default u1; u1 … u5 are rebuilt from u.data when absent)",
  },
  "max-ind-range": {
    type: "int",
    help: "Criteo: take each categorical value modulo R before numbering (default: no modulo)",
  },
  "data-sub-sample-rate": {
    type: "number",
    help: "Criteo: drop each negative line with this probability while reading, before numbering, in every day (the reference's; default 0)",
  },
  "on-bad-line": {
    type: "string",
    placeholder: "error|skip",
    help: "Criteo: a malformed line is an error naming file:line (default), or is skipped and counted",
  },
  init: {
    type: "string",
    placeholder: "ckpt.safetensors|.pt",
    help: "start from these parameters (reference state_dict names; .pt: a torch.save file, such as the reference's --save-model); without --model, on generated data, its model (recorded, else read from its shapes)",
  },
  resume: {
    type: "string",
    placeholder: "ckpt.safetensors",
    help: "continue the run saved in this checkpoint (parameters, optimizer state, step, data position) to --steps; its flags are the defaults",
  },
  save: {
    type: "string",
    placeholder: "ckpt.safetensors",
    help: "write the parameters, optimizer state and run position here at the end (atomically), also when interrupted (.pt/.pth: the reference's --save-model dict, which its --load-model reads; else safetensors); an ensemble's members go to <name>.member<k>.<ext>",
  },
  "save-dtype": {
    type: "string",
    placeholder: "f32|f16|bf16",
    help: "dtype of the saved parameters (default f32); f16/bf16 round to nearest, ties to even, and halve the file; optimizer state stays f32",
  },
  ensemble: {
    type: "int",
    help: "train K models from seeds seed … seed+K-1 and evaluate their averaged probabilities (default 1, or the built-in model's)",
  },
  steps: {
    type: "int",
    help: "train until this many optimizer steps are done; 0 with --save writes the initial model (default: the config's steps, or --epochs)",
  },
  epochs: { type: "int", help: "passes over the data (instead of --steps)" },
  "batch-size": { type: "int", help: "samples per step (default: the config's batch_size)" },
  lr: { type: "number", help: "learning rate (default: the config's lr)" },
  optimizer: {
    type: "string",
    placeholder: "sgd|adagrad|rowwise-adagrad|adam",
    help: "optimizer (default: the config's optimizer). adam: torch.optim.Adam for the MLPs (betas 0.9, 0.999, eps 1e-8) and TorchRec's row-wise Adam for the tables (a second moment per row; docs/ops.md)",
  },
  "adagrad-initial-accumulator": {
    type: "number",
    help: "adagrad: starting value of every accumulator (PyTorch's initial_accumulator_value; default 0, or the built-in model's)",
  },
  "lr-num-warmup-steps": { type: "int", help: "linear warm-up steps of the learning rate (default 0)" },
  "lr-decay-start-step": { type: "int", help: "step where the polynomial decay starts (default 0)" },
  "lr-num-decay-steps": { type: "int", help: "steps of polynomial decay (default 0: no decay)" },
  "no-shuffle": { type: "bool", help: "batch s is samples [s·B, (s+1)·B) of the data, in file order" },
  seed: { type: "seed", help: "seed of initialisation, shuffling and generated data (default 123)" },
  log: {
    type: "string",
    placeholder: "file.jsonl",
    help: "one JSON object per step (step, loss, lr, t_ms), then the eval",
  },
  plot: {
    type: "string",
    placeholder: "curves.svg",
    help: "at the end, draw the run's loss and eval curves (those --log lines) as SVG, as dlrm plot does",
  },
  "data-size": {
    type: "int",
    help: "random/synthetic/synthetic-trace data: a finite set of N samples, made at once (default: endless, made batch by batch)",
  },
  "num-indices-per-lookup": {
    type: "int",
    help: "random/synthetic-trace data: lookups per bag, or the maximum (default 10)",
  },
  "num-indices-per-lookup-fixed": {
    type: "bool",
    help: "random/synthetic-trace data: every bag has exactly --num-indices-per-lookup lookups",
  },
  "test-freq": {
    type: "int",
    help: "also evaluate every N steps, printing a JSON eval line each time (default: only at the end)",
  },
  "print-freq": { type: "int", help: "when stderr is not a terminal, a progress line every N steps (default 100)" },
  workers: {
    type: "int",
    help: "worker threads: 1 trains on this thread; N > 1 splits the tables over N ranks and the batch over their MLP replicas (default: the number of cores)",
  },
  "print-sharding-plan": { type: "bool", help: "print which rank holds which table (rows) before training" },
  ...INTERACTION_FLAGS,
  ...TABLE_STORE_FLAGS,
  ...TABLE_TRICK_FLAGS,
  help: { type: "bool", help: "show this help" },
};

/** Flags that define a run: recorded in its checkpoints; --resume takes them from there and refuses different ones. */
const RUN_FLAGS = [
  "model",
  "data",
  "split",
  "max-ind-range",
  "data-sub-sample-rate",
  "on-bad-line",
  "ensemble",
  "batch-size",
  "lr",
  "optimizer",
  "adagrad-initial-accumulator",
  "lr-num-warmup-steps",
  "lr-decay-start-step",
  "lr-num-decay-steps",
  "no-shuffle",
  "seed",
  "data-size",
  "num-indices-per-lookup",
  "num-indices-per-lookup-fixed",
  ...INTERACTION_FLAG_NAMES,
  ...TABLE_TRICK_FLAG_NAMES,
] as const;

/** Flags a resumed run takes from its checkpoint unless given again (they do not change the training). */
const RESUME_DEFAULT_FLAGS = ["eval-data", "test-freq", "save-dtype"] as const;

type FlagValues = Record<string, string | number | boolean>;

/** A run to continue: its checkpoint, its state, and the flags it was started with. */
interface Resume {
  path: string;
  run: RunState;
  config: DLRMConfig;
}

/** The flags of a resumed run: the recorded ones as defaults; a run flag given with another value is an error. */
function resumeFlags(f: ParsedFlags, path: string): { flags: ParsedFlags; resume: Resume } {
  const metadata = readCheckpointMetadata(path);
  const run = readRunState(path, metadata);
  if (run === null)
    throw new UsageError(
      `train: --resume ${path}: the file records no run (no dlrm_run metadata): it is a model, not a run; start from it with --init`,
    );
  const configText = metadata["dlrm_config"];
  if (configText === undefined) throw new UsageError(`train: --resume ${path}: the file records no dlrm_config`);
  const config = parseConfig(JSON.parse(configText) as unknown, `${path} (dlrm_config metadata)`);
  if (f.has("init"))
    throw new UsageError("train: --resume continues a run from its own parameters; --init does not go with it");
  const merged: ParsedFlags = new Map(f);
  for (const name of RUN_FLAGS) {
    const recorded = run.flags[name];
    const given = f.get(name);
    if (given !== undefined && given !== recorded) {
      throw new UsageError(
        `train: --${name} ${String(given)} differs from the run being resumed (${recorded === undefined ? "not given" : `--${name} ${String(recorded)}`}, ${path}); leave it out to continue that run`,
      );
    }
    if (recorded !== undefined) merged.set(name, recorded);
  }
  for (const name of RESUME_DEFAULT_FLAGS) {
    const recorded = run.flags[name];
    if (!f.has(name) && recorded !== undefined) merged.set(name, recorded);
  }
  if (!f.has("steps") && !f.has("epochs")) merged.set("steps", run.plannedSteps);
  return { flags: merged, resume: { path, run, config } };
}

/** Everything a run needs, resolved from the flags and the data. */
interface RunPlan {
  config: DLRMConfig;
  data: LoadedData;
  spec: OptimizerSpec;
  schedule: LRPolicyOptions | null;
  batchSize: number;
  steps: number;
  shuffle: boolean;
  seed: number;
  members: number;
  workers: number;
  plan: ShardingPlan | null;
  /** The tables' files and cache (--table-dir), or null: in memory. */
  store: TableStoreOptions | null;
  /** The run flags to record in checkpoints. */
  runFlags: FlagValues;
  notes: string;
}

/** Resolves a run; the data it opens goes into `opened` as it is opened, for the caller to close
 *  if the run stops before it starts. */
async function planRun(f: ParsedFlags, io: Io, resume: Resume | null, opened: RunData[]): Promise<RunPlan> {
  const workers = workerCount("train", f, f.has("table-dir") ? 1 : availableParallelism());
  const store = tableStoreOptions(f);
  const seed = getNumber(f, "seed") ?? 123;
  if (f.has("steps") && f.has("epochs")) throw new UsageError("train: give --steps or --epochs, not both");
  const stepsFlag = f.has("steps") ? (nonNegativeInt("train", f, "steps") as number) : undefined;
  const epochsFlag = f.has("epochs") ? positiveInt("train", f, "epochs", 1) : undefined;
  const subSampleRate = getNumber(f, "data-sub-sample-rate") ?? 0;
  if (!(subSampleRate >= 0 && subSampleRate <= 1))
    throw new UsageError(`train: --data-sub-sample-rate must be in [0, 1], got ${subSampleRate}`);
  // Flag values are checked before any data is read (reading a Criteo file takes minutes).
  const optimizerFlag = f.has("optimizer") ? oneOf("train", f, "optimizer", OPTIMIZERS, "sgd") : undefined;
  const lrFlag = getNumber(f, "lr");
  if (lrFlag !== undefined && !(lrFlag > 0)) throw new UsageError(`train: --lr must be positive, got ${lrFlag}`);
  const accFlag = getNumber(f, "adagrad-initial-accumulator");
  if (accFlag !== undefined && !(accFlag >= 0))
    throw new UsageError(`train: --adagrad-initial-accumulator must be >= 0, got ${accFlag}`);
  if (f.has("batch-size")) positiveInt("train", f, "batch-size", 1);
  const evalText = getString(f, "eval-data");
  const request: DataRequest = {
    train: parseDataSpec("train", "--data", getString(f, "data") ?? "synthetic", nodeDataFiles),
    eval: evalText === undefined ? null : parseDataSpec("train", "--eval-data", evalText, nodeDataFiles),
    split: getString(f, "split") ?? null,
    maxIndRange: nonNegativeInt("train", f, "max-ind-range"),
    onBadLine: oneOf("train", f, "on-bad-line", ["error", "skip"] as const, "error"),
    subSampleRate,
    seed,
    numIndicesPerLookup: getNumber(f, "num-indices-per-lookup") ?? 10,
    numIndicesPerLookupFixed: getBool(f, "num-indices-per-lookup-fixed"),
    progress: (label) => new ReadProgress(io.stderr, label),
    files: nodeDataFiles,
  };

  // Real data first: it defines the tables of the built-in model, or checks those of --model.
  const source = await loadSourceData(request);
  if (source !== null) opened.push(source.train, ...(source.eval === null ? [] : [source.eval]));
  if (source !== null && f.has("data-size"))
    throw new UsageError(`train: --data-size applies to generated data, not to ${request.train.text}`);
  const modelPath = getString(f, "model");
  const builtin = modelPath === undefined ? dataModel(source) : null;
  let config: DLRMConfig;
  let builtinEpochs: number | undefined;
  let builtinAccumulator = 0;
  let builtinEnsemble = 1;
  let tableDecay: readonly number[] | null = null;
  if (modelPath !== undefined) {
    config = readConfig(modelPath);
    if (source !== null) checkTableSizes(config, modelPath, source, request.train.text);
  } else if (builtin !== null) {
    config = builtin.config;
    builtinEpochs = builtin.epochs;
    builtinAccumulator = builtin.adagradInitialAccumulator;
    builtinEnsemble = builtin.ensemble;
    tableDecay = builtin.tableWeightDecay;
  } else {
    // Generated data: the model of --init (recorded, else read from its shapes), else the built-in one.
    const init = getString(f, "init");
    config = init !== undefined ? checkpointConfig(readCheckpointIndex(init)) : defaultConfig();
  }
  config = withInteraction(withTableTricks(config, f), f);
  if (resume !== null && JSON.stringify(config) !== JSON.stringify(resume.config)) {
    throw new UsageError(
      `train: --resume ${resume.path}: the run's flags now give another model than the one it recorded (${JSON.stringify(resume.config).slice(0, 200)})`,
    );
  }

  const batchSize = positiveInt("train", f, "batch-size", config.batch_size);
  const members = positiveInt("train", f, "ensemble", builtinEnsemble);
  if (resume !== null && members > 1)
    throw new UsageError("train: --resume continues one model; resume an ensemble's members one by one");
  const lr = lrFlag ?? config.lr;
  const optimizerName = optimizerFlag ?? config.optimizer;
  if (accFlag !== undefined && optimizerName !== "adagrad") {
    throw new UsageError(`train: --adagrad-initial-accumulator goes with the adagrad optimizer, not ${optimizerName}`);
  }
  const initial = runOptimizer(config, optimizerName, lr, {
    initialAccumulator: accFlag ?? builtinAccumulator,
    tableWeightDecay: tableDecay,
  });
  const spec = resume === null ? initial : specAtStep(initial, resume.run.step); // Adam goes on counting its steps
  const plannedSteps = stepsFlag ?? config.steps;
  // Generated data is endless, made batch by batch, unless --data-size makes it a finite set.
  const dataSize = f.has("data-size") ? positiveInt("train", f, "data-size", 1) : null;
  const data = await finishData(request, source, config, dataSize);
  opened.push(data.train, ...(data.eval === null ? [] : [data.eval]));
  if (resume !== null && resume.run.orderRng !== null && isBatchSource(data.train)) {
    // A run saved while files were read whole, shuffled: its order is a permutation of the
    // whole file, which only the file in memory reproduces.
    const streamed = data.train;
    data.train = await streamed.batch(0, streamed.samplesPerEpoch);
    await streamed.close();
  }
  if (f.has("batch-size") && batchSize > samplesOf(data.train) && plannedSteps > 0)
    throw new UsageError(`train: --batch-size ${batchSize} is more than the ${samplesOf(data.train)} training samples`);
  const epochs = epochsFlag ?? (stepsFlag === undefined ? builtinEpochs : undefined);
  const perEpoch = samplesOf(data.train);
  if (epochs !== undefined && perEpoch === Infinity)
    throw new UsageError(
      `train: --epochs needs data of a finite size: ${request.train.text} is endless without --data-size N`,
    );
  const steps = epochs !== undefined ? epochs * batchesPerEpoch(perEpoch, batchSize) : plannedSteps;
  const warmup = nonNegativeInt("train", f, "lr-num-warmup-steps") ?? 0;
  const decaySteps = nonNegativeInt("train", f, "lr-num-decay-steps") ?? 0;
  const decayStart = nonNegativeInt("train", f, "lr-decay-start-step") ?? 0;
  const schedule =
    warmup > 0 || decaySteps > 0
      ? { warmupSteps: warmup, decayStartStep: decayStart, numDecaySteps: decaySteps }
      : null;

  const printPlan = getBool(f, "print-sharding-plan");
  const plan =
    workers === 1 && !printPlan
      ? null
      : await runShardingPlan(
          config,
          workers,
          data.train,
          store === null ? undefined : Number.MAX_SAFE_INTEGER, // on disk, not in a wasm memory
          store === null ? spec : undefined, // in memory, a row range lies in one memory with its optimizer state
        );

  const recorded = new Map(f);
  recorded.set("ensemble", 1); // each checkpoint is one member's run
  // in the order of the lists, whichever way a flag came (typed, resumed, derived): a resumed run writes the same bytes
  const runFlags: FlagValues = {};
  for (const name of [...RUN_FLAGS, ...RESUME_DEFAULT_FLAGS]) {
    const v = recorded.get(name);
    if (v !== undefined) runFlags[name] = v;
  }
  const notes =
    `${spec.kind === "adagrad" && spec.initialAccumulator > 0 ? ` (initial accumulator ${spec.initialAccumulator})` : ""}` +
    `${tableDecay === null ? "" : spec.kind === "adagrad" ? `, table weight decay [${tableDecay.join(", ")}]` : ", no table weight decay (the built-in model's goes with adagrad)"}` +
    `${members > 1 ? `, an ensemble of ${members} models` : ""}` +
    `${Object.entries(data.notes)
      .map(([k, v]) => `, ${k} ${v}`)
      .join("")}`;
  return {
    config,
    data,
    spec,
    schedule,
    batchSize,
    steps,
    shuffle: !getBool(f, "no-shuffle"),
    seed,
    members,
    workers,
    plan,
    store,
    runFlags,
    notes,
  };
}

/** The executor of one member: this thread's model, or ranks that make (or read) their own parameters. */
async function startExecutor(p: RunPlan, seed: number, init: string | null, resume: Resume | null): Promise<Executor> {
  // The file's tensors are checked against the model before the model's memory is allocated.
  const index =
    resume !== null
      ? openCheckpoint(resume.path, p.config, p.spec, checkpointFormat(resume.path))
      : init !== null
        ? openCheckpoint(init, p.config, null, checkpointFormat(init))
        : null;
  if (p.store !== null && p.workers === 1) {
    const source =
      index === null
        ? { kind: "seed" as const, seed }
        : { kind: "file" as const, index, withOptimizer: resume !== null };
    return startDiskExecutor(p.config, p.spec, source, p.store);
  }
  const checkpoint =
    resume !== null && index !== null
      ? {
          index,
          withOptimizer: true,
          load: (m: DLRM, o: Optimizer) => loadCheckpoint(resume.path, m, o, p.spec, checkpointFormat(resume.path)),
        }
      : init !== null && index !== null
        ? {
            index,
            withOptimizer: false,
            load: (m: DLRM) => loadCheckpoint(init, m, null, null, checkpointFormat(init)),
          }
        : null;
  return openExecutor({
    config: p.config,
    spec: p.spec,
    workers: p.workers,
    seed,
    checkpoint,
    data: p.data.eval === null ? [p.data.train] : [p.data.train, p.data.eval],
    maxBatch: evalBatchSize(p.batchSize),
    plan: p.plan,
    store: p.store,
  });
}

/** --save, --log and --plot can be written and overwrite no input (--save may replace --init or --resume: atomically, after reading). */
function checkTrainPaths(f: ParsedFlags): void {
  const named = (flag: string): NamedPath[] => {
    const path = getString(f, flag);
    return path === undefined ? [] : [{ flag: `--${flag}`, path }];
  };
  const dataFiles = (flag: string): NamedPath[] => {
    const text = getString(f, flag) ?? (flag === "data" ? "synthetic" : undefined);
    return text === undefined
      ? []
      : dataSpecFiles(parseDataSpec("train", `--${flag}`, text, nodeDataFiles), nodeDataFiles).map((path) => ({
          flag: `--${flag}`,
          path,
        }));
  };
  const inputs = [
    ...dataFiles("data"),
    ...dataFiles("eval-data"),
    ...named("init"),
    ...named("resume"),
    ...named("model"),
  ];
  checkOutputs(
    "train",
    [...named("save"), ...named("log").map((l) => ({ ...l, inPlace: true })), ...named("plot")],
    inputs,
    (out, input) => out.flag === "--save" && (input.flag === "--init" || input.flag === "--resume"),
  );
}

/** "N samples", or what endless generated data is. */
function samplesText(d: RunData): string {
  const n = samplesOf(d);
  return n === Infinity ? "endless generated samples (made batch by batch)" : `${n} samples`;
}

/** What a run writes, from the flags: progress cadence, evaluations, the checkpoint and its dtype. */
interface Outputs {
  printFreq: number;
  testFreq: number;
  save: string | null;
  saveDtype: SaveDType;
}

function outputFlags(given: ParsedFlags, f: ParsedFlags): Outputs {
  const save = getString(f, "save") ?? null;
  const saveDtype = oneOf("train", f, "save-dtype", ["f32", "f16", "bf16"] as const, "f32").toUpperCase() as SaveDType;
  if (given.has("save-dtype") && save === null) throw new UsageError("train: --save-dtype goes with --save");
  if (saveDtype !== "F32" && save !== null && checkpointFormat(save) === ptFormat) {
    throw new UsageError(
      `train: --save-dtype ${saveDtype.toLowerCase()} applies to .safetensors; a .pt checkpoint (${save}) is written in f32`,
    );
  }
  return {
    printFreq: positiveInt("train", f, "print-freq", 100),
    testFreq: nonNegativeInt("train", f, "test-freq") ?? 0,
    save,
    saveDtype,
  };
}

/** The --log JSON lines (written as they come) and, for --plot, kept to draw at the end. */
class RunLog {
  readonly #path: string | undefined;
  readonly #fd: number | null;
  readonly #plotPath: string | undefined;
  readonly #lines: string[] = [];

  constructor(f: ParsedFlags) {
    this.#path = getString(f, "log");
    this.#fd = this.#path === undefined ? null : openSync(this.#path, "w");
    this.#plotPath = getString(f, "plot");
  }

  write(o: object): void {
    if (this.#plotPath !== undefined) this.#lines.push(JSON.stringify(o));
    if (this.#fd === null) return;
    try {
      writeSync(this.#fd, `${JSON.stringify(o)}\n`);
    } catch (e) {
      throw new Error(`--log ${this.#path}: cannot write: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Draws the run's curves into --plot, when given. */
  plot(io: Io): void {
    if (this.#plotPath === undefined) return;
    const name = this.#path === undefined ? "train" : runName(this.#path);
    writePlot(this.#plotPath, [{ name, text: this.#lines.join("\n") }], io);
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
  }
}

/** What one member of a run (a single model is member 0) ends with. */
interface MemberOutcome {
  result: TrainResult;
  /** The mean loss of its last 100 steps (NaN without steps). */
  tailLoss: number;
  /** (N_eval,) its predictions on the evaluation data and their labels, for an ensemble's metrics; null for a single model. */
  preds: { preds: Float32Array; labels: Float32Array } | null;
}

/** Trains member k on its own executor, saves it (--save), and evaluates it for the ensemble. */
async function trainMember(
  p: RunPlan,
  k: number,
  o: Outputs,
  init: string | null,
  resume: Resume | null,
  log: RunLog,
  io: Io,
  shouldStop: () => boolean,
): Promise<MemberOutcome> {
  // Its own seed for initialisation and shuffling.
  const seed = resume !== null ? resume.run.seed : memberSeed(p.seed, k);
  const memberNote = p.members > 1 ? { member: k } : {};
  const executor = await startExecutor(p, seed, init, resume);
  try {
    const result = await train({
      executor,
      data: p.data.train,
      evalData: p.data.eval,
      batchSize: p.batchSize,
      steps: p.steps,
      shuffle: p.shuffle,
      seed,
      lr: p.spec.lr,
      schedule: p.schedule,
      start: resume === null ? null : { step: resume.run.step, orderRng: resume.run.orderRng },
      testFreq: o.testFreq,
      shouldStop,
      onSaturatedStart: (step, loss) => io.stderr.write(saturatedStartNote(p.config, step, loss)),
      progress: new Progress({
        out: io.stderr,
        every: o.printFreq,
        label: p.members > 1 ? `train ${k + 1}/${p.members}` : "train",
      }),
      onStep: (r) =>
        log.write({
          step: r.step,
          loss: r.loss,
          accuracy: r.accuracy,
          lr: r.lr,
          t_ms: Math.round(r.tMs * 1000) / 1000,
          ...memberNote,
        }),
      onEval: (r) => {
        const line = { event: "eval", ...evalFields(r) };
        const note = undefinedMetricsNote(r);
        if (note !== null && r.step === p.steps) io.stderr.write(`dlrm train: evaluation data: ${note}\n`);
        log.write({ ...line, ...memberNote, ...p.data.notes });
        // A single model's final evaluation is the last line (finalLine); an ensemble member's
        // final one is printed here, and the ensemble's after it.
        if (r.step !== p.steps || p.members > 1)
          io.stdout.write(`${JSON.stringify({ ...line, ...memberNote, ...p.data.notes })}\n`);
      },
    });
    const tailLoss = trailingLoss(result.losses);
    if (o.save !== null) await saveMember(p, k, o, seed, result, executor, io);
    await reportTableStore(executor, io);
    const preds =
      p.members > 1 && p.data.eval !== null && !result.interrupted
        ? await predictAll(executor, p.data.eval, evalBatchSize(p.batchSize))
        : null;
    return { result, tailLoss, preds };
  } finally {
    await executor.close();
  }
}

/** What a run that starts saturated is told (src/train/saturation.ts). */
function saturatedStartNote(config: DLRMConfig, step: number, loss: number): string {
  const why =
    config.qr !== undefined
      ? " (the reference initialises quotient-remainder tables in [√(1/n), 1], which saturates a small model)"
      : "";
  return `dlrm train: step ${step}: the loss is ${loss.toFixed(2)}, above ${SATURATED_LOSS}: the model's predictions start saturated at 0 or 1${why}; training goes on, as the reference's does, and stops as diverged only if the loss, once below ${SATURATED_LOSS}, rises above it again\n`;
}

/** Writes member k's checkpoint: its parameters, optimizer state and where the run stands. */
async function saveMember(
  p: RunPlan,
  k: number,
  o: Outputs,
  seed: number,
  result: TrainResult,
  executor: Executor,
  io: Io,
): Promise<void> {
  const run: RunState = {
    seed,
    step: result.position.step,
    plannedSteps: p.steps,
    orderRng: result.position.orderRng,
    batchSize: p.batchSize,
    shuffle: p.shuffle,
    optimizer: specAtStep(p.spec, result.position.step),
    schedule: p.schedule,
    interrupted: result.interrupted,
    flags: p.runFlags,
  };
  const path = memberPath(o.save as string, k, p.members);
  await executor.save(path, runCheckpointMetadata(p.config, run, result), o.saveDtype, checkpointFormat(path));
  if (result.interrupted)
    io.stderr.write(
      `dlrm train: saved the run at step ${result.position.step} to ${path}; continue it with --resume ${path}\n`,
    );
}

/** The last line: the final evaluation (a single model's, or the ensemble's averaged probabilities), or "done". */
function finalLine(p: RunPlan, members: readonly MemberOutcome[]): Record<string, unknown> {
  const mean = members.reduce((a, m) => a + m.tailLoss, 0) / members.length; // mean over members
  const trainLoss = Number.isFinite(mean) ? mean : null; // no steps (--steps 0): no training loss
  const ensembleNote = p.members > 1 ? { ensemble: p.members } : {};
  if (p.data.eval === null) return { event: "done", step: p.steps, train_loss: trainLoss, ...ensembleNote };
  const single = p.members === 1 ? members[0].result.eval : null;
  const m = single ?? {
    step: p.steps,
    ...computeMetrics(
      averagePredictions(members.map((x) => x.preds?.preds as Float32Array)),
      members[0]?.preds?.labels as Float32Array,
    ),
  };
  return { event: "eval", ...evalFields(m), train_loss: trainLoss, ...ensembleNote, ...p.data.notes };
}

/** An evaluation's fields in the eval lines (stdout and --log), in this order; NaN prints as null. */
function evalFields(m: Metrics & { step: number }): Record<string, number> {
  return {
    step: m.step,
    auc: m.auc,
    logloss: m.logloss,
    accuracy: m.accuracy,
    ne: m.ne,
    calibration: m.calibration,
    n: m.n,
  };
}

export async function runTrain(argv: readonly string[], io: Io): Promise<number> {
  const given = parseFlags("train", argv, TRAIN_FLAGS);
  if (getBool(given, "help")) {
    const about =
      "Train a DLRM; the last line printed is a JSON object with the final metrics. The reference's own flags (--arch-mlp-bot=…, --learning-rate, …; docs/dlrm.md) are read too: one of them puts the line in the reference's mode, which is said on stderr.";
    io.stdout.write(helpText("Usage: dlrm train [flags]", about, TRAIN_FLAGS, TRAIN_HELP_GROUPS));
    return 0;
  }
  const resumePath = getString(given, "resume");
  const { flags: f, resume } =
    resumePath === undefined ? { flags: given, resume: null } : resumeFlags(given, resumePath);
  const o = outputFlags(given, f);
  checkTrainPaths(f);
  const opened: RunData[] = []; // closed here when the run stops before it starts (a table that does not fit, ...)
  let p: RunPlan;
  try {
    p = await planRun(f, io, resume, opened);
    if (p.plan !== null && getBool(f, "print-sharding-plan")) io.stdout.write(`${formatShardingPlan(p.plan)}\n`);
    if (resume !== null && resume.run.step > p.steps)
      throw new UsageError(
        `train: --resume ${resume.path}: the run is at step ${resume.run.step}, past --steps ${p.steps}`,
      );
  } catch (e) {
    await closeRunData(...opened);
    throw e;
  }
  const init = getString(f, "init") ?? null;

  const log = new RunLog(f);
  const from = resume === null ? "" : `, resuming ${resume.path} at step ${resume.run.step}`;
  io.stderr.write(
    `dlrm train: ${samplesText(p.data.train)}, ${p.config.table_sizes.length} tables, ${p.steps} steps of ${p.batchSize}, ${p.spec.kind} lr ${p.spec.lr}, ${p.workers} worker${p.workers === 1 ? "" : "s"}${p.notes}${from}\n`,
  );
  if (p.data.eval !== null) io.stderr.write(smallEvalWarning("train", samplesOf(p.data.eval)) ?? "");
  const interrupt = onInterrupt(
    io.stderr,
    o.save === null
      ? "stopping after the steps in flight"
      : `stopping after the steps in flight and saving to ${o.save}`,
  );
  try {
    const members: MemberOutcome[] = [];
    for (let k = 0; k < p.members; k++) {
      const m = await trainMember(p, k, o, init, resume, log, io, () => interrupt.requested);
      if (m.result.interrupted) {
        const note = p.members > 1 ? { member: k } : {};
        io.stdout.write(`${JSON.stringify({ event: "interrupted", step: m.result.position.step, ...note })}\n`);
        return 130;
      }
      members.push(m);
    }
    const final = finalLine(p, members);
    if (p.members > 1 && p.data.eval !== null) log.write(final);
    io.stdout.write(`${JSON.stringify(final)}\n`);
    log.plot(io);
  } finally {
    interrupt.dispose();
    log.close();
    await closeRunData(p.data.train, p.data.eval);
  }
  return 0;
}
