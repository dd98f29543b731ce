// Training samples/s of the Kaggle-shaped DLRM (issue 4): 13 dense features, bottom MLP
// 13-512-256-64-16, 26 tables with the Criteo Kaggle row counts (2.2 GB of float32), dim 16,
// dot interaction, top MLP 367-512-256-1, one index per bag, SGD; random data. Each step runs
// as train() runs it: zeroGrad, then forward, backward and update inside withStepArena.
// Also the heap after GC over a long run (a steady-state step must leave nothing behind),
// the float storage a step allocates on the JS heap, and the model's GEMM work as a share
// of the SIMD ceilings measured in this process.
//
//   node --expose-gc --import tsx bench/train.bench.ts [--batch 128,2048] [--steps 200,30]
//        [--warmup 20] [--rows-cap R] [--heap-steps 1000]
//   DLRM_KERNELS=js … for the TypeScript reference kernels
//
// Prints progress on stderr and one JSON object on the last line of stdout:
//   { kernels, sgemmBuild, rowsCap, tableGB, initSeconds, flopPerSample,
//     runs: [{ batch, steps, samplesPerSec (batch / median step), samplesPerSecMean, msPerStep, msPerStepMedian, gemmGflops,
//              simdPeak: [before, after], fmaPeak: [before, after], ... }],
//     heap: { steps, batch, heapMB: [...], growthMB, ... } | null }
// bench/run.ts runs it in child processes for both kernel sets (npm run bench).
//
// FLOPs: a step multiplies 2·B·(Σ forward MACs) three times (forward, dx, dW) except the dx
// of the first layer (the dense input needs no gradient): 2.833 MFLOP per sample. The
// interaction, embeddings and elementwise work are not counted (they are memory-bound).

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd, relaxedSimdAvailable, wasmState } from "../src/kernels/wasm.ts";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { assemble } from "../kernels/build.ts";
import { batchOf } from "../src/data/batch.ts";
import type { Dataset } from "../src/data/dataset.ts";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { kernelSet } from "../src/kernels/index.ts";
import { defaultHeap } from "../src/kernels/memory.ts";
import { SGD } from "../src/optim/sgd.ts";
import { Rng } from "../src/tensor/rng.ts";
import { stepArenaStats, transientAllocatedBytes, withStepArena } from "../src/tensor/storage.ts";
import { peakProbe, probeRate } from "./ceilings.ts";
import type { Probe } from "./report.ts";

setFlagsFromString("--no-liftoff");
enableRelaxedSimd(); // as the `dlrm` command does

/** Row counts of the 26 Criteo Kaggle categorical features (the reference's day_*.npz counts). */
export const KAGGLE_TABLES = [
  1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173,
  4, 7046547, 18, 15, 286181, 105, 142572,
];
const BOTTOM = [13, 512, 256, 64, 16];
const TOP = [367, 512, 256, 1];

/** The Kaggle-shaped model (issue 4) over these table sizes, as a model JSON file (`dlrm train --model`) holds it. */
export function kaggleModel(tableSizes: readonly number[], batchSize = 128) {
  return {
    dense_features: 13,
    bottom_mlp: [...BOTTOM],
    embedding_dim: 16,
    table_sizes: [...tableSizes],
    pooling: "sum",
    interaction: "dot" as const,
    top_mlp: [...TOP],
    loss: "bce",
    optimizer: "sgd",
    lr: 0.01,
    batch_size: batchSize,
  };
}

/** One training step on batch s (samples [s·B, (s+1)·B)), as train() runs it: in a step arena. */
export function sgdStep(model: DLRM, opt: SGD, data: Dataset, s: number, B: number): void {
  opt.zeroGrad();
  withStepArena(() => {
    const { loss } = model.loss(batchOf(data, s * B, (s + 1) * B)); // the batch's offsets are step storage too
    loss.backward();
    opt.step();
  });
}

/** Multiply-adds of one sample's forward pass through both MLPs. */
function forwardMacs(): number {
  let m = 0;
  for (const sizes of [BOTTOM, TOP])
    for (let i = 0; i + 1 < sizes.length; i++) m += (sizes[i] as number) * (sizes[i + 1] as number);
  return m;
}
/** FLOPs of one sample's step: forward, dW and dx, less the first layer's dx. */
export const FLOP_PER_SAMPLE = 2 * (3 * forwardMacs() - (BOTTOM[0] as number) * (BOTTOM[1] as number));

