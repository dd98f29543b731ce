// Training samples/s of the Kaggle-shaped DLRM (issue 4): 13 dense features, bottom MLP
// 13-512-256-64-16, 26 tables with the Criteo Kaggle row counts, dim 16, dot interaction,
// top MLP 367-512-256-1, one index per bag, SGD; random data. Also the heap after GC over
// the run, to show that a steady-state step leaves nothing behind.
//
//   node --expose-gc --import tsx bench/train.bench.ts [--batch 128] [--steps 300] [--rows-cap R]
//   DLRM_KERNELS=js … for the TypeScript reference kernels
//
// Prints one JSON line: { kernels, batch, steps, samplesPerSec, msPerStep, heapMB: [...] }.
// bench/run.ts runs it in child processes for both kernel sets and both batch sizes.

import { setFlagsFromString } from "node:v8";
import { batchOf } from "../src/data/batch.ts";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { kernelSet } from "../src/kernels/index.ts";
import { SGD } from "../src/optim/sgd.ts";
import { Rng } from "../src/tensor/rng.ts";

setFlagsFromString("--no-liftoff");

/** Row counts of the 26 Criteo Kaggle categorical features (the reference's day_*.npz counts). */
export const KAGGLE_TABLES = [
  1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15,
  286181, 105, 142572,
];

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const B = arg("batch", 128);
const steps = arg("steps", 300);
const cap = arg("rows-cap", Infinity);
const tables = KAGGLE_TABLES.map((r) => Math.min(r, cap));
const config = parseConfig({
  dense_features: 13,
  bottom_mlp: [13, 512, 256, 64, 16],
  embedding_dim: 16,
  table_sizes: tables,
  interaction: "dot",
  top_mlp: [367, 512, 256, 1],
  optimizer: "sgd",
  lr: 0.01,
  batch_size: B,
});

const t0 = performance.now();
const model = new DLRM(config, new Rng(1));
const initSeconds = (performance.now() - t0) / 1000;
const warm = 20;
const data = randomDataset({ n: B * (steps + warm), denseFeatures: 13, tableSizes: tables, numIndicesPerLookup: 1, numIndicesPerLookupFixed: true, seed: 2 });
const opt = new SGD(model.parameters(), { lr: 0.01 });

const gc = (globalThis as { gc?: () => void }).gc;
const heapMB: number[] = [];
function step(s: number): void {
  opt.zeroGrad();
  const { loss } = model.loss(batchOf(data, s * B, (s + 1) * B));
  loss.backward();
  opt.step();
}
for (let s = 0; s < warm; s++) step(s);
const start = performance.now();
for (let s = 0; s < steps; s++) {
  step(warm + s);
  if (gc !== undefined && s % Math.max(1, Math.floor(steps / 10)) === 0) {
    gc();
    heapMB.push(Math.round((process.memoryUsage().heapUsed / 2 ** 20) * 10) / 10);
  }
}
const seconds = (performance.now() - start) / 1000;
console.log(
  JSON.stringify({ kernels: kernelSet, batch: B, steps, rowsCap: Number.isFinite(cap) ? cap : null, initSeconds: Math.round(initSeconds * 10) / 10, samplesPerSec: Math.round((B * steps) / seconds), msPerStep: Math.round((seconds / steps) * 1e4) / 10, heapMB }),
);
