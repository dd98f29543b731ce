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
//
//   nice -n 10 node --import tsx bench/table_memories.bench.ts [--dim 32] [--steps 300]
//     [--warmup 20] [--batch 2048] [--spread-steps 150] [--spread-cap 1073741824] [--rounds 2] [--docs]
//
// --docs rewrites the "table-memories" section of docs/benchmarks.md. Files go under a
// temporary folder, deleted at the end.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_BYTES } from "../src/kernels/memory.ts";
import { partBytes, placeParts, STEP_MEMORY_TABLE_BYTES, TABLE_MEMORY_BYTES } from "../src/dlrm/tables/memories.ts";
import { optimizerSpec } from "../src/optim/make.ts";
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

async function main(): Promise<void> {
  const E = Number(arg("dim", "32"));
  const steps = Number(arg("steps", "300"));
  const warmup = Number(arg("warmup", "20"));
  const batch = Number(arg("batch", "2048"));
  const spreadSteps = Number(arg("spread-steps", "150"));
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
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
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
    `Spread / one memory, median-step samples/s (median of the rounds): **${o.spread.ratioMedian.toFixed(2)}×**. ` +
      "A table in a memory of its own is pooled and updated by that memory's instance of the kernels; the batch's ids " +
      "and offsets are copied in, the pooled bags and the gradient rows across (src/kernels/wasm.ts, callWasm).",
  ].join("\n");
}

await main();
