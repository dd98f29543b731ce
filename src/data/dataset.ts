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
    for (let i = 0; i < n; i++) lengths[i] = f.lengths[rows[i]];
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

/** The samples of several datasets with the same features, one after the other, as a new dataset (copies). */
export function concatDatasets(parts: readonly Dataset[]): Dataset {
  const first = parts[0];
  if (first === undefined) throw new Error("concatDatasets: no datasets given");
  const Dd = first.denseFeatures;
  const F = first.sparse.length;
  for (const d of parts)
    if (d.denseFeatures !== Dd || d.sparse.length !== F)
      throw new Error(
        `concatDatasets: a dataset has ${d.denseFeatures} dense features and ${d.sparse.length} tables, the first ${Dd} and ${F}`,
      );
  const n = parts.reduce((a, d) => a + d.n, 0);
  const dense = allocFloat("float32", n * Dd) as Float32Array;
  const labels = allocFloat("float32", n) as Float32Array;
  let at = 0;
  for (const d of parts) {
    dense.set(d.dense.subarray(0, d.n * Dd), at * Dd);
    labels.set(d.labels.subarray(0, d.n), at);
    at += d.n;
  }
  const sparse = first.sparse.map((_, t) => {
    const fs = parts.map((d) => d.sparse[t]);
    const lengths = allocInt32(n);
    let row = 0;
    for (let k = 0; k < fs.length; k++) {
      lengths.set(fs[k].lengths.subarray(0, parts[k].n), row);
      row += parts[k].n;
    }
    const offsets = offsetsFromLengths(lengths);
    const indices = allocInt32(offsets[n]);
    const weighted = fs.some((f) => f.weights !== null);
    const weights = weighted ? (allocFloat("float32", offsets[n]) as Float32Array) : null;
    let pos = 0;
    for (let k = 0; k < fs.length; k++) {
      const f = fs[k];
      const L = f.offsets[parts[k].n];
      indices.set(f.indices.subarray(0, L), pos);
      if (weights !== null) {
        if (f.weights === null) weights.fill(1, pos, pos + L);
        else weights.set(f.weights.subarray(0, L), pos);
      }
      pos += L;
    }
    return { lengths, offsets, indices, weights };
  });
  return { n, denseFeatures: Dd, dense, labels, sparse };
}
