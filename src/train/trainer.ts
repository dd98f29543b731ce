// The training loop, the one loop for every executor (src/train/executor.ts): one thread or
// N ranks. It owns what does not depend on where the parameters live:
//   - the batches: from an in-memory Dataset (in file order, or shuffled anew at each epoch
//     start from one generator seeded by `seed`: the data position is the step and that
//     generator's state at the start of the current epoch, so a resumed run sees the same
//     batches), from a BatchSource (src/data/batch_source.ts: the batch of a step is the
//     source's pure function of the step, so the position is the step alone), or from an
//     iterable or async iterable of Datasets, in turn (src/train/batch_feed.ts); batches are
//     asked for ahead of their step, and each is handed to the executor whole;
//   - the learning rate of each step (the reference's LRPolicyScheduler; its position is the
//     step count, replayed on resume);
//   - evaluation points (every testFreq steps and at the end), divergence checks (a
//     non-finite prediction or loss, and saturation: see SATURATED_LOSS), progress and the
//     per-step records;
//   - stopping early when asked (interruption): the steps in flight finish and count.
// With an executor of depth 2 (the ranks) the loop issues step s + 1 before it waits for step
// s, so that the ranks go from step to step while this thread stages the next batch.
//
// Glossary: N samples, B batch size, S steps.

import type { BatchSource } from "../data/batch_source.ts";
import type { Dataset } from "../data/dataset.ts";
import type { DLRM } from "../dlrm/model.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { LRPolicyScheduler, type LRPolicyOptions } from "../optim/schedule.ts";
import type { RngState } from "../tensor/rng.ts";
import { hostYield } from "../kernels/host.ts";
import { batchFeed, DEFAULT_PREFETCH, predictAll, type TrainData } from "./batch_feed.ts";
import { SaturationWatch } from "./saturation.ts";
import type { Executor, StepOutcome } from "./executor.ts";
import { LocalExecutor } from "./local.ts";
import { computeMetrics, type Metrics } from "../metrics/metrics.ts";
import type { Progress } from "./progress.ts";

export interface StepRecord {
  step: number;
  /** The batch's loss before its update. */
  loss: number;
  /** The share of the batch's samples whose prediction (before the update, the loss's own) is on
   *  the right side of 0.5, as an evaluation's accuracy counts them: the paper's training accuracy. */
  accuracy: number;
  lr: number;
  samples: number;
  /** performance.now() when the loop learnt the step's result. */
  tMs: number;
}

export interface EvalRecord extends Metrics {
  step: number;
}

/** Where a run stands after `step` steps: enough to continue it exactly (saved in checkpoints). */
export interface TrainPosition {
  /** Steps done. */
  step: number;
  /** The data-order generator's state at the start of the epoch that step `step` is in (null: no
   *  shuffling, or data that is not an in-memory Dataset: its order is its own). */
  orderRng: RngState | null;
}

export interface TrainOptions {
  /** Runs the steps; or give model and optimizer to train on this thread. */
  executor?: Executor;
  model?: DLRM;
  optimizer?: Optimizer;
  /** The training data: a Dataset, a BatchSource, or an iterable or async iterable of Datasets
   *  (batches in turn, each a fresh Dataset; the run ends early when it ends). */
  data: TrainData;
  batchSize: number;
  /** Train until this many steps are done (counting those before `start`). */
  steps: number;
  /** The order of an in-memory Dataset and of a source that takes one (a file, withOrder):
   *  shuffled each epoch; otherwise batch s is samples [s·B, (s+1)·B) (wrapping). A
   *  generator's order is its own, an iterable's is its turn. */
  shuffle: boolean;
  seed: number;
  /** Batches asked for ahead of the step being trained (default 4). */
  prefetch?: number;
  /** Base learning rate (default: the optimizer's, with model and optimizer). */
  lr?: number;
  /** The reference's warm-up and decay schedule, or none. */
  schedule?: LRPolicyOptions | null;
  /** Continue a run from this position (a checkpoint's). */
  start?: TrainPosition | null;
  /** Evaluation data, read in order (a BatchSource's epoch 0). */
  evalData?: Dataset | BatchSource | null;
  /** Evaluate every this many steps (and always at the end); 0 = only at the end. */
  testFreq?: number;
  /** Batch size of evaluation (default evalBatchSize(batchSize): max(batchSize, 4096)). */
  evalBatchSize?: number;
  onStep?: (r: StepRecord) => void;
  onEval?: (r: EvalRecord) => void;
  progress?: Progress | null;
  /** Checked before each step is issued: when it returns true the run stops early (interrupted). */
  shouldStop?: () => boolean;
  /** Told when the run starts saturated (src/train/saturation.ts): it goes on. */
  onSaturatedStart?: (step: number, loss: number) => void;
}

