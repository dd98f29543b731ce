// The training loop: batches in order or shuffled per epoch, forward, loss, backward,
// optimizer step; per-step records for the log; evaluation with AUC, logloss and accuracy.
//
// Each step runs inside withStepArena (src/tensor/storage.ts): its activations and
// gradients come from one region that the next step reuses, so a steady-state step
// allocates no tensor storage, and with the wasm kernels that region is wasm memory the
// kernels use without copies. The arena's rule is that nothing from one step is used in the
// next: before each step the parameters' gradients are dropped (zeroGrad, and
// releaseStepGrads for parameters outside the optimizer), and the step hands out numbers
// only (the loss), never tensors.
//
// Glossary: N samples, B batch size, S steps.

import { noGrad } from "../autograd/tape.ts";
import { batchOf, batchOfRows, type Batch } from "../data/batch.ts";
import type { Dataset } from "../data/dataset.ts";
import type { DLRM } from "../dlrm/model.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import type { LRPolicyScheduler } from "../optim/schedule.ts";
import { Rng } from "../tensor/rng.ts";
import { releaseStepGrads, withStepArena } from "../tensor/storage.ts";
import { computeMetrics, type Metrics } from "./metrics.ts";
import type { Progress } from "./progress.ts";

export interface StepRecord {
  step: number;
  /** The batch's loss before its update. */
  loss: number;
  lr: number;
  samples: number;
}

export interface EvalRecord extends Metrics {
  step: number;
}

export interface TrainOptions {
  model: DLRM;
  optimizer: Optimizer;
  scheduler?: LRPolicyScheduler | null;
  data: Dataset;
  batchSize: number;
  steps: number;
  /** Shuffle the samples each epoch; otherwise batch s is samples [s·B, (s+1)·B) (wrapping). */
  shuffle: boolean;
  seed: number;
  evalData?: Dataset | null;
  /** Evaluate every this many steps (and always at the end); 0 = only at the end. */
  testFreq?: number;
  onStep?: (r: StepRecord) => void;
  onEval?: (r: EvalRecord) => void;
  progress?: Progress | null;
}

export class TrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrainError";
  }
}

export interface TrainResult {
  losses: number[];
  /** The final evaluation, when eval data was given. */
  eval: EvalRecord | null;
}

function diverged(step: number, what: string): TrainError {
  return new TrainError(`step ${step}: ${what}; stopping (the parameters diverged: lower the learning rate, or check the data)`);
}

function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i] as number)) return i;
  return -1;
}

/** Batches per pass over the data (the last one may be short). */
export function batchesPerEpoch(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

export function train(o: TrainOptions): TrainResult {
  const { model, optimizer, data, batchSize } = o;
  if (data.n === 0) throw new TrainError("the training data has no samples");
  const perEpoch = batchesPerEpoch(data.n, batchSize);
  const rng = new Rng(o.seed);
  let order: Int32Array | null = null;
  const losses: number[] = [];
  let samples = 0;
  let last: EvalRecord | null = null;
  const testFreq = o.testFreq ?? 0;
  const params = model.parameters();

  for (let step = 0; step < o.steps; step++) {
    const k = step % perEpoch;
    let batch: Batch;
    const start = k * batchSize;
    const end = Math.min(data.n, start + batchSize);
    if (o.shuffle) {
      if (k === 0 || order === null) order = rng.shuffle(Int32Array.from({ length: data.n }, (_, i) => i));
      batch = batchOfRows(data, order.subarray(start, end));
    } else {
      batch = batchOf(data, start, end);
    }
    const lr = optimizer.lr;
    optimizer.zeroGrad();
    releaseStepGrads(params);
    const value = withStepArena(() => {
      const pred = model.forward(batch);
      const bad = firstNonFinite(pred.data);
      if (bad !== -1) throw diverged(step, `prediction ${bad} of the batch is ${pred.data[bad]}`);
      const loss = model.criterion(pred, batch.labels);
      const v = loss.item();
      if (!Number.isFinite(v)) throw diverged(step, `the loss is ${v}`);
      loss.backward();
      optimizer.step();
      return v;
    });
    o.scheduler?.step();
    samples += end - start;
    losses.push(value);
    o.onStep?.({ step, loss: value, lr, samples });
    o.progress?.update({ step: step + 1, totalSteps: o.steps, samples, loss: value });
    const isLast = step === o.steps - 1;
    if (o.evalData && (isLast || (testFreq > 0 && (step + 1) % testFreq === 0))) {
      last = { step: step + 1, ...evaluate(model, o.evalData, Math.max(batchSize, 4096)) };
      if (!isLast) o.onEval?.(last);
    }
  }
  o.progress?.done();
  if (last !== null) o.onEval?.(last);
  return { losses, eval: last };
}

/** Predictions (N,) for every sample, in data order, without recording a graph. */
export function predict(model: DLRM, data: Dataset, batchSize = 4096): Float32Array {
  const out = new Float32Array(data.n);
  noGrad(() => {
    for (let s = 0; s < data.n; s += batchSize) {
      out.set(model.forward(batchOf(data, s, Math.min(data.n, s + batchSize))).data, s);
    }
  });
  return out;
}

export function evaluate(model: DLRM, data: Dataset, batchSize = 4096): Metrics {
  return computeMetrics(predict(model, data, batchSize), data.labels);
}
