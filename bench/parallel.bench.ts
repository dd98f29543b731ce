// Hybrid-parallel training throughput: samples/s of the Kaggle-shaped DLRM (issue 4: 13
// dense features, bottom 13-512-256-64-16, the 26 Criteo Kaggle tables of dim 16, dot
// interaction, top 367-512-256-1, one index per bag, SGD) for
//   - train() on the main thread (no workers),
//   - the HybridExecutor with 1 rank worker (the same machinery, one rank),
//   - the HybridExecutor with 2 (or more) rank workers,
// at batch 128 and 2048, with each hybrid run's time split by phase (averaged over the
// ranks). Warm-up steps are run first and left out of every figure.
//
// The machine is shared with other work, so each configuration runs in several rounds,
// interleaved (train, N=1, N=2, train, N=1, N=2, …), and the figures are those of its
// least disturbed round: samples/s from the median step time of the round (also shown:
// from the round's total time), phases from the same round.
//
// The figures are of the steady state of a long run: V8 keeps optimising the step's
// JavaScript on its helper threads for the first few hundred steps, taking CPU from the
// training threads on this 2-core machine, so each run first trains at least
// --warmup-samples samples (313 steps at batch 128, 20 at batch 2048) before it measures.
//
// Before each round it waits (at most --quiet-wait seconds) until the machine's CPUs are
// idle, and it records how many cores other processes kept busy during each round (Linux:
// /proc/stat minus this process's own CPU time), so a figure can be read with its load.
//
//   node --import tsx bench/parallel.bench.ts [--steps 30] [--warmup 5] [--warmup-samples 40000] [--rounds 3]
//        [--batches 128,2048] [--workers 1,2] [--cap 1000000] [--quiet-wait 60]
//        [--out bench/parallel_results.json] [--docs]
//
// --cap limits each table's rows (the full Kaggle tables hold 33.8M rows, 2.2 GB at dim
// 16; every run builds its model afresh, and fresh memory is slow to touch on this
// machine). 0 means no cap.
//
// Glossary: B batch size, N workers, S measured steps.

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd } from "../src/kernels/wasm.ts";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { replaceSection } from "./docs_sections.ts";
import { CoreProbe } from "./core_probe.ts";
import {
  PARALLEL_SECTION,
  renderParallelSection,
  type ParallelRun,
  type ParallelRunResult,
} from "./parallel_markdown.ts";
import { cpus } from "node:os";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { kernelSet } from "../src/kernels/index.ts";
import { SGD } from "../src/optim/sgd.ts";
import { HybridExecutor } from "../src/parallel/hybrid.ts";
import { optimizerSpec } from "../src/optim/make.ts";
import { threadCpuMs } from "../src/parallel/rank_files.ts";
import { STEP_PHASES, type StepPhase } from "../src/parallel/protocol.ts";
import { Rng } from "../src/tensor/rng.ts";
import { train } from "../src/train/trainer.ts";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";

// wasm code starts in the baseline compiler and a running call is never upgraded: compile
// optimised code from the start (worker threads share the process's V8 flags).
setFlagsFromString("--no-liftoff");
enableRelaxedSimd(); // as the `dlrm` command does

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}
const steps = Number(arg("steps", "30"));
const minWarmup = Number(arg("warmup", "5"));
const warmupSamples = Number(arg("warmup-samples", "40000"));
/** Warm-up steps at batch B. */
const warmupFor = (B: number): number => Math.max(minWarmup, Math.ceil(warmupSamples / B));
const rounds = Number(arg("rounds", "3"));
const batches = arg("batches", "128,2048").split(",").map(Number);
const workerCounts = arg("workers", "1,2").split(",").map(Number);
const cap = Number(arg("cap", "1000000"));
const out = arg("out", "bench/parallel_results.json");
const quietWaitMs = Number(arg("quiet-wait", "60")) * 1000;

const tables = KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R));
const config = parseConfig(kaggleModel(tables), "Kaggle-shaped DLRM");

/** Step durations (ms) after the warm-up, from the times the steps ended; and the process's CPU time over those steps. */
function stepClock(warmup: number): { onStep: () => void; durations: () => number[]; cpuMsPerStep: () => number } {
  const ends: number[] = [performance.now()];
  const cpu: number[] = [cpuMs()];
  return {
    onStep: () => {
      ends.push(performance.now());
      cpu.push(cpuMs());
    },
    durations: () =>
      ends
        .slice(warmup)
        .map((t, i, a) => (i === 0 ? 0 : t - (a[i - 1] as number)))
        .slice(1),
    cpuMsPerStep: () => ((cpu[cpu.length - 1] as number) - (cpu[warmup] as number)) / steps,
  };
}

