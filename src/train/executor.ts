// An executor runs DLRM's steps for the training loop (src/train/trainer.ts): on this thread
// (LocalExecutor, src/train/local.ts) or on N rank workers that own the tables
// (HybridExecutor, src/parallel/hybrid.ts). The loop decides everything that does not depend
// on where the parameters live — which samples form each batch, the learning rate of each
// step, when to evaluate, when to stop, what to log — and the executor does the numbers.
//
// Glossary: B samples in a batch, S steps.

import type { Dataset } from "../data/dataset.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { CheckpointFormat } from "../dlrm/checkpoint_format.ts";
import type { SaveDType } from "../io/dtype.ts";

/** The samples of one batch: data's samples rows[0 .. count) when rows is given, else [start, start + count). */
export interface BatchRef {
  data: Dataset;
  rows: Int32Array | null;
  start: number;
  count: number;
}

export interface StepOutcome {
  /** The batch's mean loss before the update (NaN when a prediction was not finite). */
  loss: number;
  /**
   * Samples of the batch whose prediction is on the right side of 0.5 (correctPredictions,
   * src/metrics/metrics.ts), counted from the predictions the loss was computed from; 0 when a
   * prediction was not finite.
   */
  correct: number;
  /** The first non-finite prediction of the batch (its index in the batch and value), or null. */
  bad: { index: number; value: number } | null;
}

export interface Executor {
  readonly config: DLRMConfig;
  /** Steps the loop may have in flight (issued, not yet awaited): 1 runs each step at once. */
  readonly depth: number;
  /** Batches after the current one the executor wants to see with each step (its tables' caches plan with them); 0 or absent: none. */
  readonly lookAhead?: number;
  /** Train one step on the batch with learning rate lr; ahead: the next batches (up to lookAhead, fewer near the end). */
  step(step: number, batch: BatchRef, lr: number, ahead?: readonly Dataset[]): Promise<StepOutcome>;
  /** Click probabilities (N,) of every sample of data, in data order, in batches of at most batchSize. */
  predict(data: Dataset, batchSize: number): Promise<Float32Array>;
  /** Write every parameter (in dtype, default F32) and the optimizer state (F32), with this metadata, to path (atomically), in format (default safetensors). */
  save(path: string, metadata: Record<string, string>, dtype?: SaveDType, format?: CheckpointFormat): Promise<void>;
  /** Release threads and memory; the executor is unusable after. */
  close(): Promise<void>;
}
