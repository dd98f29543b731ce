// Tables on disk through `dlrm train --table-dir` (issue 27), measured as users run it: the
// Kaggle-shaped model (the 26 Criteo Kaggle tables of dim 16, 2,061 MiB of float32; bottom
// 13-512-256-64-16, top 367-512-256-1, SGD) on heavy-headed data (each table's ids are
// log-uniform ranks, a Zipf law of exponent ≈ 1, scattered over the rows by a multiplicative
// hash; one lookup per bag), written once as a batch file, and trained by
//   in memory, 2 workers      | --table-dir, 2 workers, --table-cache-bytes C, lru | lookahead
//   in memory, 1 worker       | --table-dir, 1 worker, C, lookahead (rows of the next batch
//                               read ahead) | the same reading nothing ahead | lru
// Each run saves its checkpoint; the disk runs' must equal their in-memory run's byte for byte.
// Per run: samples/s (batch / median step time after the warm-up, from the --log t_ms), wall
// time, peak RSS (VmHWM of /proc/<pid>/status, polled), the 1-minute load average as it
// starts, and the table store's line (hit rate, rows and bytes read and written, time the
// steps waited for rows; one worker only: the ranks keep their counts). --rounds N runs the
// disk runs N times, interleaved (a b c a b c …), so that the machine's load falls on all.
//
//   nice -n 10 node --import tsx bench/table_store.bench.ts [--rows-cap R] [--samples 204800]
//     [--batch 2048] [--steps 60] [--warmup 20] [--cache 512MiB] [--dir /tmp/...] [--runs a,b]
//     [--rounds 1] [--docs | --docs-policy [--section name]]
//   node --import tsx bench/table_store.bench.ts --render out.json   (the docs section from a run's output)
//
// --docs rewrites the "table-store" section of docs/benchmarks.md (bench/docs_sections.ts),
// --docs-policy the "table-store-policy" one (look-ahead against LRU at one cache size; --section
// names another, for a second cache size).
//
// Glossary: R rows of a table, B batch, S steps.

import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";
import { heavyHeadedBatchFile, medianStepMs, trainProcess } from "./table_store_process.ts";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";

export const TABLE_STORE_SECTION = "table-store";
export const TABLE_STORE_POLICY_SECTION = "table-store-policy";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

interface RunResult {
  label: string;
  round: number;
  loadAvg1: number;
  workers: number;
  store: string | null;
  samplesPerSec: number;
  wallS: number;
  peakRssMiB: number;
  tableStore: Record<string, unknown> | null;
  sameBytesAs: string | null;
  exitCode: number | null;
}

/** One `dlrm train` process: its samples/s, wall time, peak RSS and table store line. */
async function runTrain(
  label: string,
  round: number,
  args: string[],
  log: string,
  warmup: number,
  batch: number,
): Promise<Omit<RunResult, "sameBytesAs">> {
  const loadAvg1 = loadavg()[0] as number;
  const r = await trainProcess(ROOT, args, log);
  if (r.code !== 0) console.error(r.stderr.slice(-2000));
  const workers = Number(args[args.indexOf("--workers") + 1]);
  const di = args.indexOf("--table-dir");
  const pi = args.indexOf("--table-prefetch");
  const policy = args.includes("lru") ? "lru" : `lookahead, read ahead ${pi < 0 ? 1 : args[pi + 1]}`;
  const where = args.includes("sync") ? ", moves on the step's thread" : "";
  const store = di < 0 ? null : `${args[args.indexOf("--table-cache-bytes") + 1]} ${policy}${where}`;
  return {
    label,
    round,
    loadAvg1,
    workers,
    store,
    samplesPerSec: batch / (medianStepMs(r.stepMs, warmup) / 1000),
    wallS: r.wallS,
    peakRssMiB: r.peakKiB / 1024,
    tableStore: r.tableStore,
    exitCode: r.code,
  };
}

/** Whether two files hold the same bytes (cmp: checkpoints pass 2 GiB, past readFileSync). */
function sameFiles(a: string, b: string): boolean {
  return spawnSync("cmp", ["-s", a, b]).status === 0;
}

