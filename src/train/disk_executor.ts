// The executor of one thread whose tables live on disk (src/dlrm/store/disk_tables.ts):
// the head (DLRMHead, the code every executor runs) is resident, the tables are files with
// at most N bytes of rows resident. A step is LocalExecutor's step with the tables' pooling
// served from their caches: the batch's rows are made resident, the forward, backward and
// optimizer step run on the caches' blocks (the same arithmetic row for row, so the same
// bits as in memory), and the updated rows are marked dirty. The loop hands it the next
// `lookAhead` batches with each step (src/train/trainer.ts), which decide what leaves the
// caches. A save writes the dirty rows back and copies the tables from their files into the
// checkpoint, a chunk at a time.
//
// Node only (files): the CLI imports it when --table-dir is given.
//
// Glossary: B batch size, N samples.

import { closeSync, openSync } from "node:fs";
import { noGrad } from "../autograd/tape.ts";
import { batchOf, batchOfRows } from "../data/batch.ts";
import type { Dataset } from "../data/dataset.ts";
import { checkCheckpoint, checkpointTensors, readPiece, writeCheckpointFile, writeSlices } from "../dlrm/checkpoint.ts";
import type { CheckpointFormat } from "../dlrm/checkpoint_format.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import type { CheckpointSlice } from "../dlrm/checkpoint_bytes.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { DLRMHead } from "../dlrm/model.ts";
import { DiskTables, type TableStoreOptions } from "../dlrm/store/disk_tables.ts";
import type { CacheCounts } from "../dlrm/store/row_cache.ts";
import { isTableParameter } from "../dlrm/tables/layout.ts";
import type { SaveDType } from "../io/dtype.ts";
import { makeOptimizer, stateArray, stateTensorName, stateTensors, type OptimizerSpec } from "../optim/make.ts";
import type { Optimizer } from "../optim/optimizer.ts";
import { correctPredictions } from "../metrics/metrics.ts";
import { firstNonFinite } from "../tensor/finite.ts";
import { releaseStepGrads, withStepArena } from "../tensor/storage.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { BatchRef, Executor, StepOutcome } from "./executor.ts";

/** Where the model starts: the seed's streams, or a checkpoint (with its optimizer state for a resumed run). */
export type DiskModelSource =
  { kind: "seed"; seed: number } | { kind: "file"; index: SafetensorsIndex; withOptimizer: boolean };

export class DiskTableExecutor implements Executor {
  readonly depth = 1;
  readonly config: DLRMConfig;
  readonly lookAhead: number;
  readonly head: DLRMHead;
  readonly tables: DiskTables;
  readonly optimizer: Optimizer;
  readonly spec: OptimizerSpec;
  readonly #headParams: [string, Tensor][];
  readonly #params: Tensor[];

  constructor(config: DLRMConfig, spec: OptimizerSpec, source: DiskModelSource, store: TableStoreOptions) {
    this.config = config;
    this.spec = spec;
    this.lookAhead = store.lookAhead;
    const index =
      source.kind === "file" ? checkCheckpoint(source.index, config, source.withOptimizer ? spec : null) : null;
    this.head = new DLRMHead(config, source.kind === "seed" ? source.seed : null);
    this.#headParams = this.head.namedParameters();
    if (index === null)
      this.tables = new DiskTables(config, spec, { kind: "seed", seed: (source as { seed: number }).seed }, store);
    else {
      const fd = openSync(index.path, "r");
      try {
        const read = (name: string, first: number, into: Float32Array): void => readPiece(index, name, first, into, fd);
        const withOptimizer = (source as { withOptimizer: boolean }).withOptimizer;
        this.tables = new DiskTables(config, spec, { kind: "checkpoint", read, withOptimizer }, store);
      } finally {
        closeSync(fd);
      }
    }
    const named = [...this.#headParams, ...this.tables.parameters()];
    this.#params = named.map(([, p]) => p);
    this.optimizer = makeOptimizer(spec, named);
    this.tables.attach(this.optimizer, this.#headParams.length);
    if (index !== null) {
      // The head (and its state) from the file; the tables' rows were read into their files.
      const withOptimizer = (source as { withOptimizer: boolean }).withOptimizer;
      const fd = openSync(index.path, "r");
      try {
        this.#headParams.forEach(([name, p], i) => {
          readPiece(index, name, 0, p.data as Float32Array, fd);
          if (withOptimizer)
            for (const s of stateTensors(spec, p.shape, false))
              readPiece(
                index,
                stateTensorName(name, s.key),
                0,
                stateArray(this.optimizer, i, s.key) as Float32Array,
                fd,
              );
        });
      } finally {
        closeSync(fd);
      }
    }
  }

  step(_step: number, b: BatchRef, lr: number, ahead: readonly Dataset[] = []): Promise<StepOutcome> {
    this.optimizer.lr = lr;
    this.optimizer.zeroGrad();
    releaseStepGrads(this.#params);
    const outcome = withStepArena((): StepOutcome => {
      const batch = b.rows === null ? batchOf(b.data, b.start, b.start + b.count) : batchOfRows(b.data, b.rows);
      const pooled = this.tables.pool(batch.sparse, ahead, this.config.pooling);
      const pred = this.head.forward(batch.dense, pooled);
      const bad = firstNonFinite(pred.data);
      if (bad !== -1) return { loss: Number.NaN, correct: 0, bad: { index: bad, value: pred.data[bad] } };
      const loss = this.head.criterion(pred, batch.labels);
      const v = loss.item();
      const correct = correctPredictions(pred.data, batch.labels.data);
      if (!Number.isFinite(v)) return { loss: v, correct, bad: null };
      loss.backward();
      this.optimizer.step();
      this.tables.markDirty();
      return { loss: v, correct, bad: null };
    });
    return Promise.resolve(outcome);
  }

  predict(data: Dataset, batchSize: number): Promise<Float32Array> {
    const out = new Float32Array(data.n);
    noGrad(() => {
      for (let s = 0; s < data.n; s += batchSize)
        withStepArena(() => {
          const batch = batchOf(data, s, Math.min(data.n, s + batchSize));
          const pooled = this.tables.pool(batch.sparse, [], this.config.pooling);
          out.set(this.head.forward(batch.dense, pooled).data, s);
        });
    });
    return Promise.resolve(out);
  }

  /** Rows served, read and written so far, all tables together. */
  counts(): CacheCounts {
    return this.tables.counts();
  }

  async save(path: string, metadata: Record<string, string>, dtype: SaveDType = "F32", format?: CheckpointFormat) {
    const tensors = checkpointTensors(this.config, this.spec, dtype);
    const head: CheckpointSlice[] = [];
    this.#headParams.forEach(([name, p], i) => {
      head.push({ name, first: 0, data: p.data as Float32Array });
      for (const s of stateTensors(this.spec, p.shape, isTableParameter(name)))
        head.push({
          name: stateTensorName(name, s.key),
          first: 0,
          data: stateArray(this.optimizer, i, s.key) as Float32Array,
        });
    });
    await writeCheckpointFile(
      path,
      tensors,
      { format: "pt", ...metadata },
      (tmp, slots) => {
        const fd = openSync(tmp, "r+");
        try {
          writeSlices(fd, slots, head, path);
          this.tables.writeSlices((slices) => writeSlices(fd, slots, slices, path), true);
        } finally {
          closeSync(fd);
        }
      },
      format,
    );
  }

  close(): Promise<void> {
    this.tables.close();
    return Promise.resolve();
  }
}