function list(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1
    ? fallback
    : String(process.argv[i + 1])
        .split(",")
        .map(Number);
}
const num = (name: string, fallback: number): number => list(name, [fallback])[0] as number;
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/**
 * The compute ceiling of the relaxed build: the register-only loop of bench_kernels.wat's
 * simd_peak with f32x4.relaxed_madd (12 chains, 8 flops each per step); null without relaxed
 * SIMD or with the js kernels.
 */
export async function fmaPeakProbe(): Promise<Probe | null> {
  if (kernelSet !== "wasm" || !relaxedSimdAvailable()) return null;
  const chains = Array.from({ length: 12 }, (_, i) => i);
  // Every chain must reach the result: V8 deletes a chain whose value is never used, and the
  // loop would then time fewer multiply-adds than it counts (an earlier version summed two
  // of the twelve and reported a 1.5× too high peak).
  const live = chains.map((i) => `(local.get $a${i})`).reduce((sum, a) => `(f32x4.add ${sum} ${a})`);
  const text = `(module (func (export "peak") (param $iters i32) (result f32)
    (local $x v128) (local $y v128) ${chains.map((i) => `(local $a${i} v128)`).join(" ")}
    (local.set $x (v128.const f32x4 0.9999999 0.9999998 0.9999997 0.9999996))
    (local.set $y (v128.const f32x4 0.5 0.25 0.125 0.0625))
    (loop $l
      ${chains.map((i) => `(local.set $a${i} (f32x4.relaxed_madd (local.get $a${i}) (local.get $x) (local.get $y)))`).join("\n      ")}
      (br_if $l (local.tee $iters (i32.sub (local.get $iters) (i32.const 1)))))
    (f32x4.extract_lane 0 ${live})))`;
  const bytes = await assemble("fma_peak.wat", text, true);
  const peak = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.peak as (iters: number) => number;
  for (let i = 0; i < 50; i++) peak(10_000);
  return { name: "FMA peak", fn: () => peak(100_000), work: 100_000 * 12 * 8 };
}

