// What `--data` and `--eval-data` name: a batch file (our preprocessed format), or a
// generator: `random` (the reference's random data) or `synthetic` (labels from a hidden
// teacher model, with a held-out split for evaluation).

import { existsSync } from "node:fs";
import { UsageError } from "./args.ts";
import { readBatchFile } from "../data/batch_file.ts";
import type { Dataset } from "../data/dataset.ts";
import { randomDataset } from "../data/random.ts";
import { checkDataset } from "../dlrm/check_data.ts";
import type { DLRMConfig } from "../dlrm/config.ts";
import { syntheticData } from "../dlrm/synthetic.ts";

export interface DataRequest {
  spec: string;
  evalSpec: string | null;
  config: DLRMConfig;
  seed: number;
  /** Samples to generate for random / synthetic training data. */
  dataSize: number;
  /** Lookups per bag for random data, and whether that number is fixed. */
  numIndicesPerLookup: number;
  numIndicesPerLookupFixed: boolean;
}

export interface LoadedData {
  train: Dataset;
  eval: Dataset | null;
  /** Facts to print, e.g. the synthetic teacher's AUC. */
  notes: Record<string, number | string>;
}

export function loadData(r: DataRequest): LoadedData {
  const notes: Record<string, number | string> = {};
  let train: Dataset;
  let evalData: Dataset | null = null;
  if (r.spec === "random") {
    train = random(r, r.dataSize, r.seed);
  } else if (r.spec === "synthetic") {
    const evalSize = r.evalSpec === null ? Math.max(1000, Math.round(r.dataSize / 5)) : 0;
    const s = syntheticData(r.config, { sizes: evalSize > 0 ? [r.dataSize, evalSize] : [r.dataSize], seed: r.seed });
    train = s.splits[0] as Dataset;
    if (evalSize > 0) {
      evalData = s.splits[1] as Dataset;
      notes.teacher_auc = round(s.teacherAuc[1] as number);
    }
  } else {
    train = readFile(r.spec, "--data");
  }
  checkDataset(train, r.config, r.spec);
  if (r.evalSpec !== null) {
    evalData = r.evalSpec === "random" ? random(r, Math.max(1000, Math.round(r.dataSize / 5)), r.seed + 1) : readFile(r.evalSpec, "--eval-data");
    checkDataset(evalData, r.config, r.evalSpec);
  }
  return { train, eval: evalData, notes };
}

function readFile(path: string, flag: string): Dataset {
  if (!existsSync(path)) throw new UsageError(`train: ${flag} "${path}" is neither a file nor one of random, synthetic`);
  return readBatchFile(path);
}

function random(r: DataRequest, n: number, seed: number): Dataset {
  return randomDataset({
    n,
    denseFeatures: r.config.dense_features,
    tableSizes: r.config.table_sizes,
    numIndicesPerLookup: r.numIndicesPerLookup,
    numIndicesPerLookupFixed: r.numIndicesPerLookupFixed,
    perSampleWeights: r.config.per_sample_weights,
    seed,
  });
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
