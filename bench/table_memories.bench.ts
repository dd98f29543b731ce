// One thread holding more than 4 GiB of tables and optimizer state in memory (issue 27, item
// 1), trained as users run it: `dlrm train --workers 1` on the Kaggle cardinalities (26 tables,
// 33.8 M rows) at --dim (default 32) with row-wise Adagrad (a row's weights and one
// accumulator), bottom 13-512-256-64-dim, top (351+dim)-512-256-1; random data with one lookup
// per bag. The tables are placed into the step's memory and table memories of their own
// (src/dlrm/tables/memories.ts); reported: the bytes placed in each memory, the time to the
// first step (making the tables), samples/s (median step after the warm-up, and all steps
// after it) and peak RSS.
//
// Then what spreading costs, on a model that fits one memory: the same tables at dim 16 run
// in one memory and spread over several by the test-only cap DLRM_TABLE_MEMORY_BYTES
// (--spread-cap, default 1 GiB), interleaved for --rounds rounds; their samples/s ratio.
// On this shared machine whole runs minutes apart see different loads, so the cost is also
// measured within one process: the two models (the library's DLRM, as `dlrm train --workers
// 1` builds it) step alternately on the same batches, --ab-steps steps each, and the median
// of the per-pair time ratios is reported.
//
//   nice -n 10 node --import tsx bench/table_memories.bench.ts [--dim 32] [--steps 300]
//     [--warmup 20] [--batch 2048] [--spread-steps 100] [--spread-cap 1073741824] [--rounds 2]
//     [--ab-steps 60] [--docs]
//
// --docs rewrites the "table-memories" section of docs/benchmarks.md (--docs-from run.json:
// from the JSON line an earlier run printed, without running). Files go under a temporary
// folder, deleted at the end.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_BYTES } from "../src/kernels/memory.ts";
import { partBytes, placeParts, STEP_MEMORY_TABLE_BYTES, TABLE_MEMORY_BYTES } from "../src/dlrm/tables/memories.ts";
import { makeOptimizer, optimizerSpec } from "../src/optim/make.ts";
import type { Optimizer } from "../src/optim/optimizer.ts";
import { batchOf } from "../src/data/batch.ts";
import { randomDataset } from "../src/data/random.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { wasmFallbacks } from "../src/kernels/wasm.ts";
import { withStepArena } from "../src/tensor/storage.ts";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";
import { medianStepMs, trainProcess, type TrainProcess } from "./table_store_process.ts";
import { KAGGLE_TABLES } from "./train.bench.ts";

export const MEMORIES_SECTION = "table-memories";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GiB = 1024 ** 3;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

/** The Kaggle-shaped model at dim E, trained by row-wise Adagrad. */
function model(E: number, batch: number): object {
  return {
    dense_features: 13,
    bottom_mlp: [13, 512, 256, 64, E],
    embedding_dim: E,
    table_sizes: KAGGLE_TABLES,
    pooling: "sum",
    interaction: "dot",
    top_mlp: [(26 * 27) / 2 + E, 512, 256, 1],
    loss: "bce",
    optimizer: "rowwise-adagrad",
    lr: 0.01,
    batch_size: batch,
  };
}

