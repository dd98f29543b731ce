// The executor of one thread: the whole DLRM and its optimizer live here. Each step runs
// inside withStepArena (src/tensor/storage.ts): its activations and gradients come from one
// region that the next step reuses, so a steady-state step allocates no tensor storage, and
// with the wasm kernels that region is wasm memory the kernels use without copies. The
// arena's rule is that nothing from one step is used in the next: before each step the
// parameters' gradients are dropped (zeroGrad, and releaseStepGrads for parameters outside
// the optimizer), and the step hands out numbers only (the loss), never tensors.
//
// Glossary: N samples, B batch size.

import { noGrad } from "../autograd/tape.ts";
import { batchOf, batchOfRows } from "../data/batch.ts";
import type { Dataset } from "../data/dataset.ts";
import type { CheckpointFormat } from "../dlrm/checkpoint_format.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import type { DLRM } from "../dlrm/model.ts";
import type { SaveDType } from "../io/dtype.ts";
import type { OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { correctPredictions } from "../metrics/metrics.ts";
import { firstNonFinite } from "../tensor/finite.ts";
import { releaseStepGrads, withStepArena } from "../tensor/storage.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { BatchRef, Executor, StepOutcome } from "./executor.ts";

export class LocalExecutor implements Executor {
  readonly depth = 1;
  readonly model: DLRM;
  readonly optimizer: Optimizer;
  /** The optimizer as data, for the state tensors of checkpoints (null: save the parameters only). */
  readonly spec: OptimizerSpec | null;
  readonly #params: Tensor[];

  constructor(model: DLRM, optimizer: Optimizer, spec: OptimizerSpec | null = null) {
    this.model = model;
    this.optimizer = optimizer;
    this.spec = spec;
    this.#params = model.parameters();
  }

  get config(): DLRMConfig {
    return this.model.config;
  }

  step(_step: number, b: BatchRef, lr: number): Promise<StepOutcome> {
    this.optimizer.lr = lr;
    this.optimizer.zeroGrad();
    releaseStepGrads(this.#params);
    const outcome = withStepArena((): StepOutcome => {
      // In the arena too: a shuffled batch's copies and every batch's offsets are step storage.
      const batch = b.rows === null ? batchOf(b.data, b.start, b.start + b.count) : batchOfRows(b.data, b.rows);
      const pred = this.model.forward(batch);
      const bad = firstNonFinite(pred.data);
      if (bad !== -1) return { loss: Number.NaN, correct: 0, bad: { index: bad, value: pred.data[bad] } };
      const loss = this.model.criterion(pred, batch.labels);
      const v = loss.item();
      const correct = correctPredictions(pred.data, batch.labels.data);
      if (!Number.isFinite(v)) return { loss: v, correct, bad: null };
      loss.backward();
      this.optimizer.step();
      return { loss: v, correct, bad: null };
    });
    return Promise.resolve(outcome);
  }

  predict(data: Dataset, batchSize: number): Promise<Float32Array> {
    return Promise.resolve(LocalExecutor.predictSync(this.model, data, batchSize));
  }

  /** Predictions (N,) for every sample, in data order, without recording a graph. */
  static predictSync(model: DLRM, data: Dataset, batchSize: number): Float32Array {
    // Each batch runs in the step arena, as a training step does, so that the kernels find
    // its activations resident (no staging); the predictions are copied out before the next
    // batch takes the arena again.
    const out = new Float32Array(data.n);
    noGrad(() => {
      for (let s = 0; s < data.n; s += batchSize)
        withStepArena(() => out.set(model.forward(batchOf(data, s, Math.min(data.n, s + batchSize))).data, s));
    });
    return out;
  }

  async save(path: string, metadata: Record<string, string>, dtype: SaveDType = "F32", format?: CheckpointFormat) {
    // Loaded when first needed: checkpoint files are Node's file system, and the training
    // step must load without it (a browser page trains through this class and never saves to a path).
    const { saveCheckpoint } = await import("../dlrm/checkpoint.ts");
    const optimizer = this.spec === null ? null : this.optimizer;
    return saveCheckpoint(path, this.model, metadata, optimizer, this.spec, dtype, format);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
