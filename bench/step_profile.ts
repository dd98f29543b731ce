// Where a training step's time goes: the Kaggle-shaped DLRM of bench/train.bench.ts, trained
// as train() does (one thread, the main thread), timed per phase (zeroGrad, forward with the
// loss, backward, optimizer step) and, inside each phase, every wasm kernel call grouped by
// kernel (and, for sgemm, by shape and transposes). The rest of a phase ("outside the
// kernels") is JS: batching, the tape, unique-row sorting, optimizer bookkeeping. A tool for
// finding what to speed up next, not a benchmark with targets: timing each call adds ~1 µs.
//
//   node --import tsx bench/step_profile.ts [--batch 2048] [--steps 20] [--warmup 10] [--rows-cap 100000]
//
// Glossary: tA, tB the transpose flags of sgemm; M, N, K its dims (C is M×N).

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd, wasmState, type RawKernels } from "../src/kernels/wasm.ts";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { kernelSet } from "../src/kernels/index.ts";
import { defaultHeap } from "../src/kernels/memory.ts";
import { SGD } from "../src/optim/sgd.ts";
import { Rng } from "../src/tensor/rng.ts";
import { batchOf } from "../src/data/batch.ts";
import { withStepArena } from "../src/tensor/storage.ts";
import { KAGGLE_TABLES } from "./train.bench.ts";

setFlagsFromString("--no-liftoff");
enableRelaxedSimd(); // as the `dlrm` command does

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

if (kernelSet !== "wasm") throw new Error("step_profile times the wasm kernels; unset DLRM_KERNELS");
const B = arg("batch", 2048);
const steps = arg("steps", 20);
const warmup = arg("warmup", 10);
const cap = arg("rows-cap", 100_000);
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
defaultHeap().reserve(tables.reduce((s, r) => s + r * 16 * 4, 0) + (512 << 20));
const model = new DLRM(config, 1);
const opt = new SGD(model.parameters(), { lr: 0.01 });
const data = randomDataset({
  n: B * (steps + warmup),
  denseFeatures: 13,
  tableSizes: tables,
  numIndicesPerLookup: 1,
  numIndicesPerLookupFixed: true,
  seed: 2,
});

// Wrap every export of this thread's kernels: the wrappers in wasm.ts call through the raw
// object on each call, so replacing its functions times every call the ops make.
const timed = new Map<string, { ms: number; flop: number; calls: number }>();
let timing = false;
/** The phase the step is in: kernel calls are grouped under it. */
let phase = "zeroGrad";
const phaseMs = new Map<string, number>();
const raw = wasmState().raw as unknown as Record<keyof RawKernels, (...args: number[]) => number>;
for (const name of Object.keys(raw) as (keyof RawKernels)[]) {
  const inner = raw[name];
  raw[name] = (...a: number[]): number => {
    if (!timing) return inner(...a);
    const t0 = performance.now();
    const result = inner(...a);
    const ms = performance.now() - t0;
    const isGemm = name === "sgemm_f32";
    // sgemm_f32(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, work, bias, relu)
    const key = `${phase.padEnd(8)} ${
      isGemm
        ? `sgemm tA${a[0]} tB${a[1]} M=${a[2]} N=${a[3]} K=${a[4]}${a[14] ? " +bias" : ""}${a[15] ? " +relu" : ""}`
        : name
    }`;
    const e = timed.get(key) ?? { ms: 0, flop: 0, calls: 0 };
    e.ms += ms;
    e.calls += 1;
    if (isGemm) e.flop += 2 * (a[2] as number) * (a[3] as number) * (a[4] as number);
    timed.set(key, e);
    return result;
  };
}

/** train.bench.ts sgdStep with each phase timed: the same calls in the same order. */
const inPhase = <T>(name: string, f: () => T): T => {
  phase = name;
  const t = performance.now();
  const r = f();
  if (timing) phaseMs.set(name, (phaseMs.get(name) ?? 0) + performance.now() - t);
  return r;
};
const step = (s: number): void => {
  inPhase("zeroGrad", () => opt.zeroGrad());
  withStepArena(() => {
    const { loss } = inPhase("forward", () => model.loss(batchOf(data, s * B, (s + 1) * B)));
    inPhase("backward", () => loss.backward());
    inPhase("update", () => opt.step());
  });
};
for (let s = 0; s < warmup; s++) step(s);
timing = true;
const t0 = performance.now();
for (let s = 0; s < steps; s++) step(warmup + s);
const stepMs = (performance.now() - t0) / steps;

let kernelMs = 0;
console.log(`batch ${B}, tables capped at ${cap} rows, ${steps} steps: ms per step by kernel`);
for (const [key, e] of [...timed.entries()].sort((x, y) => y[1].ms - x[1].ms)) {
  const ms = e.ms / steps;
  kernelMs += ms;
  const rate = e.flop > 0 ? `${(e.flop / e.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s` : " ".repeat(14);
  console.log(`${ms.toFixed(2).padStart(8)} ms  ${(e.calls / steps).toFixed(0).padStart(3)}×  ${rate}  ${key}`);
}
console.log(
  `${stepMs.toFixed(1).padStart(8)} ms  the whole step (${kernelMs.toFixed(1)} in kernels, ${(stepMs - kernelMs).toFixed(1)} outside)`,
);
console.log("ms per step by phase: in kernels, outside them (JS), and the whole phase");
for (const [name, ms] of phaseMs) {
  const inKernels = [...timed.entries()]
    .filter(([k]) => k.startsWith(`${name.padEnd(8)} `))
    .reduce((a, [, e]) => a + e.ms, 0);
  console.log(
    `${(inKernels / steps).toFixed(2).padStart(8)} ms kernels ${((ms - inKernels) / steps).toFixed(2).padStart(8)} ms JS ${(ms / steps).toFixed(2).padStart(8)} ms  ${name}`,
  );
}
