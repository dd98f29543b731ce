// Shared by the hybrid-parallel tests: a small DLRM config, random data whose bags vary in
// length from empty to maxBag, with per-sample weights on chosen tables, and one training
// run on this thread or on N ranks, read back from its checkpoint.
//
// Glossary: N samples, Dd dense features, R rows of a table, E embedding dim.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { offsetsFromLengths, type Dataset } from "../../src/data/dataset.ts";
import { loadCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { checkpointFormat, readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { interactionWidth } from "../../src/ops/interaction.ts";
import { isStateTensorName, makeOptimizer, type OptimizerSpec } from "../../src/optim/make.ts";
import type { LRPolicyOptions } from "../../src/optim/schedule.ts";
import { HybridExecutor } from "../../src/parallel/hybrid.ts";
import type { ShardingPlan } from "../../src/parallel/plan.ts";
import { Rng } from "../../src/tensor/rng.ts";
import type { Executor } from "../../src/train/executor.ts";
import { LocalExecutor } from "../../src/train/local.ts";
import { train, type EvalRecord, type TrainPosition } from "../../src/train/trainer.ts";

export function smallConfig(o: {
  tables: number[];
  E: number;
  pooling: "sum" | "mean";
  interaction: "dot" | "cat";
  self?: boolean;
  loss?: "bce" | "mse";
}): DLRMConfig {
  const self = o.self ?? false;
  const W = interactionWidth(o.E, o.tables.length, o.interaction, self);
  return parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 8, o.E],
    embedding_dim: o.E,
    table_sizes: o.tables,
    pooling: o.pooling,
    interaction: o.interaction,
    interaction_itself: self,
    top_mlp: [W, 6, 1],
    loss: o.loss ?? "bce",
  });
}

/** Bags of 0 .. maxBag lookups (uniform), ids uniform over each table, weights in [0.5, 1.5) where asked. */
export function bagsDataset(o: {
  n: number;
  denseFeatures: number;
  tableSizes: readonly number[];
  maxBag: number;
  weighted: readonly boolean[];
  seed: number;
}): Dataset {
  const rng = new Rng(o.seed);
  const dense = new Float32Array(o.n * o.denseFeatures);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const labels = new Float32Array(o.n);
  for (let i = 0; i < o.n; i++) labels[i] = rng.uniform() < 0.5 ? 0 : 1;
  const sparse = o.tableSizes.map((R, t) => {
    const lengths = new Int32Array(o.n);
    for (let i = 0; i < o.n; i++) lengths[i] = rng.int(o.maxBag + 1);
    const offsets = offsetsFromLengths(lengths);
    const indices = new Int32Array(offsets[o.n] as number);
    for (let l = 0; l < indices.length; l++) indices[l] = rng.int(R);
    let weights: Float32Array | null = null;
    if (o.weighted[t] === true) {
      weights = new Float32Array(indices.length);
      for (let l = 0; l < weights.length; l++) weights[l] = rng.uniformIn(0.5, 1.5);
    }
    return { lengths, offsets, indices, weights };
  });
  return { n: o.n, denseFeatures: o.denseFeatures, dense, labels, sparse };
}

export interface RunOptions {
  config: DLRMConfig;
  /** The initial parameters: a seed's model, or a checkpoint (withOptimizer: resume its optimizer state too). */
  source: { kind: "seed"; seed: number } | { kind: "file"; path: string; withOptimizer: boolean };
  spec: OptimizerSpec;
  data: Dataset;
  evalData?: Dataset | null;
  batchSize: number;
  steps: number;
  shuffle: boolean;
  seed: number;
  schedule?: LRPolicyOptions | null;
  testFreq?: number;
  start?: TrainPosition | null;
  plan?: ShardingPlan;
  /** Also write the run's checkpoint here (parameters and optimizer state). */
  savePath?: string;
}

export interface RunOutcome {
  losses: number[];
  lrs: number[];
  evals: EvalRecord[];
  position: TrainPosition;
  /** The parameters the run ended with, read back from its checkpoint. */
  params: Map<string, Float32Array>;
  /** The checkpoint's every tensor (parameters and optimizer state), by name. */
  tensors: Map<string, Float32Array>;
}

/**
 * One training run through the one loop: on this thread (workers 0, a LocalExecutor) or on
 * N ranks (a HybridExecutor). Either way the result is read back from the checkpoint the
 * executor writes, as a user would see it, so the two are compared on the same footing.
 */
export async function runOn(workers: number, o: RunOptions): Promise<RunOutcome> {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-run-"));
  const path = o.savePath ?? join(dir, "end.safetensors");
  let executor: Executor;
  if (workers === 0) {
    const model = new DLRM(o.config, o.source.kind === "seed" ? o.source.seed : 0);
    const optimizer = makeOptimizer(o.spec, model.namedParameters());
    if (o.source.kind === "file")
      loadCheckpoint(
        o.source.path,
        model,
        o.source.withOptimizer ? optimizer : null,
        o.spec,
        checkpointFormat(o.source.path),
      );
    executor = new LocalExecutor(model, optimizer, o.spec);
  } else {
    const datasets = o.evalData ? [o.data, o.evalData] : [o.data];
    executor = await HybridExecutor.start({
      config: o.config,
      workers,
      optimizer: o.spec,
      source:
        o.source.kind === "file"
          ? { kind: "file", index: readCheckpointIndex(o.source.path), withOptimizer: o.source.withOptimizer }
          : o.source,
      datasets,
      maxBatch: Math.max(o.batchSize, 4096),
      timeoutMs: 20_000,
      ...(o.plan ? { plan: o.plan } : {}),
    });
  }
  try {
    const lrs: number[] = [];
    const evals: EvalRecord[] = [];
    const r = await train({
      executor,
      data: o.data,
      evalData: o.evalData ?? null,
      batchSize: o.batchSize,
      steps: o.steps,
      shuffle: o.shuffle,
      seed: o.seed,
      lr: o.spec.lr,
      schedule: o.schedule ?? null,
      testFreq: o.testFreq ?? 0,
      start: o.start ?? null,
      onStep: (s) => lrs.push(s.lr),
      onEval: (e) => evals.push(e),
    });
    await executor.save(path, {});
    const tensors = new Map<string, Float32Array>();
    for (const [k, t] of readSafetensors(path).tensors) tensors.set(k, toFloat32(t, k));
    const params = new Map([...tensors].filter(([k]) => !isStateTensorName(k)));
    return { losses: r.losses, lrs, evals, position: r.position, params, tensors };
  } finally {
    await executor.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