/** Bytes placed in each memory for the tables at dim E (cap: DLRM_TABLE_MEMORY_BYTES, else the defaults). */
function placedBytes(E: number, cap: number | null): number[] {
  const spec = optimizerSpec("rowwise-adagrad", 0.01);
  const bytes = KAGGLE_TABLES.map((R) => partBytes({ label: "", rows: R, dim: E, pooling: false }, spec));
  const memory = placeParts(
    KAGGLE_TABLES.map((_, t) => `table ${t}`),
    bytes,
    cap === null ? { step: STEP_MEMORY_TABLE_BYTES, table: TABLE_MEMORY_BYTES } : { step: cap, table: cap },
  );
  const per = new Array<number>(Math.max(...memory) + 1).fill(0);
  memory.forEach((m, i) => (per[m] += bytes[i]));
  return per;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

/**
 * The two models at dim E, in one memory and spread by cap, stepping alternately on the same
 * batches (random data, one lookup per bag) in this process: each's median step (ms) and the
 * median of spread/one per pair of steps, after 5 warm-up pairs.
 */
function alternatingSteps(E: number, batch: number, steps: number, cap: number) {
  const config = parseConfig(model(E, batch));
  const spec = optimizerSpec("rowwise-adagrad", 0.01);
  const data = randomDataset({
    n: 8 * batch,
    denseFeatures: 13,
    tableSizes: KAGGLE_TABLES,
    numIndicesPerLookup: 1,
    numIndicesPerLookupFixed: true,
    seed: 7,
  });
  const make = (c: number | null) => {
    if (c === null) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = String(c);
    const m = new DLRM(config, 7, spec);
    delete process.env.DLRM_TABLE_MEMORY_BYTES;
    return { model: m, opt: makeOptimizer(spec, m.namedParameters()) };
  };
  const one = make(null);
  const spread = make(cap);
  const step = (x: { model: DLRM; opt: Optimizer }, s: number): number => {
    const t0 = performance.now();
    x.opt.zeroGrad();
    withStepArena(() => {
      const b = batchOf(data, (s % 8) * batch, (s % 8) * batch + batch);
      x.model.criterion(x.model.forward(b), b.labels).backward();
      x.opt.step();
    });
    return performance.now() - t0;
  };
  const oneMs: number[] = [];
  const spreadMs: number[] = [];
  const ratios: number[] = [];
  for (let s = 0; s < steps + 5; s++) {
    // alternate which goes first, so neither always follows the other's cache footprint
    let o: number;
    let p: number;
    if (s % 2 === 0) {
      o = step(one, s);
      p = step(spread, s);
    } else {
      p = step(spread, s);
      o = step(one, s);
    }
    if (s < 5) continue;
    oneMs.push(o);
    spreadMs.push(p);
    ratios.push(p / o);
  }
  const out = {
    steps,
    memories: [one.model.memories.count, spread.model.memories.count],
    oneMemoryMedianMs: median(oneMs),
    spreadMedianMs: median(spreadMs),
    ratioMedian: median(ratios),
    fallbacks: wasmFallbacks(),
  };
  console.error(JSON.stringify(out));
  return out;
}

interface Run {
  firstStepS: number;
  samplesPerSecMedian: number;
  samplesPerSecAfterWarmup: number;
  wallS: number;
  peakRssMiB: number;
}

async function run(dir: string, E: number, batch: number, steps: number, warmup: number, cap: number | null) {
  const path = join(dir, `kaggle${E}.json`);
  writeFileSync(path, JSON.stringify(model(E, batch)));
  const args = [
    ...["--model", path, "--data", "random", "--num-indices-per-lookup", "1", "--num-indices-per-lookup-fixed"],
    ...["--batch-size", String(batch), "--steps", String(steps), "--seed", "7", "--workers", "1"],
    ...["--print-freq", String(steps)],
  ];
  if (cap === null) delete process.env.DLRM_TABLE_MEMORY_BYTES;
  else process.env.DLRM_TABLE_MEMORY_BYTES = String(cap); // the child's environment
  console.error(`${cap === null ? "" : `DLRM_TABLE_MEMORY_BYTES=${cap} `}dlrm train ${args.join(" ")}`);
  const r: TrainProcess = await trainProcess(ROOT, args, join(dir, "run.jsonl"));
  delete process.env.DLRM_TABLE_MEMORY_BYTES;
  if (r.code !== 0) {
    console.error(r.stderr.slice(-3000));
    throw new Error(`dlrm train exited with ${r.code}`);
  }
  const t = r.stepMs;
  const out: Run = {
    firstStepS: (t[0] ?? Number.NaN) / 1000,
    samplesPerSecMedian: batch / (medianStepMs(t, warmup) / 1000),
    samplesPerSecAfterWarmup:
      ((t.length - 1 - warmup) * batch) / (((t.at(-1) as number) - (t[warmup] as number)) / 1000),
    wallS: r.wallS,
    peakRssMiB: r.peakKiB / 1024,
  };
  console.error(JSON.stringify(out));
  return out;
}

/** Rewrite the docs section from a run's JSON line (the last line of a file this script printed to). */
function docsFrom(path: string): void {
  const lines = readFileSync(path, "utf8").trim().split("\n");
  const out = JSON.parse(lines[lines.length - 1] as string) as Parameters<typeof markdown>[0];
  const doc = join(ROOT, "docs/benchmarks.md");
  writeFileSync(doc, replaceSection(readFileSync(doc, "utf8"), MEMORIES_SECTION, markdown(out)));
}

async function main(): Promise<void> {
  const from = arg("docs-from", "");
  if (from !== "") return docsFrom(from);
  const E = Number(arg("dim", "32"));
  const steps = Number(arg("steps", "300"));
  const warmup = Number(arg("warmup", "20"));
  const batch = Number(arg("batch", "2048"));
  const spreadSteps = Number(arg("spread-steps", "100"));
  const abSteps = Number(arg("ab-steps", "60"));
  const spreadCap = Number(arg("spread-cap", String(GiB)));
  const rounds = Number(arg("rounds", "2"));
  const dir = mkdtempSync(join(tmpdir(), "dlrm-table-memories-"));
  const started = new Date();
  const startLoad = loadavg();
  try {
    const big = placedBytes(E, null);
    const total = big.reduce((a, b) => a + b, 0);
    console.error(`dim ${E}: ${(total / GiB).toFixed(2)} GiB of tables and state in ${big.length} memories`);
    if (total <= MAX_BYTES) console.error(`  (that fits one wasm32 memory: choose a larger --dim)`);
    const past = await run(dir, E, batch, steps, warmup, null);
    const one: Run[] = [];
    const spread: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      one.push(await run(dir, 16, batch, spreadSteps, warmup, null));
      spread.push(await run(dir, 16, batch, spreadSteps, warmup, spreadCap));
    }
    const alternating = alternatingSteps(16, batch, abSteps, spreadCap);
    const out = {
      command: `nice -n 10 node --import tsx bench/table_memories.bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
      date: started.toISOString(),
      machine: machine(),
      ramBytes: totalmem(),
      loadAvg: { start: startLoad, end: loadavg() },
      batch,
      warmup,
      past: { dim: E, steps, memoriesBytes: big, ...past },
      spread: {
        dim: 16,
        steps: spreadSteps,
        cap: spreadCap,
        oneMemoryBytes: placedBytes(16, null),
        spreadBytes: placedBytes(16, spreadCap),
        oneMemory: one,
        spread,
        ratioMedian: median(spread.map((s) => s.samplesPerSecMedian)) / median(one.map((s) => s.samplesPerSecMedian)),
        alternating,
      },
    };
    console.log(JSON.stringify(out));
    if (process.argv.includes("--docs")) {
      const path = join(ROOT, "docs/benchmarks.md");
      writeFileSync(path, replaceSection(readFileSync(path, "utf8"), MEMORIES_SECTION, markdown(out)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(o: {
  command: string;
  date: string;
  machine: Record<string, string | number>;
  ramBytes: number;
  loadAvg: { start: number[]; end: number[] };
  batch: number;
  warmup: number;
  past: Run & { dim: number; steps: number; memoriesBytes: number[] };
  spread: {
    dim: number;
    steps: number;
    cap: number;
    oneMemoryBytes: number[];
    spreadBytes: number[];
    oneMemory: Run[];
    spread: Run[];
    ratioMedian: number;
    alternating: {
      steps: number;
      memories: number[];
      oneMemoryMedianMs: number;
      spreadMedianMs: number;
      ratioMedian: number;
      fallbacks: Record<string, number>;
    };
  };
}): string {
  const gib = (b: number): string => (b / GiB).toFixed(2);
  const n = (x: number): string => Math.round(x).toLocaleString("en-US");
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(" / ");
  const row = (label: string, r: Run): string =>
    `| ${label} | ${r.firstStepS.toFixed(1)} | ${n(r.samplesPerSecMedian)} | ${n(r.samplesPerSecAfterWarmup)} | ${n(r.peakRssMiB)} |`;
  const total = o.past.memoriesBytes.reduce((a, b) => a + b, 0);
  return [
    "## Past 4 GiB per rank: tables in several wasm memories (`bench/table_memories.bench.ts`)",
    "",
    `${o.date.slice(0, 10)}, ${o.machine.cpu}, ${o.machine.cores} cores, ${gib(o.ramBytes)} GiB RAM, Node ${o.machine.node}; ` +
      `\`${o.command}\`. **The machine was shared** (load average ${load(o.loadAvg.start)} at the start, ${load(o.loadAvg.end)} at the end): ` +
      "compare the runs within this section, not with other sections.",
    "",
    `\`dlrm train --workers 1\` on the Kaggle cardinalities (26 tables, 33.8 M rows) at dim ${o.past.dim} with row-wise Adagrad: ` +
      `${gib(total)} GiB of tables and optimizer state on one thread, more than one wasm32 memory (4 GiB) holds, placed in ` +
      `${o.past.memoriesBytes.length} memories (${o.past.memoriesBytes.map(gib).join(" + ")} GiB: the step's, then table memories of their own). ` +
      `Random data, one lookup per bag, batch ${o.batch}, ${o.past.steps} steps; samples/s after ${o.warmup} warm-up steps.`,
    "",
    "| run | first step (s) | samples/s (median step) | samples/s (after warm-up) | peak RSS (MiB) |",
    "| --- | ---: | ---: | ---: | ---: |",
    row(`dim ${o.past.dim}, ${o.past.memoriesBytes.length} memories`, o.past),
    "",
    `Peak RSS ${gib(o.past.peakRssMiB * 1024 ** 2)} GiB for ${gib(total)} GiB of tables and state: the rest is the head, ` +
      "a step's activations and Node itself. The first step waits for the tables' initial values (drawn from " +
      "the counter-based streams).",
    "",
    `What spreading costs, on a model that fits one memory: the same tables at dim ${o.spread.dim} ` +
      `(${gib(o.spread.oneMemoryBytes.reduce((a, b) => a + b, 0))} GiB with the state) in one memory, and spread by the test-only cap ` +
      `DLRM_TABLE_MEMORY_BYTES=${o.spread.cap} over ${o.spread.spreadBytes.length} memories (${o.spread.spreadBytes.map(gib).join(" + ")} GiB), ` +
      `${o.spread.steps} steps each, interleaved:`,
    "",
    "| run | first step (s) | samples/s (median step) | samples/s (after warm-up) | peak RSS (MiB) |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...o.spread.oneMemory.flatMap((r, i) => [
      row(`dim ${o.spread.dim}, one memory, round ${i + 1}`, r),
      row(`dim ${o.spread.dim}, ${o.spread.spreadBytes.length} memories, round ${i + 1}`, o.spread.spread[i] as Run),
    ]),
    "",
    `Spread / one memory, median-step samples/s (median of the rounds): ${o.spread.ratioMedian.toFixed(2)}×; ` +
      "whole runs minutes apart on this shared machine see different loads, so the next figure is the one to read.",
    "",
    `Within one process, the two models stepping alternately on the same batches (${o.spread.alternating.steps} pairs after 5 warm-up pairs; ` +
      `${o.spread.alternating.memories.join(" and ")} memories): median step ${o.spread.alternating.oneMemoryMedianMs.toFixed(0)} ms in one memory, ` +
      `${o.spread.alternating.spreadMedianMs.toFixed(0)} ms spread; median of the per-pair step-time ratios spread / one: ` +
      `**${o.spread.alternating.ratioMedian.toFixed(3)}** (1: no cost; kernel calls that fell back to the reference kernels: ` +
      `${JSON.stringify(o.spread.alternating.fallbacks)}). A table in a memory of its own is pooled and updated by that ` +
      "memory's instance of the kernels; the batch's ids and offsets are copied in, the pooled bags out and the gradient " +
      "rows in (src/kernels/wasm.ts, callWasm): some MB a step, against hundreds of ms of MLP work.",
    "",
    "```json",
    JSON.stringify(o),
    "```",
  ].join("\n");
}

await main();
