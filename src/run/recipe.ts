// The run recipe: what `dlrm train`, `dlrm predict` and the browser demo all decide the same
// way once a run's choices are known, so that a run in the page and on the command line are
// one run. It plans
//   - the model of real data: its own, or its family's built-in one (dataModel);
//   - the optimizer: the chosen one, with Adagrad's initial accumulator and a built-in model's
//     per-table weight decay given by the tables' parameter names (runOptimizer);
//   - what a run's checkpoint records beside its tensors (runCheckpointMetadata);
//   - the data sizes: the demo's finite synthetic set (synthetic sizes of the command line are
//     its flags); the evaluation batch is the training loop's rule (evalBatchSize);
//   - and opens the executor: this thread (LocalExecutor) for 1 worker, N rank workers that own
//     the tables (HybridExecutor) otherwise, from a seed or from a checkpoint, with what the
//     ranks need of the data (its lookups per sample for the sharding plan, runShardingPlan;
//     its longest bags for their batch slots).
// It imports no Node module: what it needs of the host comes in as arguments (reading a
// checkpoint on this thread, starting rank threads), so a browser page uses it as it is.
//
// Glossary: B batch size, N rank workers, F tables.

import { isBatchSource, type BatchSource } from "../data/batch_source.ts";
import { offsetsFromLengths, type Dataset } from "../data/dataset.ts";
import { runMetadata } from "../dlrm/checkpoint_bytes.ts";
import type { RunState } from "../dlrm/checkpoint_types.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import { BUILTIN_MODELS, type BuiltinModel } from "../data/sources/builtin_models.ts";
import type { SourceData } from "../data/sources/registry.ts";
import { DLRM } from "../dlrm/model.ts";
import { tableLayout } from "../dlrm/tables/layout.ts";
import { makeOptimizer, optimizerSpec, type OptimizerName, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { HybridExecutor } from "../parallel/hybrid.ts";
import { lookupsPerSampleOf, modelShardingPlan, type ShardingPlan } from "../parallel/plan.ts";
import type { StartRanks } from "../parallel/rank_threads.ts";
import type { Executor } from "../train/executor.ts";
import { LocalExecutor } from "../train/local.ts";
import type { TrainResult } from "../train/trainer.ts";

export { evalBatchSize } from "../train/trainer.ts";

/** A run's training loss as its checkpoints and its last line report it: the mean loss of its last 100 steps (NaN without steps). */
export function trailingLoss(losses: readonly number[]): number {
  const tail = losses.slice(-100);
  return tail.length === 0 ? Number.NaN : tail.reduce((a, b) => a + b, 0) / tail.length;
}

/** A run's checkpoint metadata: the model config, where the run stands, and the metrics a .pt
 *  keeps for the reference (the training loss and, after an evaluation, the test accuracy). */
export function runCheckpointMetadata(config: DLRMConfig, run: RunState, result: TrainResult): Record<string, string> {
  return runMetadata(config, run, {
    steps: String(result.position.step),
    seed: String(run.seed),
    train_loss: String(trailingLoss(result.losses)),
    ...(result.eval === null ? {} : { test_accuracy: String(result.eval.accuracy) }),
  });
}

/** The model a run trains on real data when no config file is given: the data's own (a file
 *  from dlrm preprocess csv), else its family's built-in model; null for data that has neither
 *  (generated data trains the model of --init, or the default one). */
export function dataModel(src: SourceData | null): BuiltinModel | null {
  if (src === null) return null;
  if (src.model !== undefined) return src.model;
  if (src.family === null) return null;
  return BUILTIN_MODELS[src.family](src.tableSizes as number[], src.train.denseFeatures);
}

/**
 * The optimizer of a run: `name` at `lr`, Adagrad's accumulators starting at
 * `initialAccumulator`, and `tableWeightDecay[t]` on every piece of table t (a built-in model's;
 * null: none). The decay goes by parameter name, so it reaches a table's rows wherever they live.
 */
export function runOptimizer(
  config: DLRMConfig,
  name: OptimizerName,
  lr: number,
  o: { initialAccumulator: number; tableWeightDecay: readonly number[] | null },
): OptimizerSpec {
  const decay = o.tableWeightDecay;
  const weightDecay =
    decay === null ? {} : Object.fromEntries(tableLayout(config).pieces.map((p) => [p.name, decay[p.table]]));
  return optimizerSpec(name, lr, { initialAccumulator: o.initialAccumulator, weightDecay });
}

/** The optimizer a built-in model trains with when no flag changes it. */
export function builtinOptimizer(b: BuiltinModel): OptimizerSpec {
  return runOptimizer(b.config, b.config.optimizer, b.config.lr, {
    initialAccumulator: b.adagradInitialAccumulator,
    tableWeightDecay: b.tableWeightDecay,
  });
}

/** The demo's synthetic training set, made at once (= dlrm train --data synthetic --data-size N):
 *  steps × B samples, at least 50,000. */
export function finiteSyntheticSize(steps: number, batchSize: number): number {
  return Math.max(50000, steps * batchSize);
}

/** What opening an executor needs. */
export interface ExecutorRecipe {
  config: DLRMConfig;
  spec: OptimizerSpec;
  /** N: 1 runs on this thread; N > 1 on N rank workers that own the tables. */
  workers: number;
  /** The seed of the initial parameters (and of this thread's model before a checkpoint replaces them). */
  seed: number;
  /** Start from a checkpoint instead: ranks read their own rows of the file of `index` (read by
   *  its opener in the file's format); on this thread `load` reads it into the model (and,
   *  withOptimizer, the optimizer state), with the host's file access. */
  checkpoint?: {
    index: SafetensorsIndex;
    withOptimizer: boolean;
    load(model: DLRM, optimizer: Optimizer): void;
  } | null;
  /** Every data set the ranks will be handed (training and evaluation): their batch slots fit its longest bags. */
  data: readonly (Dataset | BatchSource)[];
  /** The largest batch the ranks will be handed: evalBatchSize(B) for a training run. */
  maxBatch: number;
  /** The sharding plan (default: HybridExecutor's, over the first data set's lookups). */
  plan?: ShardingPlan | null;
  /** How to start rank threads (default: Node's worker threads; a page hands in module Workers). */
  startRanks?: StartRanks;
  /** N > 1: the ranks keep their tables in files (src/dlrm/store/); default: in their memory. */
  store?: TableStoreOptions | null;
}

/** The executor of a run: this thread's model and optimizer, or ranks that make (or read) their own parameters. */
export async function openExecutor(r: ExecutorRecipe): Promise<Executor> {
  if (r.workers === 1) {
    const model = new DLRM(r.config, r.seed, r.spec); // its tables' memories with room for the optimizer's state
    const optimizer = makeOptimizer(r.spec, model.namedParameters());
    r.checkpoint?.load(model, optimizer);
    return new LocalExecutor(model, optimizer, r.spec);
  }
  const c = r.checkpoint ?? null;
  return HybridExecutor.start({
    config: r.config,
    workers: r.workers,
    optimizer: r.spec,
    source:
      c === null ? { kind: "seed", seed: r.seed } : { kind: "file", index: c.index, withOptimizer: c.withOptimizer },
    datasets: await Promise.all(r.data.map(stagingData)),
    maxBatch: r.maxBatch,
    ...(r.plan === undefined ? {} : { plan: r.plan }),
    ...(r.startRanks === undefined ? {} : { startRanks: r.startRanks }),
    ...(r.store === undefined ? {} : { store: r.store }),
  });
}

/** Which rank holds which table (rows) for N workers, balanced by the lookups per sample of the training data. */
export async function runShardingPlan(
  config: DLRMConfig,
  workers: number,
  train: Dataset | BatchSource,
  maxBytesPerRank?: number,
  optimizer?: OptimizerSpec,
): Promise<ShardingPlan> {
  return modelShardingPlan(config, {
    ranks: workers,
    lookupsPerSample: await lookupsPerSampleOfData(train),
    ...(maxBytesPerRank === undefined ? {} : { maxBytesPerRank }),
    ...(optimizer === undefined ? {} : { optimizer }), // a row range lies in one memory with its state
  });
}

/** Mean lookups per sample of each table (what the sharding plan balances): of the data in
 *  memory, or of a source's first 4096 samples. */
async function lookupsPerSampleOfData(d: Dataset | BatchSource): Promise<number[]> {
  if (!isBatchSource(d)) return lookupsPerSampleOf(d);
  return lookupsPerSampleOf(await d.batch(0, Math.min(d.samplesPerEpoch, 4096)));
}

/**
 * What the ranks' batch-slot memory is sized from (src/parallel/batch_slots.ts: the longest bag of
 * each table and whether it has weights): the Dataset itself, or for a source a one-sample
 * Dataset whose bags are the source's longest (its `bags`, else its first batch's).
 */
export async function stagingData(d: Dataset | BatchSource): Promise<Dataset> {
  if (!isBatchSource(d)) return d;
  const bags = d.bags ?? null;
  const first = bags === null ? await d.batch(0, Math.min(d.samplesPerEpoch, 4096)) : null;
  const longest = bags?.longest ?? (first as Dataset).sparse.map((f) => longestBag(f.offsets));
  const weighted = bags?.weighted ?? (first as Dataset).sparse.map((f) => f.weights !== null);
  return {
    n: 1,
    denseFeatures: d.denseFeatures,
    dense: new Float32Array(d.denseFeatures),
    labels: new Float32Array(1),
    sparse: longest.map((L, t) => {
      const lengths = Int32Array.of(L);
      return {
        lengths,
        offsets: offsetsFromLengths(lengths),
        indices: new Int32Array(L),
        weights: weighted[t] === true ? new Float32Array(L) : null,
      };
    }),
  };
}

function longestBag(offsets: Int32Array): number {
  let m = 0;
  for (let i = 0; i + 1 < offsets.length; i++) m = Math.max(m, offsets[i + 1] - offsets[i]);
  return m;
}