export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainError";
  }
}

export interface TrainResult {
  losses: number[];
  /** The final evaluation, when eval data was given and the run was not interrupted. */
  eval: EvalRecord | null;
  /** Where the run ended: pass it back as `start` (through a checkpoint) to continue. */
  position: TrainPosition;
  /** Whether shouldStop ended the run before `steps`. */
  interrupted: boolean;
}

/**
 * A batch-mean loss above this is divergence even while it is finite. BCE of float32
 * predictions clamped as the loss clamps them tops out at ~16.6 per sample (log of the
 * smallest float32 step below 1), and a model that has saturated to all-wrong 0/1 outputs
 * sits there; any real run is far below (chance is ln 2 ≈ 0.69). docs/reliability.md.
 */
export const SATURATED_LOSS = 15;

/** How often (ms) a run that can be stopped lets the event loop run (signal handlers). */
const YIELD_MS = 50;

function diverged(step: number, what: string): TrainError {
  return new TrainError(
    `step ${step}: ${what}; stopping (the parameters diverged: lower the learning rate, or check the data)`,
  );
}

export { batchesPerEpoch } from "../data/batch_source.ts";
export type { TrainData } from "./batch_feed.ts";

/** The learning rate of steps start, start + 1, …: base, or the reference's schedule replayed to its position. */
export function learningRates(base: number, schedule: LRPolicyOptions | null | undefined, start: number): () => number {
  if (schedule === null || schedule === undefined || (schedule.warmupSteps === 0 && schedule.numDecaySteps === 0))
    return () => base;
  const holder = { lr: base };
  const s = new LRPolicyScheduler(holder, schedule); // constructing it is its first step, as the reference's
  for (let i = 0; i < start; i++) s.step();
  return () => {
    const lr = holder.lr;
    s.step();
    return lr;
  };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const executor = o.executor ?? localExecutor(o);
  const { data, batchSize } = o;
  if ((data as Dataset).n === 0) throw new TrainError("the training data has no samples");
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new TrainError(`the batch size must be a positive integer, got ${batchSize}`);
  const first = o.start?.step ?? 0;
  if (first > o.steps) throw new TrainError(`the run is already at step ${first}, past the requested ${o.steps} steps`);
  const feed = batchFeed(data, {
    batchSize,
    shuffle: o.shuffle,
    seed: o.seed,
    first,
    orderRng: o.start?.orderRng ?? null,
    end: o.steps,
    prefetch: o.prefetch ?? DEFAULT_PREFETCH,
  });
  const nextLr = learningRates(o.lr ?? o.optimizer?.lr ?? Number.NaN, o.schedule, first);
  const testFreq = o.testFreq ?? 0;
  const evalBatch = o.evalBatchSize ?? evalBatchSize(batchSize);
  const losses: number[] = [];
  let samples = 0;
  let last: EvalRecord | null = null;
  let done = first;
  let interrupted = false;
  const saturation = new SaturationWatch(SATURATED_LOSS, o.onSaturatedStart);

  const inFlight: { step: number; lr: number; count: number; outcome: Promise<StepOutcome> }[] = [];
  /** Issue the step on its batch; false when an iterable has ended. */
  const issue = async (step: number): Promise<boolean> => {
    const batch = await feed.next();
    if (batch === null) return false;
    if (batch.n < 1) throw new TrainError(`step ${step}: the batch has no samples`);
    const ahead = (executor.lookAhead ?? 0) > 0 ? await feed.peek(executor.lookAhead as number) : undefined;
    const lr = nextLr();
    const count = batch.n;
    inFlight.push({
      step,
      lr,
      count,
      outcome: executor.step(step, { data: batch, rows: null, start: 0, count }, lr, ahead),
    });
    return true;
  };
  /** Wait for the oldest step in flight and account for it. */
  const settle = async (): Promise<void> => {
    const f = inFlight.shift() as (typeof inFlight)[number];
    const r = await f.outcome;
    if (r.bad !== null) throw diverged(f.step, `prediction ${r.bad.index} of the batch is ${r.bad.value}`);
    if (!Number.isFinite(r.loss)) throw diverged(f.step, `the loss is ${r.loss}`);
    if (saturation.diverged(f.step, r.loss))
      throw diverged(
        f.step,
        `the loss is ${r.loss.toFixed(2)}, above ${SATURATED_LOSS}: the predictions have saturated at 0 or 1`,
      );
    samples += f.count;
    losses.push(r.loss);
    done = f.step + 1;
    const accuracy = r.correct / f.count;
    o.onStep?.({ step: f.step, loss: r.loss, accuracy, lr: f.lr, samples, tMs: performance.now() });
    o.progress?.update({ step: f.step + 1, totalSteps: o.steps, samples, loss: r.loss });
  };
  const evaluateNow = async (step: number): Promise<EvalRecord> => {
    const { preds, labels } = await predictAll(executor, o.evalData as Dataset | BatchSource, evalBatch);
    const e = { step, ...computeMetrics(preds, labels) };
    last = e;
    return e;
  };

  try {
    let lastYield = performance.now();
    for (let step = first; step < o.steps; step++) {
      if (o.shouldStop !== undefined && performance.now() - lastYield > YIELD_MS) {
        // A one-thread executor never waits on the event loop, so a signal handler that asks
        // to stop would never run: give it a turn every YIELD_MS.
        await hostYield();
        lastYield = performance.now();
      }
      if (o.shouldStop?.() === true) {
        interrupted = true;
        break;
      }
      if (!(await issue(step))) break;
      if (inFlight.length >= executor.depth) await settle();
      const evalHere = o.evalData && testFreq > 0 && (step + 1) % testFreq === 0 && step + 1 < o.steps;
      if (evalHere) {
        while (inFlight.length > 0) await settle();
        const e = await evaluateNow(step + 1);
        o.onEval?.(e);
      }
    }
    while (inFlight.length > 0) await settle();
  } finally {
    // A failed step leaves the others to finish before anything else touches the executor.
    await Promise.allSettled(inFlight.map((f) => f.outcome));
    await feed.close();
  }
  o.progress?.done();
  if (o.evalData && !interrupted) {
    const e = await evaluateNow(done); // not inside onEval?.(…): without onEval that would skip the evaluation
    o.onEval?.(e);
  }
  if (o.executor === undefined) await executor.close();
  return {
    losses,
    eval: interrupted ? null : last,
    position: { step: done, orderRng: feed.orderState(done) },
    interrupted,
  };
}

/** The batch of an evaluation in a run of batch size B: max(B, 4096) (more samples per forward, the same predictions). */
export function evalBatchSize(batchSize: number): number {
  return Math.max(batchSize, 4096);
}

function localExecutor(o: TrainOptions): Executor {
  if (o.model === undefined || o.optimizer === undefined)
    throw new TrainError("train: give an executor, or a model and its optimizer");
  return new LocalExecutor(o.model, o.optimizer);
}

/** Predictions (N,) for every sample of data, in data order, on this thread. */
export function predict(model: DLRM, data: Dataset, batchSize = 4096): Float32Array {
  return LocalExecutor.predictSync(model, data, batchSize);
}

export function evaluate(model: DLRM, data: Dataset, batchSize = 4096): Metrics {
  return computeMetrics(predict(model, data, batchSize), data.labels);
}
