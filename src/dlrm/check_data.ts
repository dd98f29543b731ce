// Does a dataset fit a model? Checked once when data is loaded, so that a bad id is
// reported with the file and the tensor it came from instead of deep inside a step.

import type { DLRMConfig } from "./config.ts";
import type { Dataset } from "../data/dataset.ts";

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

export function checkDataset(d: Dataset, config: DLRMConfig, source: string): void {
  if (d.denseFeatures !== config.dense_features) {
    throw new DataError(`${source}: "dense" has ${d.denseFeatures} features per sample but the model's dense_features is ${config.dense_features}`);
  }
  if (d.sparse.length !== config.table_sizes.length) {
    throw new DataError(`${source}: the data has ${d.sparse.length} tables (indices.0 ..) but the model has ${config.table_sizes.length}`);
  }
  d.sparse.forEach((f, t) => {
    const R = config.table_sizes[t] as number;
    for (let l = 0; l < f.indices.length; l++) {
      const id = f.indices[l] as number;
      if (id < 0 || id >= R) {
        const sample = upperBound(f.offsets, l) - 1;
        throw new DataError(`${source}: "indices.${t}" holds id ${id} at position ${l} (sample ${sample}), out of range for table ${t} with ${R} rows`);
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
    if ((offsets[mid] as number) > l) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