async function main(): Promise<void> {
  const render = arg("render", "");
  if (render !== "") {
    // --render out.json: the docs section from a run's JSON line (a run made without --docs)
    const path = join(ROOT, "docs/benchmarks.md");
    const o = JSON.parse(readFileSync(render, "utf8").trim().split("\n").pop() as string) as BenchOutput;
    const policy = process.argv.includes("--docs-policy");
    const section = policy ? arg("section", TABLE_STORE_POLICY_SECTION) : TABLE_STORE_SECTION;
    writeFileSync(path, replaceSection(readFileSync(path, "utf8"), section, policy ? policyMarkdown(o) : markdown(o)));
    return;
  }
  const cap = Number(arg("rows-cap", "0"));
  const n = Number(arg("samples", "204800"));
  const batch = Number(arg("batch", "2048"));
  const steps = Number(arg("steps", "60"));
  const warmup = Number(arg("warmup", "20"));
  const cache = arg("cache", "512MiB");
  const dir = arg("dir", join(tmpdir(), "dlrm-table-store-bench"));
  const rounds = Number(arg("rounds", "1"));
  const tables = KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R));
  const tableMiB = tables.reduce((a, R) => a + R * 16 * 4, 0) / MiB;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const model = join(dir, "kaggle.json");
  writeFileSync(model, JSON.stringify(kaggleModel(tables, batch)));
  const data = join(dir, "data.safetensors");
  heavyHeadedBatchFile(data, tables, n);
  const started = new Date();
  const startLoad = loadavg();
  console.error(
    `tables ${tableMiB.toFixed(0)} MiB, ${n} heavy-headed samples, batch ${batch}, ${steps} steps, cache ${cache}`,
  );
  const common = [
    "--model",
    model,
    "--data",
    data,
    "--batch-size",
    String(batch),
    "--steps",
    String(steps),
    "--no-shuffle",
    "--seed",
    "7",
  ];
  const plans: { label: string; workers: number; store: string[] | null; ref: string | null }[] = [
    { label: "memory-2", workers: 2, store: null, ref: null },
    { label: "disk-2-lru", workers: 2, store: ["--table-cache-policy", "lru"], ref: "memory-2" },
    { label: "disk-2-lookahead", workers: 2, store: ["--table-cache-policy", "lookahead"], ref: "memory-2" },
    { label: "memory-1", workers: 1, store: null, ref: null },
    { label: "disk-1-lookahead", workers: 1, store: ["--table-cache-policy", "lookahead"], ref: "memory-1" },
    {
      label: "disk-1-lookahead-no-read-ahead",
      workers: 1,
      store: ["--table-cache-policy", "lookahead", "--table-prefetch", "0"],
      ref: "memory-1",
    },
    { label: "disk-1-lru", workers: 1, store: ["--table-cache-policy", "lru"], ref: "memory-1" },
    {
      label: "disk-1-lru-sync",
      workers: 1,
      store: ["--table-cache-policy", "lru", "--table-io", "sync"],
      ref: "memory-1",
    },
  ];
  const only = arg("runs", "");
  const chosen = plans.filter((x) => only === "" || only.split(",").includes(x.label));
  // The in-memory runs once (the references), then the disk runs round after round.
  const schedule = [
    ...chosen.filter((p) => p.store === null).map((p) => ({ p, round: 0 })),
    ...Array.from({ length: rounds }, (_, round) =>
      chosen.filter((p) => p.store !== null).map((p) => ({ p, round })),
    ).flat(),
  ];
  const results: RunResult[] = [];
  for (const { p, round } of schedule) {
    const save = join(dir, `${p.label}.safetensors`);
    const tdir = join(dir, `tables-${p.label}`);
    const store = p.store === null ? [] : ["--table-dir", tdir, "--table-cache-bytes", cache, ...p.store];
    if (p.store !== null) mkdirSync(tdir);
    console.error(`run ${p.label}, round ${round} …`);
    const r = await runTrain(
      p.label,
      round,
      [...common, "--workers", String(p.workers), ...store, "--save", save],
      join(dir, `${p.label}.jsonl`),
      warmup,
      batch,
    );
    const sameBytesAs =
      p.ref === null ? null : sameFiles(save, join(dir, `${p.ref}.safetensors`)) ? p.ref : `DIFFERS from ${p.ref}`;
    results.push({ ...r, sameBytesAs });
    console.error(JSON.stringify(results[results.length - 1]));
    if (p.store !== null) rmSync(tdir, { recursive: true, force: true });
    if (p.ref !== null) rmSync(save, { force: true });
  }
  rmSync(dir, { recursive: true, force: true });
  const out: BenchOutput = {
    command: `nice -n 10 node --import tsx bench/table_store.bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
    date: started.toISOString(),
    machine: machine(),
    loadAvg: { start: startLoad, end: loadavg() },
    rounds,
    tableMiB,
    samples: n,
    batch,
    steps,
    warmup,
    cache,
    results,
  };
  console.log(JSON.stringify(out));
  const path = join(ROOT, "docs/benchmarks.md");
  if (process.argv.includes("--docs"))
    writeFileSync(path, replaceSection(readFileSync(path, "utf8"), TABLE_STORE_SECTION, markdown(out)));
  if (process.argv.includes("--docs-policy"))
    writeFileSync(
      path,
      replaceSection(readFileSync(path, "utf8"), arg("section", TABLE_STORE_POLICY_SECTION), policyMarkdown(out)),
    );
}

interface BenchOutput {
  command: string;
  date: string;
  machine: Record<string, string | number>;
  loadAvg: { start: number[]; end: number[] };
  rounds: number;
  tableMiB: number;
  samples: number;
  batch: number;
  steps: number;
  warmup: number;
  cache: string;
  results: RunResult[];
}

function markdown(o: BenchOutput): string {
  const by = new Map(o.results.map((r) => [r.label, r]));
  const ratio = (a: string, b: string, k: "samplesPerSec" | "peakRssMiB"): string => {
    const x = by.get(a)?.[k];
    const y = by.get(b)?.[k];
    return x === undefined || y === undefined ? "–" : (x / y).toFixed(2);
  };
  const rows = o.results.map((r) => {
    const ts = r.tableStore as { hit_rate?: number; bytes_read?: number; bytes_written?: number } | null;
    return `| ${r.label} | ${r.workers} | ${r.store ?? "in memory"} | ${Math.round(r.samplesPerSec).toLocaleString("en-US")} | ${r.peakRssMiB.toFixed(0)} | ${r.wallS.toFixed(0)} | ${ts?.hit_rate ?? "–"} | ${ts === null ? "–" : ((ts.bytes_read ?? 0) / MiB).toFixed(0)} | ${ts === null ? "–" : ((ts.bytes_written ?? 0) / MiB).toFixed(0)} | ${r.sameBytesAs === null ? "–" : r.sameBytesAs.startsWith("DIFFERS") ? `**${r.sameBytesAs}**` : `= ${r.sameBytesAs}, byte for byte`} |`;
  });
  return [
    "## Tables on disk (`dlrm train --table-dir`, issue 27)",
    "",
    `Run of ${o.date.slice(0, 16).replace("T", " ")} UTC on ${o.machine.cpu} (${o.machine.cores} cores, shared with other developers' jobs), Node ${o.machine.node}:`,
    `\`nice -n 10 node --import tsx bench/table_store.bench.ts --docs\` — the Kaggle-shaped model (${o.tableMiB.toFixed(0)} MiB of tables), ${o.samples.toLocaleString("en-US")} heavy-headed samples (log-uniform ranks, one lookup per bag), batch ${o.batch}, ${o.steps} steps of which ${o.warmup} warm-up, SGD, cache ${o.cache}. One round: ratios within the run.`,
    "",
    "samples/s: the batch over the median step after the warm-up; wall s: the whole process (making the table files and saving the 2 GiB checkpoint included); hit rate: of the distinct rows each batch asks for, those already resident; read/written: records moved between the files and the caches (a miss reads one, an eviction or the save writes a dirty one; the ranks keep their counts).",
    "",
    "| run | workers | tables | samples/s | peak RSS MiB | wall s | hit rate | read MiB | written MiB | checkpoint |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows,
    "",
    `Targets (2 workers, cache ${o.cache}): samples/s on disk / in memory = **${ratio("disk-2-lru", "memory-2", "samplesPerSec")}** (target ≥ 0.5); peak RSS on disk / in memory = **${ratio("disk-2-lru", "memory-2", "peakRssMiB")}** (target ≤ 0.6). One worker, look-ahead / LRU samples/s = **${ratio("disk-1-lookahead", "disk-1-lru", "samplesPerSec")}**.`,
    "",
    "```json",
    JSON.stringify(o),
    "```",
  ].join("\n");
}

