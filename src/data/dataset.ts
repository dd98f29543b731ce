// The in-memory dataset every reader and generator produces and the trainer consumes:
// the batch format of docs/datasets.md held in typed arrays.
//
// Glossary: N samples, Dd dense features, F sparse features (tables), L_t lookups of table t.

import { allocFloat, allocInt32 } from "../tensor/storage.ts";

export interface SparseFeature {
  /** (N,) lookups in each sample's bag; 0 is an empty bag. */
  readonly lengths: Int32Array;
  /** (N + 1,) prefix sums of lengths: sample i's ids are indices[offsets[i] .. offsets[i+1]). */
  readonly offsets: Int32Array;
  /** (L_t,) row ids, bag after bag. */
  readonly indices: Int32Array;
  /** (L_t,) per-sample weights, or null for weight 1. */
  readonly weights: Float32Array | null;
}

export interface Dataset {
  /** Samples. */
  readonly n: number;
  /** Dense features per sample (Dd). */
  readonly denseFeatures: number;
  /** (N, Dd) dense features, row-major. */
  readonly dense: Float32Array;
  /** (N,) labels, 0 or 1 for click data. */
  readonly labels: Float32Array;
  /** One entry per table (F). */
  readonly sparse: readonly SparseFeature[];
}

/** offsets (N + 1,) from lengths (N,). Throws on a negative length. */
export function offsetsFromLengths(lengths: Int32Array, what = "lengths"): Int32Array {
  const offsets = allocInt32(lengths.length + 1);
  for (let i = 0; i < lengths.length; i++) {
    const l = lengths[i];
    if (l < 0) throw new Error(`${what}: sample ${i} has a negative bag length ${l}`);
    const next = offsets[i] + l;
    if (next > 0x7fffffff) throw new Error(`${what}: total lookups exceed 2^31 at sample ${i}`);
    offsets[i + 1] = next;
  }
  return offsets;
}

/** Samples [start, end) of a dataset as a new dataset (copies). */
export function sliceDataset(d: Dataset, start: number, end: number): Dataset {
  return selectSamples(
    d,
    Int32Array.from({ length: end - start }, (_, i) => start + i),
  );
}

/**
 * The samples at the given positions, in that order, as a new dataset (copies). Its arrays
 * come from src/tensor/storage.ts: inside withStepArena (a shuffled training batch) they are
 * step storage, valid until the next step.
 */
export function selectSamples(d: Dataset, rows: Int32Array): Dataset {
  const n = rows.length;
  const Dd = d.denseFeatures;
  const dense = allocFloat("float32", n * Dd) as Float32Array;
  const labels = allocFloat("float32", n) as Float32Array;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (r < 0 || r >= d.n) throw new Error(`selectSamples: sample ${r} is out of range for a dataset of ${d.n}`);
    dense.set(d.dense.subarray(r * Dd, (r + 1) * Dd), i * Dd);
    labels[i] = d.labels[r];
  }
  const sparse = d.sparse.map((f) => {
    const lengths = allocInt32(n);
    for (let i = 0; i < n; i++) lengths[i] = f.lengths[rows[i]] as number;
    const offsets = offsetsFromLengths(lengths);
    const total = offsets[n];
    const indices = allocInt32(total);
    const weights = f.weights === null ? null : (allocFloat("float32", total) as Float32Array);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      const s = f.offsets[r];
      const e = f.offsets[r + 1];
      indices.set(f.indices.subarray(s, e), offsets[i]);
      if (weights !== null && f.weights !== null) weights.set(f.weights.subarray(s, e), offsets[i]);
    }
    return { lengths, offsets, indices, weights };
  });
  return { n, denseFeatures: Dd, dense, labels, sparse };
}
