// Data of a run as the registry opens it: a Dataset in memory, or a BatchSource whose batches
// are read when they are due (a streamed batch file). What a run needs to know of either — its
// samples — and the check that data fits the model, which for a source runs on each batch as
// it comes (a bad id or value stops the run with the file, the step, the sample and the
// value). What the sharding plan and the ranks' staging memory need of it is the run
// recipe's (lookupsPerSampleOfData, stagingData: src/run/recipe.ts).
//
// Glossary: N samples, F tables, B batch size.

import { BatchFileSource } from "../batch_file_source.ts";
import { isBatchSource, type BatchSource } from "../batch_source.ts";
import type { Dataset } from "../dataset.ts";
import { checkDataset, DataError } from "../../dlrm/check_data.ts";
import type { DLRMConfig } from "../../dlrm/config.ts";

/** Training or evaluation data of a run. */
export type RunData = Dataset | BatchSource;

/** Samples per epoch. */
export function samplesOf(d: RunData): number {
  return isBatchSource(d) ? d.samplesPerEpoch : d.n;
}

/** Checks data against the model: a Dataset whole, now; a source's shape now and each batch as it comes. */
export function checkRunData(d: RunData, config: DLRMConfig, source: string): RunData {
  if (!isBatchSource(d)) {
    checkDataset(d, config, source);
    return d;
  }
  if (d.denseFeatures !== config.dense_features)
    throw new DataError(
      `${source}: "dense" has ${d.denseFeatures} features per sample but the model's dense_features is ${config.dense_features}`,
    );
  if (d.tables !== config.table_sizes.length)
    throw new DataError(
      `${source}: the data has ${d.tables} tables (indices.0 ..) but the model has ${config.table_sizes.length}`,
    );
  return new CheckedSource(d, config, source);
}

/** A source whose batches are checked against the model as they are read. */
class CheckedSource implements BatchSource {
  readonly #inner: BatchSource;
  readonly #config: DLRMConfig;
  readonly #source: string;
  constructor(inner: BatchSource, config: DLRMConfig, source: string) {
    this.#inner = inner;
    this.#config = config;
    this.#source = source;
    if (inner.withOrder !== undefined) {
      const withOrder = inner.withOrder.bind(inner);
      this.withOrder = (o) => new CheckedSource(withOrder(o), config, source);
    }
  }
  withOrder?: (order: { shuffle: boolean; seed: number }) => BatchSource;
  get denseFeatures(): number {
    return this.#inner.denseFeatures;
  }
  get tables(): number {
    return this.#inner.tables;
  }
  get samplesPerEpoch(): number {
    return this.#inner.samplesPerEpoch;
  }
  get bags() {
    return this.#inner.bags;
  }
  async batch(step: number, batchSize: number): Promise<Dataset> {
    const b = await this.#inner.batch(step, batchSize);
    const inner = this.#inner;
    if (inner instanceof BatchFileSource) {
      // A bad value is named by its row in the file (the rows are worked out only then).
      let rows: Int32Array | null = null;
      checkDataset(b, this.#config, this.#source, (i) => (rows ??= inner.rowsOf(step, batchSize))[i]);
    } else checkDataset(b, this.#config, `${this.#source} (the batch of step ${step})`);
    return b;
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Closes the data of a run that holds files open. */
export async function closeRunData(...data: (RunData | null)[]): Promise<void> {
  await Promise.all(data.map((d) => (d !== null && isBatchSource(d) ? d.close() : undefined)));
}
