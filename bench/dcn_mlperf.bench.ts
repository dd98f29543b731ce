// The MLPerf DLRM-DCNv2 shape on generated data, 2 workers (issue 28, item 5), measured through
// the command users run:
//
//   nice -n 10 node --import tsx bench/dcn_mlperf.bench.ts [--steps 10] [--batch 512] [--rows 20000]
//        [--out /tmp/dcn_mlperf.json] [--docs]
//   node --import tsx bench/dcn_mlperf.bench.ts --from <results.json> --docs   (render a saved run)
//
// The model is MLPerf's DLRM-DCNv2 (training_results v3.0, TorchRec's DLRM_DCN): 13 dense
// features, bottom MLP 512-256-128, E = 128, 26 tables, 3 cross layers of rank 512 over
// N = 27 × 128 = 3456, top MLP 1024-1024-512-256-1. Two things are smaller than MLPerf's: the
// tables' rows are capped at --rows (MLPerf's 40M-row tables would take 20 GB each), and the
// batch is --batch (MLPerf's global batch of 65536 is for 8 GPUs). The bags are MLPerf's
// multi-hot sizes, per table (3, 2, 1, 2, 6, … 100, 27, 10, 3, 1, 1: 214 lookups per sample),
// ids uniform, dense features uniform in [0, 1), labels 0/1 at random: written once as a batch
// file, which both forms train on.
//
// Each form runs `dlrm train --model <config> --data <batches> --workers 2 --log steps.jsonl` as
// a child process: "dcn" (the DCNv2 shape) and "dot" (the same model with the reference's dot
// interaction, top MLP from E + 27·26/2 = 479), one after the other. Reported: samples/s =
// batch / the median step time after the first 2 steps (from the log's t_ms), the time to the
// first step (initialising 26 tables and generating the data), and the peak RSS (VmHWM of
// /proc/<pid>/status). The machine is shared: the dcn/dot ratio, within one run, is the number
// that travels. --docs rewrites this program's section of docs/benchmarks.md.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBatchFile } from "../src/data/batch_file.ts";
import { offsetsFromLengths, type Dataset } from "../src/data/dataset.ts";
import { Rng } from "../src/tensor/rng.ts";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";

export const DCN_MLPERF_SECTION = "dcn-mlperf";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** MLPerf DLRM-DCNv2's table rows (Criteo 1TB, max_ind_range 40M). */
const MLPERF_ROWS = [
  40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209, 11938, 155, 4, 976, 14,
  40000000, 40000000, 40000000, 590152, 12973, 108, 36,
];
/** MLPerf DLRM-DCNv2's lookups per sample in each table (its multi_hot_sizes). */
const MULTI_HOT = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1];
const E = 128;
const WARMUP = 2;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function config(interaction: "dcn" | "dot", rows: number, batch: number): Record<string, unknown> {
  const F = MLPERF_ROWS.length;
  const top = interaction === "dcn" ? (F + 1) * E : E + ((F + 1) * F) / 2;
  return {
    dense_features: 13,
    bottom_mlp: [13, 512, 256, E],
    embedding_dim: E,
    table_sizes: MLPERF_ROWS.map((r) => Math.min(r, rows)),
    interaction,
    ...(interaction === "dcn" ? { dcn_num_layers: 3, dcn_low_rank_dim: 512 } : {}),
    top_mlp: [top, 1024, 1024, 512, 256, 1],
    optimizer: "sgd",
    lr: 0.01,
    batch_size: batch,
  };
}

interface FormResult {
  form: string;
  command: string;
  parameters: number;
  firstStepS: number | null;
  msPerStepMedian: number | null;
  samplesPerSec: number | null;
  peakRssMiB: number;
  exitCode: number | null;
  loadAvg: number;
}

function vmHwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** n samples with MLPerf's multi-hot bags over tables of these rows. */
function multiHotData(n: number, tableSizes: readonly number[]): Dataset {
  const rng = new Rng(28);
  const dense = new Float32Array(n * 13).map(() => rng.uniform());
  const labels = new Float32Array(n).map(() => (rng.uniform() < 0.5 ? 0 : 1));
  const sparse = tableSizes.map((R, t) => {
    const lengths = new Int32Array(n).fill(MULTI_HOT[t] as number);
    const offsets = offsetsFromLengths(lengths);
    const indices = new Int32Array(offsets[n] as number).map(() => rng.int(R));
    return { lengths, offsets, indices, weights: null };
  });
  return { n, denseFeatures: 13, dense, labels, sparse };
}

