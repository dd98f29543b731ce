// Renders one benchmark run (bench/run.ts) as docs/benchmarks.md: machine and date, the
// ceilings, a table per suite, the targets of issue 4, and the run's JSON.

import type { BenchRow } from "./report.ts";

export interface BenchRun {
  date: string;
  mode: string;
  machine: Record<string, string | number>;
  /** Each ceiling timed on its own before and after the suites (GFLOP/s or GB/s). */
  ceilings: { before: Record<string, number>; after: Record<string, number> };
  nativeGatherGBs: Record<string, number | null>;
  rows: BenchRow[];
  targets: { target: string; value: string; pass: boolean | null }[];
  loadAverage: { before: number; after: number };
  seconds: number;
}

const num = (x: number): string => x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);

function table(rows: BenchRow[]): string[] {
  const out = ["| case | best | mean | best as % of the ceiling timed alongside |", "| --- | ---: | ---: | --- |"];
  for (const r of rows) {
    out.push(`| ${r.name} | ${num(r.best)} ${r.unit} | ${num(r.mean)} | ${r.pctOfCeiling.toFixed(1)} % of ${r.ceiling} (${num(r.ceilingRate)}) |`);
  }
  return out;
}

export function renderMarkdown(run: BenchRun): string {
  const m = run.machine;
  const lines = [
    "# Benchmarks",
    "",
    "Kernel benchmarks of issue 4, written by `node --import tsx bench/run.ts --docs` (`npm run bench`",
    "runs the same without rewriting this file). Every figure is compared with a ceiling measured in",
    "the same process: the SIMD peak (register-only `f32x4` multiply + add, 12 independent chains)",
    "for GFLOP/s, and the STREAM triad for GB/s, with arrays at least as large as the case's working",
    "set (the table for a forward gather, the gradient rows for a backward), so a table that fits in",
    "a cache meets that cache's bandwidth. Above 100 % of a triad means the working set is smaller",
    "than the matched triad's (the gradient rows of a backward stay in cache). sgemm runs at the",
    "peak loop's rate, sometimes a little above it: the loop's 12 chains are each one",
    "multiply-then-add deep, while sgemm's multiplies do not wait for its adds, so the loop is a",
    "close but not strict ceiling.",
    "",
    "**best** is the fastest call (batches of calls under 50 µs), timed in ~20 ms rounds that",
    "alternate with rounds of the ceiling's own call, fastest of each: the machine is shared by several processes on 2 cores and",
    "this VM's clock moves with the load on the other core (the peak alone measured 32 GFLOP/s in",
    "one run and 41 in the next), so case and ceiling are timed side by side; the percentages and",
    "targets use these pairs. **mean** is benny's (benchmark.js) mean and shows how busy the machine",
    "was (the load average is given below).",
    "",
    "## Machine and run",
    "",
    `- date: ${run.date}`,
    `- CPU: ${m.cpu}, ${m.cores} cores; Node ${m.node} (V8 ${m.v8})`,
    `- mode: ${run.mode}, ${run.seconds} s; load average ${run.loadAverage.before} before, ${run.loadAverage.after} after`,
    `- ceilings on their own, before / after the suites: ` +
      Object.keys(run.ceilings.before).map((k) => `${k} ${num(run.ceilings.before[k] ?? 0)} / ${num(run.ceilings.after[k] ?? 0)}`).join("; ") +
      " (GFLOP/s for the peak, GB/s for the triads)",
    `- native C gather (bench/native_gather.c, \`cc -O3 -march=native\`), GB/s by E/lookups per bag: ` +
      Object.entries(run.nativeGatherGBs).map(([k, v]) => `${k}: ${v === null ? "n/a" : num(v)}`).join(", "),
    "",
    "## Targets (issue 4)",
    "",
    "| target | this run | |",
    "| --- | --- | --- |",
    ...run.targets.map((t) => `| ${t.target} | ${t.value} | ${t.pass === null ? "not measured" : t.pass ? "holds" : "misses"} |`),
    "",
    "## sgemm",
    "",
    "NT is a Linear forward (`y = x·Wᵀ`), NN and TN its backward (`dx = dy·W`, `dW = dyᵀ·x`);",
    "shapes are M×K×N. *resident*: every operand in wasm memory; *x,y staged*: the activations are",
    "plain arrays the wrapper copies in and out (how ops call it today).",
    "",
    ...table(run.rows.filter((r) => r.suite === "sgemm")),
    "",
    "## Embedding bag",
    "",
    "1M-row tables, B = 2048 bags, sum pooling. fwd bytes = L·E·4 gathered + B·E·4 written +",
    "indices and offsets; bwd bytes = B·E·4 dout + 2·L·E·4 gradient rows (read and written) +",
    "slots. *naive scalar wasm* is the plain loop of ref.ts compiled by hand to scalar wasm",
    "(bench/bench_kernels.wat).",
    "",
    ...table(run.rows.filter((r) => r.suite === "embedding_bag")),
    "",
    "## Not measured here",
    "",
    "Training samples/s of the Kaggle-shaped DLRM (batch 128 and 2048, js and wasm kernels) and",
    "the flat-heap check over 1,000 steps need the training loop of issue 3; they belong in a",
    "`bench/train.bench.ts` once that loop exists (the model must be built inside",
    "`withResidentStorage` so that its tables are resident, see docs/kernels.md \"Memory\").",
    "",
    "## JSON of this run",
    "",
    "```json",
    JSON.stringify(run, null, 2),
    "```",
    "",
  ];
  return lines.join("\n");
}
