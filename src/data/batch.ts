// A mini-batch as tensors, cut from a Dataset: what the model's forward takes.
//
// Glossary: B samples in the batch, Dd dense features, F tables, L_t lookups of table t.

import { offsetsFromLengths, selectSamples, type Dataset } from "./dataset.ts";
import { allocInt32 } from "../tensor/storage.ts";
import { IndexTensor, Tensor } from "../tensor/tensor.ts";

export interface SparseInput {
  indices: IndexTensor; // (L_t,)
  offsets: IndexTensor; // (B + 1,)
  weights: Tensor | null; // (L_t,)
}

export interface Batch {
  dense: Tensor; // (B, Dd)
  sparse: SparseInput[]; // F entries
  labels: Tensor; // (B,)
}

/** Samples [start, end) as a batch; dense, labels and indices are views, not copies. */
export function batchOf(d: Dataset, start: number, end: number): Batch {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= d.n)) {
    throw new Error(`batchOf: samples [${start}, ${end}) are out of range for a dataset of ${d.n}`);
  }
  const B = end - start;
  const Dd = d.denseFeatures;
  return {
    dense: new Tensor(d.dense.subarray(start * Dd, end * Dd), [B, Dd]),
    labels: new Tensor(d.labels.subarray(start, end), [B]),
    sparse: d.sparse.map((f) => {
      const first = f.offsets[start];
      const last = f.offsets[end];
      const offsets = allocInt32(B + 1); // step storage inside a training step
      for (let i = 0; i <= B; i++) offsets[i] = f.offsets[start + i] - first;
      return {
        indices: new IndexTensor(f.indices.subarray(first, last)),
        offsets: new IndexTensor(offsets),
        weights: f.weights === null ? null : new Tensor(f.weights.subarray(first, last), [last - first]),
      };
    }),
  };
}

/** The samples at `rows` (in that order) as a batch (copies). */
export function batchOfRows(d: Dataset, rows: Int32Array): Batch {
  return batchOf(selectSamples(d, rows), 0, rows.length);
}

export { offsetsFromLengths };
