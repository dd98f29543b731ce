// Tables bigger than RAM (issue 27), trained as users run it: `dlrm train --table-dir` on a
// model whose tables plus optimizer state are --ram-ratio (default 1.5) times this machine's
// RAM. The tables are the Criteo Terabyte ones (TorchRec's 26 cardinalities, 177,944,275
// rows) at dim 64, each capped at M rows as the reference's --max-ind-range M does (the
// smallest M that reaches the size), trained by row-wise Adagrad (a record of 65 floats: the
// row and its one state float); bottom 13-512-256-64, top 415-512-512-256-1 (the reference's
// Terabyte shape). Data: heavy-headed generated samples (bench/table_store_process.ts), one
// lookup per bag, written once as a batch file. Reported: the time to make the table files
// and its rate (the table store's files_made_ms), samples/s (median step after the warm-up,
// and all steps after it), the loss over the first and last steps, peak RSS, the table
// store's line (hit rate, rows read ahead and at their step, rows written back), the bytes
// the process had the disk read and write (/proc/<pid>/io) in all and per step after the
// warm-up, and the files' size on disk; then the files are deleted. No --save: the
// checkpoint would be as big as the tables.
//
//   nice -n 10 node --import tsx bench/table_store_past_ram.bench.ts [--ram-ratio 1.5]
//     [--max-bytes 40e9] [--steps 300] [--warmup 20] [--batch 2048] [--cache 512MiB]
//     [--workers 1] [--dir /tmp/...] [--docs]
//
// --docs rewrites the "table-store-past-ram" section of docs/benchmarks.md; --from-json FILE
// rewrites it from a run's saved JSON line (the stdout of an earlier run) without running.
//
// Glossary: R rows of a table, M the cap, F floats per record.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";
import { diskBytesBetween, heavyHeadedBatchFile, medianStepMs, trainProcess } from "./table_store_process.ts";

export const PAST_RAM_SECTION = "table-store-past-ram";
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const GB = 1e9;
const GiB = 1024 ** 3;

/** Criteo Terabyte's cardinalities (TorchRec's dlrm_main default for the 1TB click logs). */
const TERABYTE_TABLES = [
  45833188, 36746, 17245, 7413, 20243, 3, 7114, 1441, 62, 29275261, 1572176, 345138, 10, 2209, 11267, 128, 4, 974, 14,
  48937457, 11316796, 40094537, 452104, 12606, 104, 35,
];
const DIM = 64;
/** Row-wise Adagrad: the row's 64 weights and one accumulator. */
const RECORD_BYTES = 4 * (DIM + 1);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const rowsCapped = (M: number): number => TERABYTE_TABLES.reduce((a, R) => a + Math.min(R, M), 0);

