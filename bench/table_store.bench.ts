// Tables on disk through `dlrm train --table-dir` (issue 27), measured as users run it: the
// Kaggle-shaped model (the 26 Criteo Kaggle tables of dim 16, 2,061 MiB of float32; bottom
// 13-512-256-64-16, top 367-512-256-1, SGD) on heavy-headed data (each table's ids are
// log-uniform ranks, a Zipf law of exponent ≈ 1, scattered over the rows by a multiplicative
// hash; one lookup per bag), written once as a batch file, and trained by
//   in memory, 2 workers      | --table-dir, 2 workers, --table-cache-bytes C (LRU: ranks)
//   in memory, 1 worker       | --table-dir, 1 worker, C, lookahead  | the same with lru
// Each run saves its checkpoint; the disk runs' must equal their in-memory run's byte for byte.
// Per run: samples/s (batch / median step time after the warm-up, from the --log t_ms), wall
// time, peak RSS (VmHWM of /proc/<pid>/status, polled), and the table store's line (hit rate,
// bytes read and written; one worker only: the ranks keep their counts).
//
//   nice -n 10 node --import tsx bench/table_store.bench.ts [--rows-cap R] [--samples 204800]
//     [--batch 2048] [--steps 60] [--warmup 20] [--cache 512MiB] [--dir /tmp/...] [--runs a,b] [--docs]
//   node --import tsx bench/table_store.bench.ts --render out.json   (the docs section from a run's output)
//
// --docs rewrites the "table-store" section of docs/benchmarks.md (bench/docs_sections.ts).
//
// Glossary: R rows of a table, B batch, S steps.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBatchFile } from "../src/data/batch_file.ts";
import { offsetsFromLengths } from "../src/data/dataset.ts";
import { Rng } from "../src/tensor/rng.ts";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";

export const TABLE_STORE_SECTION = "table-store";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

interface RunResult {
  label: string;
  workers: number;
  store: string | null;
  samplesPerSec: number;
  wallS: number;
  peakRssMiB: number;
  tableStore: Record<string, unknown> | null;
  sameBytesAs: string | null;
  exitCode: number | null;
}

/** Heavy-headed ids: rank floor((R+1)^u) - 1 (log-uniform, Zipf ≈ 1), scattered by a multiplicative hash. */
function heavyHeadedBatchFile(path: string, tables: readonly number[], n: number): void {
  const rng = new Rng(27);
  const dense = new Float32Array(n * 13);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.uniform() < 0.25 ? 1 : 0;
  const sparse = tables.map((R) => {
    const lengths = new Int32Array(n).fill(1);
    const indices = new Int32Array(n);
    const mult = 2654435761 % R === 0 ? 40503 : 2654435761; // odd, and coprime with R for these sizes
    for (let i = 0; i < n; i++) {
      const rank = Math.min(R - 1, Math.floor(Math.exp(rng.uniform() * Math.log(R + 1))) - 1);
      indices[i] = Number((BigInt(rank) * BigInt(mult)) % BigInt(R));
    }
    return { lengths, offsets: offsetsFromLengths(lengths), indices, weights: null };
  });
  writeBatchFile(path, { n, denseFeatures: 13, dense, labels, sparse });
}

/** One `dlrm train` process: its samples/s, wall time, peak RSS and table store line. */
function runTrain(
  label: string,
  args: string[],
  log: string,
  warmup: number,
  batch: number,
): Promise<Omit<RunResult, "sameBytesAs">> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "train", ...args, "--log", log], {
      cwd: ROOT,
    });
    let stderr = "";
    let peakKiB = 0;
    const poll = setInterval(() => {
      try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m !== null) peakKiB = Math.max(peakKiB, Number(m[1]));
      } catch {
        // gone
      }
    }, 100);
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", () => undefined);
    child.on("close", (code) => {
      clearInterval(poll);
      const wallS = (performance.now() - t0) / 1000;
      const t = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { t_ms?: number })
        .filter((o) => typeof o.t_ms === "number")
        .map((o) => o.t_ms as number);
      const gaps = t
        .slice(warmup + 1)
        .map((x, i) => x - (t[warmup + i] as number))
        .sort((a, b) => a - b);
      const median = gaps[gaps.length >> 1] ?? Number.NaN;
      const m = /table store: (\{.*\})/.exec(stderr);
      if (code !== 0) console.error(stderr.slice(-2000));
      const workers = Number(args[args.indexOf("--workers") + 1]);
      const di = args.indexOf("--table-dir");
      const store =
        di < 0
          ? null
          : `${args[args.indexOf("--table-cache-bytes") + 1]}${args.includes("lru") ? " lru" : workers === 1 ? " lookahead" : " lru"}`;
      done({
        label,
        workers,
        store,
        samplesPerSec: batch / (median / 1000),
        wallS,
        peakRssMiB: peakKiB / 1024,
        tableStore: m === null ? null : (JSON.parse(m[1] as string) as Record<string, unknown>),
        exitCode: code,
      });
    });
  });
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
    const o = JSON.parse(readFileSync(render, "utf8").trim().split("\n").pop() as string) as Parameters<
      typeof markdown
    >[0];
    writeFileSync(path, replaceSection(readFileSync(path, "utf8"), TABLE_STORE_SECTION, markdown(o)));
    return;
  }
  const cap = Number(arg("rows-cap", "0"));
  const n = Number(arg("samples", "204800"));
  const batch = Number(arg("batch", "2048"));
  const steps = Number(arg("steps", "60"));
  const warmup = Number(arg("warmup", "20"));
  const cache = arg("cache", "512MiB");
  const dir = arg("dir", "/tmp/s3-disk/bench");
  const tables = KAGGLE_TABLES.map((R) => (cap > 0 ? Math.min(R, cap) : R));
  const tableMiB = tables.reduce((a, R) => a + R * 16 * 4, 0) / MiB;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const model = join(dir, "kaggle.json");
  writeFileSync(model, JSON.stringify(kaggleModel(tables, batch)));
  const data = join(dir, "data.safetensors");
  heavyHeadedBatchFile(data, tables, n);
  const started = new Date();
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
    { label: "memory-1", workers: 1, store: null, ref: null },
    { label: "disk-1-lookahead", workers: 1, store: ["--table-cache-policy", "lookahead"], ref: "memory-1" },
    { label: "disk-1-lru", workers: 1, store: ["--table-cache-policy", "lru"], ref: "memory-1" },
  ];
  const only = arg("runs", "");
  const results: RunResult[] = [];
  for (const p of plans.filter((x) => only === "" || only.split(",").includes(x.label))) {
    const save = join(dir, `${p.label}.safetensors`);
    const tdir = join(dir, `tables-${p.label}`);
    const store = p.store === null ? [] : ["--table-dir", tdir, "--table-cache-bytes", cache, ...p.store];
    if (p.store !== null) mkdirSync(tdir);
    console.error(`run ${p.label} …`);
    const r = await runTrain(
      p.label,
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
  const out = {
    date: started.toISOString(),
    machine: machine(),
    tableMiB,
    samples: n,
    batch,
    steps,
    warmup,
    cache,
    results,
  };
  console.log(JSON.stringify(out));
  if (process.argv.includes("--docs")) {
    const path = join(ROOT, "docs/benchmarks.md");
    writeFileSync(path, replaceSection(readFileSync(path, "utf8"), TABLE_STORE_SECTION, markdown(out)));
  }
}

function markdown(o: {
  date: string;
  machine: Record<string, string | number>;
  tableMiB: number;
  samples: number;
  batch: number;
  steps: number;
  warmup: number;
  cache: string;
  results: RunResult[];
}): string {
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

await main();