/** Busy and total CPU time of the whole machine, in ms (Linux), or null. */
function machineCpu(): { busy: number; total: number } | null {
  if (!existsSync("/proc/stat")) return null;
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0) * 10; // USER_HZ = 100
  const idle = ((f[3] ?? 0) + (f[4] ?? 0)) * 10; // idle + iowait
  return { busy: total - idle, total };
}

/** Cores kept busy by other processes between two readings (machine busy time minus ours, over wall time). */
function otherCores(m0: { busy: number } | null, m1: { busy: number } | null, ours: number, wallMs: number): number {
  if (m0 === null || m1 === null || wallMs <= 0) return Number.NaN;
  return Math.max(0, (m1.busy - m0.busy - ours) / wallMs);
}

/** Wait until other processes use under 0.25 cores over one second, for at most maxMs; returns what they used last. */
async function waitForQuiet(maxMs: number): Promise<number> {
  const until = performance.now() + maxMs;
  for (;;) {
    const m0 = machineCpu();
    const c0 = cpuMs();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const used = otherCores(m0, machineCpu(), cpuMs() - c0, performance.now() - t0);
    if (!(used >= 0.25) || performance.now() > until) return used;
  }
}

/** CPU time of the whole process (every thread), user + system, in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const results: ParallelRunResult[] = [];
const rowsTotal = tables.reduce((a, b) => a + b, 0);
console.log(
  `Kaggle-shaped DLRM: ${tables.length} tables, ${rowsTotal.toLocaleString("en")} rows${cap > 0 ? ` (capped at ${cap.toLocaleString("en")})` : ""}, ` +
    `kernels ${kernelSet}, ${steps} steps after ${warmupSamples} samples of warm-up (at least ${minWarmup} steps), best of ${rounds} rounds, ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`,
);
// One model, trained on run after run (the speed does not depend on the values): the full
// tables take 2.2 GB of the main thread's 4 GiB wasm memory, so there is room for only one.
const model = new DLRM(config, 1); // its parameters are resident
const probe = new CoreProbe();
for (const B of batches) {
  const warmup = warmupFor(B);
  const data = randomDataset({
    n: (steps + warmup) * B,
    denseFeatures: 13,
    tableSizes: tables,
    numIndicesPerLookup: 1,
    numIndicesPerLookupFixed: true,
    seed: 7,
  });
  const common = { data, batchSize: B, steps: steps + warmup, shuffle: false, seed: 0 };
  const runners = [0, ...workerCounts];
  type Round = {
    durations: number[];
    cpuMsPerStep: number;
    criticalCpuMsPerStep: number;
    otherCores: number;
    coreScaling: number;
    phases: Record<StepPhase, number> | null;
  };
  const rounds_: Round[][] = runners.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [k, N] of runners.entries()) {
      await waitForQuiet(quietWaitMs);
      const coreScaling = probe.scaling();
      const m0 = machineCpu();
      const c0 = cpuMs();
      const w0 = performance.now();
      const clock = stepClock(warmup);
      let phases: Record<StepPhase, number> | null = null;
      let critical = 0;
      if (N === 0) {
        let last = threadCpuMs();
        await train({
          ...common,
          model,
          optimizer: new SGD(model.parameters(), { lr: config.lr }),
          onStep: (r) => {
            clock.onStep();
            const now = threadCpuMs();
            if (r.step >= warmup) critical += (now - last) / steps;
            last = now;
          },
        });
      } else {
        const sum = Object.fromEntries(STEP_PHASES.map((p) => [p, 0])) as Record<StepPhase, number>;
        // The ranks make their own tables (the start is not timed: the steps are).
        const executor = await HybridExecutor.start({
          config,
          workers: N,
          optimizer: optimizerSpec("sgd", config.lr),
          source: { kind: "seed", seed: 1 },
          datasets: [data],
          maxBatch: B,
          onStepStats: (step, { phaseMs, rankCpuMs }) => {
            if (step < warmup) return;
            for (const p of STEP_PHASES) sum[p] += phaseMs[p] / steps;
            critical += Math.max(...rankCpuMs) / steps;
          },
        });
        try {
          await train({ ...common, executor, lr: config.lr, onStep: clock.onStep });
        } finally {
          await executor.close();
        }
        phases = sum;
      }
      const d = clock.durations();
      const others = otherCores(m0, machineCpu(), cpuMs() - c0, performance.now() - w0);
      (rounds_[k] as Round[]).push({
        durations: d,
        cpuMsPerStep: clock.cpuMsPerStep(),
        criticalCpuMsPerStep: critical,
        otherCores: others,
        coreScaling,
        phases,
      });
      console.log(
        `batch ${B}, ${N === 0 ? "train()" : `${N} worker${N > 1 ? "s" : ""}`}, round ${round + 1}: median step ${median(d).toFixed(2)} ms, other processes used ${others.toFixed(2)} cores, two-core scaling before it ${coreScaling.toFixed(2)}`,
      );
    }
  }
  runners.forEach((N, k) => {
    const rs = rounds_[k] as Round[];
    const medians = rs.map((r) => median(r.durations));
    const best = rs[medians.indexOf(Math.min(...medians))] as Round;
    const total = best.durations.reduce((a, b) => a + b, 0);
    results.push({
      runner: N === 0 ? "train() (main thread)" : "HybridExecutor",
      batch: B,
      workers: N,
      samplesPerSec: B / (median(best.durations) / 1000),
      samplesPerSecMean: (best.durations.length * B) / (total / 1000),
      msPerStepMedian: median(best.durations),
      roundMedians: medians,
      cpuMsPerStep: best.cpuMsPerStep,
      otherCores: best.otherCores,
      coreScaling: best.coreScaling,
      criticalCpuMsPerStep: Math.min(...rs.map((r) => r.criticalCpuMsPerStep)),
      phaseMsPerStep: best.phases,
    });
  });
}

// Summary: samples/s, speed-up over one worker, and the phase split (ms per step).
const short: Record<StepPhase, string> = {
  lookup: "lookup",
  "all-to-all forward": "a2a fwd",
  "MLP forward": "MLP fwd",
  "MLP backward": "MLP bwd",
  "all-to-all backward": "a2a bwd",
  "embedding backward": "emb bwd",
  "all-reduce": "allreduce",
  update: "update",
};
console.log(
  `\n${"batch".padStart(5)}  ${"runner".padEnd(22)} ${"samples/s".padStart(10)} ${"(mean)".padStart(8)} ${"ms/step".padStart(8)} ${"vs 1".padStart(6)}` +
    ` ${"others".padStart(6)} │ ${"cpu ms".padStart(7)} ${"crit ms".padStart(8)} ${"idle est.".padStart(9)} ${"vs 1".padStart(6)} │ ${STEP_PHASES.map((p) => short[p].padStart(9)).join(" ")}`,
);
for (const r of results) {
  const one = results.find((x) => x.batch === r.batch && x.workers === 1);
  const ratio = (a: number, b: number | undefined): string =>
    b === undefined || r.workers === 0 ? "" : `${(a / b).toFixed(2)}×`;
  const label = r.workers === 0 ? r.runner : `${r.runner} N=${r.workers}`;
  const idle = r.batch / (r.criticalCpuMsPerStep / 1000);
  const oneIdle = one === undefined ? undefined : one.batch / (one.criticalCpuMsPerStep / 1000);
  const ph =
    r.phaseMsPerStep === null
      ? ""
      : STEP_PHASES.map((p) => (r.phaseMsPerStep as Record<StepPhase, number>)[p].toFixed(2).padStart(9)).join(" ");
  console.log(
    `${String(r.batch).padStart(5)}  ${label.padEnd(22)} ${r.samplesPerSec.toFixed(0).padStart(10)} ${r.samplesPerSecMean.toFixed(0).padStart(8)} ${r.msPerStepMedian.toFixed(2).padStart(8)} ${ratio(r.samplesPerSec, one?.samplesPerSec).padStart(6)}` +
      ` ${r.otherCores.toFixed(2).padStart(6)} │ ${r.cpuMsPerStep.toFixed(2).padStart(7)} ${r.criticalCpuMsPerStep.toFixed(2).padStart(8)} ${idle.toFixed(0).padStart(9)} ${ratio(idle, oneIdle).padStart(6)} │ ${ph}`,
  );
}
console.log(
  "\nsamples/s: from the median step of the best round; (mean): from that round's total time; others: cores other processes kept\n" +
    "busy during that round; cpu ms: CPU time of all threads per step; crit ms: CPU time of the busiest training thread per step\n" +
    "(lowest of the rounds); idle est.: batch / crit ms, the rate on an otherwise idle machine.",
);
await probe.close();
const run: ParallelRun = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/parallel.bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
  machine: { cpu: cpus()[0]?.model ?? "?", cores: cpus().length, node: process.version },
  kernels: kernelSet,
  cap,
  rowsTotal,
  steps,
  warmupSteps: Object.fromEntries(batches.map((B) => [String(B), warmupFor(B)])),
  rounds,
  results,
};
writeFileSync(out, `${JSON.stringify(run, null, 2)}\n`);
console.log(`\nwritten to ${out}`);
if (process.argv.includes("--docs")) {
  const docs = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
  writeFileSync(
    docs,
    replaceSection(
      existsSync(docs) ? readFileSync(docs, "utf8") : "# Benchmarks\n",
      PARALLEL_SECTION,
      renderParallelSection(run),
    ),
  );
  console.log("docs/benchmarks.md: the hybrid-parallel section rewritten");
}