function runForm(form: "dcn" | "dot", o: { steps: number; batch: number; rows: number }, dir: string) {
  const cfg = config(form, o.rows, o.batch);
  const cfgPath = join(dir, `${form}.json`);
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const log = join(dir, `${form}.jsonl`);
  const flags = ["--data", join(dir, "batches.safetensors"), "--workers", "2", "--no-shuffle"].concat([
    "--steps",
    String(o.steps + WARMUP),
    "--log",
    log,
  ]);
  const args = ["--import", "tsx", "src/cli/main.ts", "train", "--model", cfgPath, ...flags];
  const widths = (w: number[]): number => w.slice(1).reduce((s, out, i) => s + out * (w[i] as number) + out, 0);
  const N = (MLPERF_ROWS.length + 1) * E;
  const parameters =
    widths(cfg.bottom_mlp as number[]) +
    widths(cfg.top_mlp as number[]) +
    (form === "dcn" ? 3 * (2 * N * 512 + N) : 0) +
    (cfg.table_sizes as number[]).reduce((s, r) => s + r * E, 0);
  return new Promise<FormResult>((done) => {
    const child = spawn(process.execPath, args, { cwd: ROOT });
    let peak = 0;
    let stderr = "";
    const poll = setInterval(() => (peak = Math.max(peak, vmHwmKiB(child.pid as number))), 100);
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("close", (code) => {
      clearInterval(poll);
      if (code !== 0) process.stderr.write(stderr);
      const t = existsSync(log)
        ? readFileSync(log, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as { t_ms?: number })
            .filter((r) => r.t_ms !== undefined)
            .map((r) => r.t_ms as number)
        : [];
      const d = t.slice(WARMUP + 1).map((x, i) => x - (t[WARMUP + i] as number));
      d.sort((a, b) => a - b);
      const median = d.length === 0 ? null : (d[d.length >> 1] as number);
      done({
        form,
        command: `node ${args.join(" ").replaceAll(dir, "<tmp>")}`,
        parameters,
        firstStepS: t.length === 0 ? null : (t[0] as number) / 1000,
        msPerStepMedian: median,
        samplesPerSec: median === null ? null : o.batch / (median / 1000),
        peakRssMiB: peak / 1024,
        exitCode: code,
        loadAvg: loadavg()[0] as number,
      });
    });
  });
}

interface Result {
  date: string;
  machine: Record<string, string | number>;
  steps: number;
  batch: number;
  rows: number;
  forms: FormResult[];
}

/** Multiply-adds × 2 of a sample's GEMMs, forward and backward (3 × the forward): the MLPs and, for dcn, the cross layers. */
function flopsPerSample(form: string): number {
  const cfg = config(form as "dcn" | "dot", 1, 1);
  const mlp = (w: number[]): number => w.slice(1).reduce((s, out, i) => s + 2 * out * (w[i] as number), 0);
  const N = (MLPERF_ROWS.length + 1) * E;
  const cross = form === "dcn" ? 3 * 2 * 2 * N * 512 : 0;
  return 3 * (mlp(cfg.bottom_mlp as number[]) + mlp(cfg.top_mlp as number[]) + cross);
}

const fmt = (x: number | null, digits = 0): string => (x === null ? "—" : x.toFixed(digits));

