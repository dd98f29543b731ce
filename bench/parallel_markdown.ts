// The hybrid-parallel section of docs/benchmarks.md, rendered from a run of
// bench/parallel.bench.ts (which writes it with --docs; bench/docs_sections.ts keeps it when
// bench/run.ts rewrites the rest of the file).
//
// Glossary: B batch size, N workers.

import { STEP_PHASES, type StepPhase } from "../src/parallel/protocol.ts";

export const PARALLEL_SECTION = "parallel";

/** Issue 5's targets: 2 workers against 1, per batch size. */
export const PARALLEL_TARGETS: readonly { batch: number; speedup: number }[] = [
  { batch: 128, speedup: 1.4 },
  { batch: 2048, speedup: 1.7 },
];

export interface ParallelRunResult {
  runner: string;
  batch: number;
  /** 0 for train() on the main thread. */
  workers: number;
  /** From the median step time of the best round. */
  samplesPerSec: number;
  /** From the total time of that round. */
  samplesPerSecMean: number;
  msPerStepMedian: number;
  /** Median per round, every round (to show the spread). */
  roundMedians: number[];
  /** CPU time of all threads per step in that round: the work, whatever the machine's load. */
  cpuMsPerStep: number;
  /** Cores other processes kept busy during that round (NaN where unknown). */
  otherCores: number;
  /** The two-core scaling measured just before that round (bench/core_probe.ts): 2.0 when both cores are free. */
  coreScaling: number;
  /**
   * Per step, the CPU time of the busiest training thread (the main thread for train(), the
   * slowest rank for the HybridExecutor), averaged over the steps: the step time on an otherwise
   * idle machine, leaving out waits that are not CPU work (wake-ups, imbalance between phases).
   */
  criticalCpuMsPerStep: number;
  phaseMsPerStep: Record<StepPhase, number> | null;
}

export interface ParallelRun {
  date: string;
  command: string;
  machine: { cpu: string; cores: number; node: string };
  kernels: string;
  /** Rows per table at most (0: the full Kaggle tables). */
  cap: number;
  rowsTotal: number;
  steps: number;
  warmupSteps: Record<string, number>;
  rounds: number;
  results: ParallelRunResult[];
}

/** x with thousands separators and `digits` decimals (en-US). */
export const fmt = (x: number, digits = 0): string =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The speed-up of N workers over 1 at batch B, or null when either was not run. */
export function speedup(results: readonly ParallelRunResult[], B: number, N: number): number | null {
  const one = results.find((r) => r.batch === B && r.workers === 1);
  const n = results.find((r) => r.batch === B && r.workers === N);
  return one === undefined || n === undefined ? null : n.samplesPerSec / one.samplesPerSec;
}

export function renderParallelSection(run: ParallelRun): string {
  const tables =
    run.cap > 0
      ? `tables capped at ${fmt(run.cap)} rows (${fmt(run.rowsTotal)} rows in all)`
      : `the full Kaggle tables (${fmt(run.rowsTotal)} rows, ${((run.rowsTotal * 64) / 1e9).toFixed(1)} GB at dim 16)`;
  const warm = Object.entries(run.warmupSteps)
    .map(([B, w]) => `${w} at batch ${B}`)
    .join(", ");
  const lines = [
    "## Hybrid-parallel training (bench/parallel.bench.ts)",
    "",
    "Issue 5's benchmark, written by `node --import tsx bench/parallel.bench.ts --docs` (the command",
    'below). The Kaggle-shaped DLRM of "Training" above (SGD, one index per bag) on random data,',
    "with `train()` on the main thread, the `HybridExecutor` with 1 rank worker (the same machinery, one",
    "rank) and with 2. Each run first trains warm-up steps, then times the measured ones: V8 keeps",
    "optimising the step's JavaScript on its helper threads for the first few hundred steps, and",
    "on 2 cores that CPU comes out of the ranks' time, so the figures are those of a long run's",
    "steady state. The runs go in interleaved rounds, each started once the machine's other",
    "processes are quiet; the best round of each configuration is shown (*samples/s* from its",
    "median step), with the cores other processes used during it. docs/parallelism.md explains the",
    "phases.",
    "",
    "### Machine and run",
    "",
    `- date: ${run.date}`,
    `- CPU: ${run.machine.cpu}, ${run.machine.cores} cores; Node ${run.machine.node}; kernels ${run.kernels}`,
    `- command: \`${run.command}\``,
    `- ${tables}; ${run.steps} measured steps after ${warm} warm-up steps; best of ${run.rounds} rounds`,
    "",
    "### Targets (issue 5)",
    "",
    "| target | this run | |",
    "| --- | --- | --- |",
  ];
  for (const t of PARALLEL_TARGETS) {
    const s = speedup(run.results, t.batch, 2);
    const one = run.results.find((r) => r.batch === t.batch && r.workers === 1);
    const two = run.results.find((r) => r.batch === t.batch && r.workers === 2);
    const value =
      s === null || one === undefined || two === undefined
        ? "not run"
        : `${s.toFixed(2)}× (${fmt(two.samplesPerSec)} against ${fmt(one.samplesPerSec)} samples/s)`;
    lines.push(
      `| 2 workers ≥ ${t.speedup}× the samples/s of 1 worker at batch ${t.batch} | ${value} | ${s === null ? "–" : s >= t.speedup ? "holds" : "misses"} |`,
    );
  }
  lines.push(
    "",
    "### Samples/s",
    "",
    "*crit CPU ms*: CPU time per step of the busiest training thread (the main thread, or the",
    "slowest rank), what a step would take with no waiting; *other cores*: the load of other",
    "processes during the round; *2-core scaling*: the same loop on two threads at once against",
    "one (bench/core_probe.ts), measured just before the round: 2.0 when the VM's host gives",
    "both vCPUs fully, lower when it runs other work on them, which caps a 2-worker run the same",
    "way and is invisible to this guest's process list; *rounds*: the median step of every",
    "round, ms.",
    "",
    "| batch | run | samples/s | ms/step | vs 1 worker | crit CPU ms | other cores | 2-core scaling | rounds |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  );
  for (const r of run.results) {
    const s = r.workers === 0 ? null : speedup(run.results, r.batch, r.workers);
    const label = r.workers === 0 ? "`train()`" : `hybrid, ${r.workers} worker${r.workers > 1 ? "s" : ""}`;
    lines.push(
      `| ${r.batch} | ${label} | ${fmt(r.samplesPerSec)} | ${r.msPerStepMedian.toFixed(2)} | ${s === null ? "" : `${s.toFixed(2)}×`} | ${r.criticalCpuMsPerStep.toFixed(2)} | ${r.otherCores.toFixed(2)} | ${r.coreScaling.toFixed(2)} | ${r.roundMedians.map((m) => m.toFixed(2)).join(", ")} |`,
    );
  }
  lines.push(
    "",
    "### Time per phase",
    "",
    "ms per step, the mean over the ranks; the collective phases include waiting for the slower rank.",
    "",
    `| batch | workers | ${STEP_PHASES.join(" | ")} |`,
    `| ---: | ---: | ${STEP_PHASES.map(() => "---:").join(" | ")} |`,
  );
  for (const r of run.results) {
    if (r.phaseMsPerStep === null) continue;
    const ph = r.phaseMsPerStep;
    lines.push(`| ${r.batch} | ${r.workers} | ${STEP_PHASES.map((p) => ph[p].toFixed(2)).join(" | ")} |`);
  }
  lines.push("", "### JSON of this run", "", "```json", JSON.stringify(run, null, 2), "```");
  return lines.join("\n");
}