/** The smallest cap M whose tables hold at least `bytes` of records. */
function capFor(bytes: number): number {
  let lo = 1;
  let hi = Math.max(...TERABYTE_TABLES);
  if (rowsCapped(hi) * RECORD_BYTES < bytes)
    throw new Error(`the Terabyte tables hold ${rowsCapped(hi) * RECORD_BYTES} bytes at most, less than ${bytes}`);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (rowsCapped(mid) * RECORD_BYTES >= bytes) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

async function main(): Promise<void> {
  const ratio = Number(arg("ram-ratio", "1.5"));
  const maxBytes = Number(arg("max-bytes", "40e9"));
  const steps = Number(arg("steps", "300"));
  const warmup = Number(arg("warmup", "20"));
  const batch = Number(arg("batch", "2048"));
  const cache = arg("cache", "512MiB");
  const workers = Number(arg("workers", "1"));
  const dir = arg("dir", join(tmpdir(), "dlrm-table-store-past-ram"));
  const ram = totalmem();
  const M = capFor(ratio * ram);
  const tables = TERABYTE_TABLES.map((R) => Math.min(R, M));
  const rows = tables.reduce((a, b) => a + b, 0);
  const tableBytes = rows * RECORD_BYTES;
  if (tableBytes > maxBytes)
    throw new Error(`the tables would take ${(tableBytes / GB).toFixed(1)} GB, past --max-bytes ${maxBytes / GB} GB`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (free < tableBytes + 8 * GB)
    throw new Error(
      `${dir}: ${(free / GB).toFixed(1)} GB free, the tables need ${(tableBytes / GB).toFixed(1)} + 8 GB`,
    );
  console.error(
    `RAM ${(ram / GiB).toFixed(2)} GiB; tables capped at ${M} rows: ${rows} rows × ${RECORD_BYTES} B = ${(tableBytes / GB).toFixed(2)} GB (${(tableBytes / ram).toFixed(3)}× RAM)`,
  );
  const tablesDir = join(dir, "tables");
  mkdirSync(tablesDir);
  const model = join(dir, "terabyte64.json");
  writeFileSync(
    model,
    JSON.stringify({
      dense_features: 13,
      bottom_mlp: [13, 512, 256, DIM],
      embedding_dim: DIM,
      table_sizes: tables,
      pooling: "sum",
      interaction: "dot",
      top_mlp: [(26 * 27) / 2 + DIM, 512, 512, 256, 1],
      loss: "bce",
      optimizer: "rowwise-adagrad",
      lr: 0.01,
      batch_size: batch,
    }),
  );
  const data = join(dir, "data.safetensors");
  heavyHeadedBatchFile(data, tables, steps * batch);
  const started = new Date();
  const startLoad = loadavg();
  const args = [
    ...["--model", model, "--data", data, "--batch-size", String(batch), "--steps", String(steps)],
    ...[
      "--no-shuffle",
      "--seed",
      "7",
      "--workers",
      String(workers),
      "--table-dir",
      tablesDir,
      "--table-cache-bytes",
      cache,
    ],
  ];
  console.error(`dlrm train ${args.join(" ")}`);
  let filesBytes = 0;
  const r = await trainProcess(ROOT, args, join(dir, "run.jsonl"));
  try {
    filesBytes = Number(execFileSync("du", ["-sb", tablesDir], { encoding: "utf8" }).split("\t")[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true }); // 38 GB of a shared disk: gone as soon as measured
  }
  if (r.code !== 0) {
    console.error(r.stderr.slice(-3000));
    throw new Error(`dlrm train exited with ${r.code}`);
  }
  const t = r.stepMs;
  const after =
    t.length > warmup + 1
      ? ((t.length - 1 - warmup) * batch) / (((t.at(-1) as number) - (t[warmup] as number)) / 1000)
      : Number.NaN;
  const steady = t.length > warmup + 1 ? diskBytesBetween(r.ioTrace, t[warmup] as number, t.at(-1) as number) : null;
  const steadySteps = t.length - 1 - warmup;
  const ts = r.tableStore as { files_made_ms?: number; file_bytes?: number } | null;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const k = Math.min(20, Math.floor(r.losses.length / 2));
  const out = {
    command:
      `nice -n 10 node --import tsx bench/table_store_past_ram.bench.ts ${process.argv.slice(2).join(" ")}`.trim(),
    date: started.toISOString(),
    machine: machine(),
    loadAvg: { start: startLoad, end: loadavg() },
    ramBytes: ram,
    cap: M,
    rows,
    recordBytes: RECORD_BYTES,
    tableBytes,
    ramRatio: tableBytes / ram,
    filesBytes,
    steps,
    warmup,
    batch,
    cache,
    workers,
    firstStepS: (t[0] ?? Number.NaN) / 1000,
    filesMadeS: ts?.files_made_ms === undefined ? Number.NaN : ts.files_made_ms / 1000,
    filesMBPerS:
      ts?.files_made_ms === undefined || ts.file_bytes === undefined
        ? Number.NaN
        : ts.file_bytes / 1e6 / (ts.files_made_ms / 1000),
    lossFirst: mean(r.losses.slice(0, k)),
    lossLast: mean(r.losses.slice(-k)),
    lossesFinite: r.losses.length === steps && r.losses.every(Number.isFinite),
    diskReadPerStep: steady === null ? Number.NaN : steady.read / steadySteps,
    diskWritePerStep: steady === null ? Number.NaN : steady.write / steadySteps,
    samplesPerSecMedian: batch / (medianStepMs(t, warmup) / 1000),
    samplesPerSecAfterWarmup: after,
    wallS: r.wallS,
    peakRssMiB: r.peakKiB / 1024,
    diskReadBytes: r.diskReadBytes,
    diskWriteBytes: r.diskWriteBytes,
    tableStore: r.tableStore,
  };
  console.log(JSON.stringify(out));
  if (process.argv.includes("--docs")) writeDocs(out);
}

function markdown(o: {
  command: string;
  date: string;
  machine: Record<string, string | number>;
  loadAvg: { start: number[]; end: number[] };
  ramBytes: number;
  cap: number;
  rows: number;
  recordBytes: number;
  tableBytes: number;
  ramRatio: number;
  filesBytes: number;
  steps: number;
  warmup: number;
  batch: number;
  cache: string;
  workers: number;
  firstStepS: number;
  filesMadeS: number;
  filesMBPerS: number;
  lossFirst: number;
  lossLast: number;
  lossesFinite: boolean;
  diskReadPerStep: number;
  diskWritePerStep: number;
  samplesPerSecMedian: number;
  samplesPerSecAfterWarmup: number;
  wallS: number;
  peakRssMiB: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  tableStore: Record<string, unknown> | null;
}): string {
  const ts = (o.tableStore ?? {}) as Record<string, number>;
  const n = (x: number | undefined): string => (x === undefined ? "–" : x.toLocaleString("en-US"));
  const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join(" / ");
  return [
    "## Tables past RAM: 1.5× the machine's memory of rows (`bench/table_store_past_ram.bench.ts`)",
    "",
    `Run of ${o.date.slice(0, 16).replace("T", " ")} UTC on ${o.machine.cpu} (${o.machine.cores} cores, ${(o.ramBytes / GiB).toFixed(2)} GiB RAM), Node ${o.machine.node}. **The machine was shared** with other developers' tests and benchmarks; load average (1 / 5 / 15 min) ${load(o.loadAvg.start)} at the start, ${load(o.loadAvg.end)} at the end.`,
    "",
    `\`${o.command}\` — the 26 Criteo Terabyte tables at dim 64, each capped at ${n(o.cap)} rows (the reference's \`--max-ind-range ${o.cap}\`): ${n(o.rows)} rows of ${o.recordBytes}-byte records (64 weights and row-wise Adagrad's accumulator) = **${(o.tableBytes / 1e9).toFixed(2)} GB, ${o.ramRatio.toFixed(2)}× RAM** (files on disk: ${(o.filesBytes / 1e9).toFixed(2)} GB); bottom 13-512-256-64, top 415-512-512-256-1; ${n(o.steps * o.batch)} heavy-headed generated samples, batch ${o.batch}, ${o.steps} steps, ${o.workers === 1 ? "one worker" : `${o.workers} workers`}, \`--table-cache-bytes ${o.cache}\`, look-ahead with the next batch read ahead. The files were deleted after the run.`,
    "",
    "| made the files | samples/s, median step | samples/s, all steps after warm-up | wall | peak RSS | hit rate | rows read (ahead) | rows written | waited for rows | records read / step | disk read / step | records written / step | loss, first → last 20 steps |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| ${o.filesMadeS.toFixed(0)} s (${o.filesMBPerS.toFixed(0)} MB/s) | ${Math.round(o.samplesPerSecMedian).toLocaleString("en-US")} | ${Math.round(o.samplesPerSecAfterWarmup).toLocaleString("en-US")} | ${o.wallS.toFixed(0)} s | ${(o.peakRssMiB / 1024).toFixed(2)} GiB | ${ts.hit_rate ?? "–"} | ${n(ts.rows_read)} (${n(ts.rows_read_ahead)}) | ${n(ts.rows_written)} | ${n(ts.wait_ms === undefined ? undefined : Math.round(ts.wait_ms / 1000))} s | ${((ts.bytes_read ?? Number.NaN) / o.steps / 1e6).toFixed(2)} MB | ${(o.diskReadPerStep / 1e6).toFixed(1)} MB | ${((ts.bytes_written ?? Number.NaN) / o.steps / 1e6).toFixed(2)} MB | ${o.lossFirst.toFixed(4)} → ${o.lossLast.toFixed(4)}${o.lossesFinite ? "" : " (not all finite)"} |`,
    "",
    `In all the process had the disk read ${(o.diskReadBytes / 1e9).toFixed(2)} GB (making the files included). First step ${o.firstStepS.toFixed(0)} s after spawn; the wall time includes writing back the dirty rows at the end.`,
    "",
    "*records read / written per step*: the table store's own count of record bytes moved (misses read, evicted dirty rows written), over all steps (the final write-back is after the line). *disk read / step*: what the process had the block layer read (`/proc/<pid>/io` read_bytes) between the end of the warm-up and the last step, over those steps: a record is 260 bytes of a 4 KiB page, so a miss that the page cache cannot serve reads a page or more. The kernel's write_bytes is not shown: it is counted when a page (or a large folio) is first dirtied, so a 260-byte record write counts its whole folio, and the total came out larger than the disk could have written.",
    "",
    "```json",
    JSON.stringify(o),
    "```",
  ].join("\n");
}

function writeDocs(out: Parameters<typeof markdown>[0]): void {
  const path = join(ROOT, "docs/benchmarks.md");
  writeFileSync(path, replaceSection(readFileSync(path, "utf8"), PAST_RAM_SECTION, markdown(out)));
}

const saved = arg("from-json", "");
if (saved !== "") writeDocs(JSON.parse(readFileSync(saved, "utf8")) as Parameters<typeof markdown>[0]);
else await main();