/** Ratio a / b of samples/s in each round (runs of the same round; b's one run if in memory), and their median. */
function roundRatios(o: BenchOutput, a: string, b: string): { each: number[]; median: number } {
  const each: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const x = o.results.find((q) => q.label === a && q.round === r);
    const y =
      o.results.find((q) => q.label === b && q.round === r) ?? o.results.find((q) => q.label === b && q.store === null); // an in-memory run is made once
    if (x !== undefined && y !== undefined) each.push(x.samplesPerSec / y.samplesPerSec);
  }
  const sorted = [...each].sort((p, q) => p - q);
  const median =
    sorted.length === 0
      ? Number.NaN
      : sorted.length % 2 === 1
        ? (sorted[sorted.length >> 1] as number)
        : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
  return { each, median };
}

function policyMarkdown(o: BenchOutput): string {
  type Store = {
    hit_rate?: number;
    rows_read?: number;
    rows_read_ahead?: number;
    rows_written?: number;
    bytes_read?: number;
    bytes_written?: number;
    wait_ms?: number;
  };
  const rows = o.results.map((r) => {
    const ts = r.tableStore as Store | null;
    const n = (x: number | undefined): string => (x === undefined ? "–" : x.toLocaleString("en-US"));
    const mib = (x: number | undefined): string => (x === undefined ? "–" : (x / MiB).toFixed(1));
    const same =
      r.sameBytesAs === null ? "–" : r.sameBytesAs.startsWith("DIFFERS") ? `**${r.sameBytesAs}**` : "= in memory";
    return `| ${r.label.replace(/^disk-1-/, "")} | ${r.round} | ${r.loadAvg1.toFixed(1)} | ${Math.round(r.samplesPerSec).toLocaleString("en-US")} | ${ts?.hit_rate ?? "–"} | ${n(ts?.rows_read)} | ${n(ts?.rows_read_ahead)} | ${n(ts?.rows_written)} | ${mib(ts?.bytes_read)} | ${mib(ts?.bytes_written)} | ${n(ts?.wait_ms)} | ${r.peakRssMiB.toFixed(0)} | ${same} |`;
  });
  const ratio = (a: string, b: string): string => {
    const r = roundRatios(o, a, b);
    return `**${r.median.toFixed(3)}** (rounds: ${r.each.map((x) => x.toFixed(3)).join(", ")})`;
  };
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(" / ");
  return [
    "## Tables on disk: exact look-ahead with read-ahead against LRU (`bench/table_store.bench.ts`)",
    "",
    `Run of ${o.date.slice(0, 16).replace("T", " ")} UTC on ${o.machine.cpu} (${o.machine.cores} cores), Node ${o.machine.node}. **The machine was shared**: a long end-to-end benchmark (issue 23) ran on both cores for the whole run, beside other developers' jobs; load average (1 / 5 / 15 min) ${load(o.loadAvg.start)} at the start, ${load(o.loadAvg.end)} at the end. Hence ${o.rounds} rounds, each running every policy once in turn, and the ratios taken within a round.`,
    "",
    `\`${o.command}\` — the Kaggle-shaped model with tables capped (${o.tableMiB.toFixed(0)} MiB), ${o.samples.toLocaleString("en-US")} heavy-headed samples, batch ${o.batch}, ${o.steps} steps of which ${o.warmup} warm-up, SGD, one worker, cache ${o.cache} for every policy.`,
    "",
    "*lookahead*: evict the row with no known use in the next 4 batches (least recent first), else the farthest used, and read the next batch's missing rows on the reader thread while the step computes; *lookahead-no-read-ahead*: the same evictions, rows read when their step needs them; *lru*: least recently used, its misses and write-backs moved by the reader thread; *lru-sync*: the same on the step's thread (`--table-io sync`, the store before the reader thread). The step waits for the rows it needs (*wait ms*, summed over the run; on the step's thread the reads are not timed). *hit rate*: of the distinct rows each batch asks for, those resident before the batch was foreseen; *rows read*: all reads, of which *ahead* before their step.",
    "",
    "| run | round | load (1 min) | samples/s | hit rate | rows read | ahead | rows written | read MiB | written MiB | wait ms | peak RSS MiB | checkpoint |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows,
    "",
    `samples/s (medians over the rounds of the ratio within a round): ${[
      ["look-ahead with read-ahead / LRU", "disk-1-lookahead", "disk-1-lru"],
      ["look-ahead with read-ahead / LRU on the step's thread", "disk-1-lookahead", "disk-1-lru-sync"],
      ["look-ahead without read-ahead / LRU", "disk-1-lookahead-no-read-ahead", "disk-1-lru"],
      ["look-ahead with / without read-ahead", "disk-1-lookahead", "disk-1-lookahead-no-read-ahead"],
    ]
      .filter(([, a, b]) => o.results.some((r) => r.label === a) && o.results.some((r) => r.label === b))
      .map(([name, a, b]) => `${name} ${ratio(a as string, b as string)}`)
      .join("; ")}.`,
    "",
    "```json",
    JSON.stringify(o),
    "```",
  ].join("\n");
}

await main();
