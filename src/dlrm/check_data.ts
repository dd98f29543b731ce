// Does a dataset fit a model? Checked once when data is loaded, so that a bad id or value is
// reported with the file, the tensor and the sample it came from instead of deep inside a
// step, or never (a NaN dense value makes a NaN prediction, which `predict` would write).
//
// Values: dense features and per-lookup weights must be finite; labels must be finite, and
// with the bce loss lie in [0, 1] (binary cross-entropy of a label 2 or -1 is a number, but
// a meaningless one). The mse loss takes any real label (a regression target).

import type { DLRMConfig } from "./config.ts";
import type { Dataset } from "../data/dataset.ts";
import { firstNonFinite } from "../tensor/finite.ts";

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

/** `sampleOf` names a sample by its number in the source (a streamed batch's rows in its file). */
export function checkDataset(
  d: Dataset,
  config: DLRMConfig,
  source: string,
  sampleOf: (i: number) => number = (i) => i,
): void {
  if (d.denseFeatures !== config.dense_features) {
    throw new DataError(
      `${source}: "dense" has ${d.denseFeatures} features per sample but the model's dense_features is ${config.dense_features}`,
    );
  }
  if (d.sparse.length !== config.table_sizes.length) {
    throw new DataError(
      `${source}: the data has ${d.sparse.length} tables (indices.0 ..) but the model has ${config.table_sizes.length}`,
    );
  }
  const Dd = d.denseFeatures;
  const k = firstNonFinite(d.dense);
  if (k !== -1)
    throw new DataError(
      `${source}: "dense" holds ${d.dense[k]} at sample ${sampleOf(Math.floor(k / Dd))}, feature ${k % Dd}: dense features must be finite`,
    );
  const nan = firstNonFinite(d.labels);
  // a label outside [0, 1] before the first non-finite one is reported first
  const checked = nan === -1 ? d.labels.length : nan;
  for (let i = 0; config.loss === "bce" && i < checked; i++) {
    const y = d.labels[i];
    if (!(y >= 0 && y <= 1)) {
      throw new DataError(
        `${source}: "labels" holds ${y} at sample ${sampleOf(i)}, outside [0, 1], which the bce loss needs (a click is 0 or 1; give the model "loss": "mse" for real-valued targets)`,
      );
    }
  }
  if (nan !== -1)
    throw new DataError(`${source}: "labels" holds ${d.labels[nan]} at sample ${sampleOf(nan)}: labels must be finite`);
  d.sparse.forEach((f, t) => {
    const l = f.weights === null ? -1 : firstNonFinite(f.weights);
    if (f.weights !== null && l !== -1)
      throw new DataError(
        `${source}: "weights.${t}" holds ${f.weights[l]} at position ${l} (sample ${sampleOf(upperBound(f.offsets, l) - 1)}): per-lookup weights must be finite`,
      );
    const R = config.table_sizes[t];
    for (let l = 0; l < f.indices.length; l++) {
      const id = f.indices[l];
      if (id < 0 || id >= R) {
        const sample = upperBound(f.offsets, l) - 1;
        throw new DataError(
          `${source}: "indices.${t}" holds id ${id} at position ${l} (sample ${sampleOf(sample)}), out of range for table ${t} with ${R} rows`,
        );
      }
    }
  });
}

/** The first i with offsets[i] > l. */
function upperBound(offsets: Int32Array, l: number): number {
  let lo = 0;
  let hi = offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (offsets[mid] > l) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