function markdown(r: Result): string {
  const by = (f: string): FormResult | undefined => r.forms.find((x) => x.form === f);
  const [dcn, dot] = [by("dcn"), by("dot")];
  const ratio =
    dcn?.samplesPerSec != null && dot?.samplesPerSec != null ? (dcn.samplesPerSec / dot.samplesPerSec).toFixed(2) : "—";
  const rows = r.forms.map(
    (f) =>
      `| ${f.form} | ${(f.parameters / 1e6).toFixed(1)} M | ${(flopsPerSample(f.form) / 1e6).toFixed(1)} | ${fmt(f.firstStepS, 1)} | ${fmt(f.msPerStepMedian)} | ${fmt(f.samplesPerSec)} | ${f.samplesPerSec === null ? "—" : ((f.samplesPerSec * flopsPerSample(f.form)) / 1e9).toFixed(1)} | ${fmt(f.peakRssMiB)} | ${f.exitCode} | ${f.loadAvg.toFixed(1)} |`,
  );
  return `## The MLPerf DLRM-DCNv2 shape, 2 workers (bench/dcn_mlperf.bench.ts)

MLPerf's DLRM-DCNv2 (TorchRec's \`DLRM_DCN\`): 13 dense features, bottom MLP 13-512-256-128,
E = 128, 26 tables, 3 cross layers of rank 512 over N = 27 × 128 = 3456, top MLP
3456-1024-1024-512-256-1; trained by \`dlrm train --model\` (interaction \`dcn\`)
with \`--workers 2\`, batch ${r.batch}, on MLPerf's multi-hot bags (per table 1 to 100 lookups,
214 per sample; ids uniform, written once as a batch file). Smaller than MLPerf's: table rows
capped at ${r.rows} (the 40M-row tables would take 20 GB each). *dot* is the same
model with the reference's dot interaction (top MLP from 479) for a ratio within the run.
*samples/s*: batch / the median step time over ${r.steps} steps after ${WARMUP} (the log's \`t_ms\`);
*GEMM MFLOP/sample*: 2 × the multiply-adds of the MLPs' and cross layers' products, forward and
backward (3 × the forward); *GFLOP/s*: that × samples/s, the rate the step reaches;
*first step*: spawn to the first step's log line (26 tables initialised, every rank drawing the
head's normal values, the batch file opened, one step);
*peak RSS*: VmHWM of the process. Written by \`nice -n 10 node --import tsx
bench/dcn_mlperf.bench.ts --docs\`. **This machine was shared** (load column; 2 cores).

- date: ${r.date}
- CPU: ${r.machine.cpu}, ${r.machine.cores} cores; Node ${r.machine.node}

| form | parameters | GEMM MFLOP/sample | first step (s) | ms/step (median) | samples/s | GFLOP/s | peak RSS (MiB) | exit | load |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

DCNv2 / dot samples/s (same run): ${ratio}; the GEMM work per sample gives the expected ratio,
${(flopsPerSample("dot") / flopsPerSample("dcn")).toFixed(2)}, so the cross layers cost what their products do. The DCNv2 model's longer
first step is mostly its head's ${dcn === undefined || dot === undefined ? "—" : ((dcn.parameters - dot.parameters) / 1e6).toFixed(1)} M more parameters (cross layers, a wider first top layer), drawn
from normal distributions on every rank (src/dlrm/init.ts: counter-based Philox and Box-Muller).

### JSON of this run

\`\`\`json
${JSON.stringify(r, null, 2)}
\`\`\`
`;
}

async function main(): Promise<void> {
  const from = arg("from");
  let result: Result;
  if (from !== undefined) result = JSON.parse(readFileSync(from, "utf8")) as Result;
  else {
    const o = {
      steps: Number(arg("steps") ?? 10),
      batch: Number(arg("batch") ?? 512),
      rows: Number(arg("rows") ?? 20000),
    };
    const dir = mkdtempSync(join(tmpdir(), "dcn-mlperf-"));
    try {
      const rows = config("dcn", o.rows, o.batch).table_sizes as number[];
      writeBatchFile(join(dir, "batches.safetensors"), multiHotData(o.batch * (o.steps + WARMUP), rows));
      const forms: FormResult[] = [];
      for (const form of ["dcn", "dot"] as const) {
        forms.push(await runForm(form, o, dir));
        process.stderr.write(`${JSON.stringify(forms.at(-1))}\n`);
      }
      result = { date: new Date().toISOString(), machine: machine(), ...o, forms };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const out = arg("out");
    if (out !== undefined) writeFileSync(out, JSON.stringify(result, null, 2));
  }
  if (process.argv.includes("--docs")) {
    const path = join(ROOT, "docs", "benchmarks.md");
    writeFileSync(path, replaceSection(readFileSync(path, "utf8"), DCN_MLPERF_SECTION, markdown(result)));
  } else process.stdout.write(markdown(result));
}

await main();