async function main(): Promise<void> {
  const batches = list("batch", [128]);
  const stepsList = list("steps", [200]);
  const warmList = list("warmup", [20]);
  const cap = num("rows-cap", Infinity);
  const heapSteps = num("heap-steps", 0);
  const tables = KAGGLE_TABLES.map((r) => Math.min(r, cap));
  const tableBytes = tables.reduce((s, r) => s + r * 16 * 4, 0);
  const maxB = Math.max(...batches);
  const config = parseConfig(kaggleModel(tables, maxB));

  // The ceilings, measured again around every timed run: this VM's speed moves with the
  // load of the machine (the peak has measured 24 to 42 GFLOP/s on different minutes).
  const simdProbe = kernelSet === "wasm" ? await peakProbe() : null;
  const fmaProbe = await fmaPeakProbe();
  const ceilingsNow = (): { simdPeak: number | null; fmaPeak: number | null } => ({
    simdPeak: simdProbe === null ? null : round(probeRate(simdProbe)),
    fmaPeak: fmaProbe === null ? null : round(probeRate(fmaProbe)),
  });

  // Grow the wasm memory once for the tables and a step's arena (fresh pages are slow to
  // touch; growing in one go keeps the 64 MiB growth steps out of the model's build).
  const t0 = performance.now();
  if (kernelSet === "wasm") defaultHeap().reserve(tableBytes + (512 << 20));
  const model = new DLRM(config, 1);
  const opt = new SGD(model.parameters(), { lr: 0.01 });
  const trainStep = (data: Dataset, s: number, B: number): void => sgdStep(model, opt, data, s, B);
  const initSeconds = (performance.now() - t0) / 1000;
  log(
    `model built in ${initSeconds.toFixed(1)} s (${(tableBytes / 2 ** 30).toFixed(2)} GiB of tables, ${kernelSet} kernels${kernelSet === "wasm" ? `, sgemm ${wasmState().sgemmBuild}` : ""})`,
  );

  const gc = (globalThis as { gc?: () => void }).gc;
  const heapMB = (): number => {
    gc?.();
    return round(process.memoryUsage().heapUsed / 2 ** 20);
  };

  const runs: Record<string, unknown>[] = [];
  for (let k = 0; k < batches.length; k++) {
    const B = batches[k] as number;
    const steps = (stepsList[k] ?? stepsList[stepsList.length - 1]) as number;
    const warm = (warmList[k] ?? warmList[warmList.length - 1]) as number;
    const data = randomDataset({
      n: B * (steps + warm),
      denseFeatures: 13,
      tableSizes: tables,
      numIndicesPerLookup: 1,
      numIndicesPerLookupFixed: true,
      seed: 2 + k,
    });
    const step = (s: number): void => trainStep(data, s, B);
    for (let s = 0; s < warm; s++) step(s);
    const heapBefore = heapMB();
    const before = ceilingsNow();
    const transientBefore = transientAllocatedBytes();
    const times: number[] = [];
    const load = loadavg()[0] ?? 0;
    const start = performance.now();
    for (let s = 0; s < steps; s++) {
      const ts = performance.now();
      step(warm + s);
      times.push(performance.now() - ts);
    }
    const seconds = (performance.now() - start) / 1000;
    const after = ceilingsNow();
    times.sort((a, b) => a - b);
    const msPerStep = (seconds / steps) * 1000;
    const run = {
      batch: B,
      steps,
      warmup: warm,
      // B / the median step time, as bench/parallel.bench.ts reports its rates: on this shared
      // VM a few steps stall while the host runs other guests, and the mean takes them in
      samplesPerSec: Math.round((B * 1000) / (times[Math.floor(steps / 2)] as number)),
      samplesPerSecMean: Math.round((B * steps) / seconds),
      msPerStep: round(msPerStep, 2),
      msPerStepMedian: round(times[Math.floor(steps / 2)] as number, 2),
      msPerStepBest: round(times[0] as number, 2),
      // the GEMM work of a step over the whole step's time: a lower bound of the GEMM rate
      gemmGflops: round((FLOP_PER_SAMPLE * B) / (msPerStep * 1e6)),
      // the ceilings just before and just after the timed steps (GFLOP/s; null with js kernels)
      simdPeak: [before.simdPeak, after.simdPeak],
      fmaPeak: [before.fmaPeak, after.fmaPeak],
      transientBytesPerStep: Math.round((transientAllocatedBytes() - transientBefore) / steps),
      arenaMB: round(stepArenaStats().capacityBytes / 2 ** 20),
      heapMB: [heapBefore, heapMB()],
      loadAverage: round(load, 2),
    };
    log(
      `batch ${B}: ${run.samplesPerSec} samples/s (mean ${run.samplesPerSecMean}), ${run.msPerStep} ms/step (median ${run.msPerStepMedian}), load ${run.loadAverage}` +
        (before.fmaPeak === null
          ? ""
          : `; FMA peak ${before.fmaPeak} → ${after.fmaPeak}, SIMD peak ${before.simdPeak} → ${after.simdPeak} GFLOP/s`),
    );
    runs.push(run);
  }

  // The flat-heap check: many steady-state steps at the first batch size, heap after GC.
  let heap: Record<string, unknown> | null = null;
  if (heapSteps > 0) {
    const B = batches[0] as number;
    const data = randomDataset({
      n: B * heapSteps,
      denseFeatures: 13,
      tableSizes: tables,
      numIndicesPerLookup: 1,
      numIndicesPerLookupFixed: true,
      seed: 99,
    });
    const samples: number[] = [heapMB()];
    const transientBefore = transientAllocatedBytes();
    const topBefore = kernelSet === "wasm" ? defaultHeap().stats().topBytes : 0;
    const every = Math.max(1, Math.floor(heapSteps / 20));
    for (let s = 0; s < heapSteps; s++) {
      trainStep(data, s, B);
      if ((s + 1) % every === 0) samples.push(heapMB());
    }
    heap = {
      batch: B,
      steps: heapSteps,
      heapMB: samples,
      growthMB: round((samples[samples.length - 1] as number) - (samples[0] as number), 2),
      transientBytesPerStep: Math.round((transientAllocatedBytes() - transientBefore) / heapSteps),
      wasmHeapGrowthBytes: kernelSet === "wasm" ? defaultHeap().stats().topBytes - topBefore : 0,
    };
    log(`heap over ${heapSteps} steps at batch ${B}: ${samples.join(" ")} MB`);
  }

  console.log(
    JSON.stringify({
      kernels: kernelSet,
      sgemmBuild: kernelSet === "wasm" ? wasmState().sgemmBuild : null,
      rowsCap: Number.isFinite(cap) ? cap : null,
      tableGB: round(tableBytes / 1e9, 2),
      initSeconds: round(initSeconds),
      flopPerSample: FLOP_PER_SAMPLE,
      runs,
      heap,
      gcExposed: gc !== undefined,
    }),
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
