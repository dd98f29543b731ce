// Inference throughput and latency (issue 14, point 5): the Kaggle-shaped DLRM (13 dense
// features, bottom 13-512-256-64-16, the 26 Kaggle tables of dim 16 capped at --rows-cap rows,
// dot interaction, top 367-512-256-1, one index per bag) predicted by
//   - ours: the library's predict(model, data, batchSize) on this thread (what `dlrm predict
//     --workers 1` runs per batch), float32;
//   - ours with --workers ranks (default 2): HybridExecutor.predict, what `dlrm predict
//     --workers N` runs per batch (each rank pools its tables over the batch and predicts its
//     slice), on the same model (the ranks make it from the same seed);
//   - ours with int8 and int4 tables: QuantizedDLRM.predict (what `dlrm predict
//     --quantize-emb-with-bit 8|4` runs per batch) on the same model's tables quantized;
//   - ONNX Runtime (onnxruntime-node, a dev dependency) on the model `dlrm export --bag-size 1`
//     writes for the same checkpoint, with --threads intra-op threads; its inputs are built
//     once per batch size, as a server holding int64 ids would;
//   - PyTorch (bench/pytorch_dlrm.py --predict, torch.no_grad()) on a model of the same shapes
//     (timing does not depend on the weights' values), under every configuration of
//     bench/torch_anchor.ts (each torch found × stock/tuned × --torch-threads), each process
//     checked for what it loaded; ours is compared with the strongest of them (issue 26): the
//     lowest p50 latency at batch 1, the highest samples/s at batch 2048.
// Per batch size (1, 64, 2048): calls for about --seconds after 50 warm-up calls (fewer when they
// take longer than --seconds); samples/s from
// the median call, and the p50 and p99 latency of one call. All run one after the other in one
// process run; the machine is shared, so compare within a run.
//
//   node --import tsx bench/predict.bench.ts [--rows-cap 100000] [--threads 1] [--workers 2] [--torch-threads 1,2]
//        [--batches 1,64,2048] [--seconds 2] [--no-pytorch] [--docs]
//
// The last stdout line is one JSON object; a Markdown table goes to stderr. --docs rewrites this
// program's section of docs/benchmarks.md.
//
// Glossary: B batch size.

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd } from "../src/kernels/wasm.ts";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { KAGGLE_TABLES, kaggleModel } from "./train.bench.ts";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";
import {
  checkRuntime,
  findTorches,
  lastJson,
  PYTORCH_SCRIPT,
  torchConfigs,
  tuning,
  type TorchRuntime,
} from "./torch_anchor.ts";
import { sliceDataset, type Dataset } from "../src/data/dataset.ts";
import { randomDataset } from "../src/data/random.ts";
import { saveCheckpoint } from "../src/dlrm/checkpoint.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { exportOnnx } from "../src/interop/onnx/export_onnx.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { QuantizedDLRM } from "../src/interop/quantized/quantized.ts";
import { optimizerSpec } from "../src/optim/make.ts";
import { HybridExecutor } from "../src/parallel/hybrid.ts";
import { predict } from "../src/train/trainer.ts";

setFlagsFromString("--no-liftoff");
enableRelaxedSimd(); // as the `dlrm` command does

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? (args[i + 1] as string) : fallback;
};
const rowsCap = Number(arg("rows-cap", "100000"));
const threads = Number(arg("threads", "1"));
const workers = Number(arg("workers", "2"));
const seconds = Number(arg("seconds", "2"));
const torchThreads = arg("torch-threads", "1,2").split(",").map(Number);
const BATCHES = arg("batches", "1,64,2048").split(",").map(Number);
export const PREDICT_SECTION = "predict";
const loadBefore = loadavg().map((x) => Number(x.toFixed(2)));

interface Timing {
  batch: number;
  calls: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Calls fn for about `seconds` after the warm-up calls; the median and p99 of one call. */
async function time(batch: number, fn: () => unknown): Promise<Timing> {
  // warm-up: 50 calls, or as many as fit in `seconds` (at least 5) for the big batches
  const w0 = performance.now();
  for (let i = 0; i < 50 && (i < 5 || performance.now() - w0 < seconds * 1000); i++) await fn();
  const ms: number[] = [];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || ms.length < 20) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const p50 = ms[Math.floor(ms.length / 2)] as number;
  const p99 = ms[Math.min(ms.length - 1, Math.floor(0.99 * ms.length))] as number;
  const r = (x: number): number => Math.round(x * 10000) / 10000;
  return { batch, calls: ms.length, samplesPerSec: Math.round(batch / (p50 / 1000)), p50Ms: r(p50), p99Ms: r(p99) };
}

/** ONNX Runtime's inputs for samples [0, B): dense (B, 13) and indices_t (B, 1) int64. */
function ortFeeds(d: Dataset, B: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {
    dense: new ort.Tensor("float32", d.dense.slice(0, B * d.denseFeatures), [B, d.denseFeatures]),
  };
  d.sparse.forEach((f, t) => {
    feeds[`indices_${t}`] = new ort.Tensor("int64", BigInt64Array.from(f.indices.subarray(0, B), BigInt), [B, 1]);
  });
  return feeds;
}

const tables = KAGGLE_TABLES.map((R) => (rowsCap > 0 ? Math.min(R, rowsCap) : R));
const config = parseConfig(kaggleModel(tables));
const tmp = mkdtempSync(join(tmpdir(), "dlrm-predict-bench-"));
try {
  const model = new DLRM(config, 7);
  const checkpoint = join(tmp, "ckpt.safetensors");
  await saveCheckpoint(checkpoint, model);
  const onnxPath = join(tmp, "model.onnx");
  exportOnnx(config, checkpoint, onnxPath, { bagSize: 1, externalOver: 2 ** 31 });
  const data = randomDataset({
    n: Math.max(...BATCHES),
    denseFeatures: 13,
    tableSizes: tables,
    numIndicesPerLookup: 1,
    numIndicesPerLookupFixed: true,
    seed: 3,
  });
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: threads, interOpNumThreads: 1 });

  const quantized = ([8, 4] as const).map((bits) => ({
    bits,
    q: QuantizedDLRM.fromModel(model, bits),
    t: [] as Timing[],
  }));
  const ours: Timing[] = [];
  const ranked: Timing[] = [];
  const onnx: Timing[] = [];
  // The ranks make the same model from the same seed (src/dlrm/init.ts: whatever the worker count).
  const executor =
    workers > 1
      ? await HybridExecutor.start({
          config,
          workers,
          optimizer: optimizerSpec("sgd", config.lr), // never steps
          source: { kind: "seed", seed: 7 },
          datasets: [data],
          maxBatch: Math.max(...BATCHES),
        })
      : null;
  let maxDiff = 0;
  const quantizedDiff: Record<string, number> = {};
  for (const B of BATCHES) {
    const part = sliceDataset(data, 0, B);
    ours.push(await time(B, () => predict(model, part, B)));
    if (executor !== null) {
      ranked.push(await time(B, () => executor.predict(part, B)));
      const a = predict(model, part, B);
      const b = await executor.predict(part, B);
      for (let i = 0; i < B; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
    }
    for (const { bits, q, t } of quantized) {
      t.push(await time(B, () => q.predict(part, B)));
      // near the float32 model (its tables' quantization error is all that differs)
      const a = predict(model, part, B);
      const b = q.predict(part, B);
      for (let i = 0; i < B; i++)
        quantizedDiff[`int${bits}`] = Math.max(
          quantizedDiff[`int${bits}`] ?? 0,
          Math.abs((a[i] as number) - (b[i] as number)),
        );
    }
    const feeds = ortFeeds(data, B);
    onnx.push(await time(B, () => session.run(feeds)));
    // The two answer the same: a benchmark of a wrong model would mean nothing.
    const a = predict(model, part, B);
    const b = (await session.run(feeds))["pred"]?.data as Float32Array;
    for (let i = 0; i < B; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
  }
  await executor?.close();
  if (!(maxDiff <= 1e-4))
    throw new Error(`predict.bench: ours on one thread, on ${workers} workers and ONNX Runtime differ by ${maxDiff}`);
  for (const [k, d] of Object.entries(quantizedDiff))
    if (!(d <= 0.05)) throw new Error(`predict.bench: ${k} tables move predictions by ${d}`);

  // PyTorch: every configuration, each process checked for what it ran with.
  const pytorch: { label: string; threads: number; found: string; problems: string[]; results: Timing[] }[] = [];
  const { installs, missing } = args.includes("--no-pytorch")
    ? { installs: [], missing: ["not run (--no-pytorch)"] }
    : findTorches();
  for (const c of torchConfigs(installs, torchThreads)) {
    const py = [PYTORCH_SCRIPT, "--predict", BATCHES.join(","), "--rows-cap", String(rowsCap)];
    const r = spawnSync(c.install.python, [...py, "--threads", String(c.threads), "--seconds", String(seconds)], {
      encoding: "utf8",
      env: c.env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    const out = lastJson<{ results: Timing[]; runtime?: TorchRuntime }>(r.stdout ?? "");
    if (r.status !== 0 || out === null) throw new Error(`predict.bench: ${c.label} exited ${r.status}`);
    const checked = checkRuntime(c, out.runtime);
    pytorch.push({ label: c.label, threads: c.threads, ...checked, results: out.results });
    process.stderr.write(
      `${c.label}: ${checked.found}${checked.problems.length > 0 ? `; PROBLEMS: ${checked.problems.join("; ")}` : ""}\n`,
    );
  }

  // The strongest PyTorch at each batch size (at `threads` threads, ours' count, and at any):
  // the lowest p50 latency at batch 1, the highest samples/s otherwise.
  const strongest = (B: number, maxThreads: number): { label: string; t: Timing } | null => {
    let best: { label: string; t: Timing } | null = null;
    for (const p of pytorch) {
      const t = p.results.find((x) => x.batch === B);
      if (t === undefined || p.threads > maxThreads) continue;
      if (best === null || (B === 1 ? t.p50Ms < best.t.p50Ms : t.samplesPerSec > best.t.samplesPerSec))
        best = { label: p.label, t };
    }
    return best;
  };
  const versus = (t: Timing, s: { t: Timing } | null): number | null =>
    s === null ? null : Number((t.batch === 1 ? s.t.p50Ms / t.p50Ms : t.samplesPerSec / s.t.samplesPerSec).toFixed(2));

  const rows = [
    "| program | batch | samples/s | p50 ms | p99 ms | × strongest PyTorch at as many threads | × strongest at any |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const add = (name: string, ts: Timing[], cores = threads): void => {
    for (const t of ts) {
      const a = versus(t, strongest(t.batch, cores));
      const b = versus(t, strongest(t.batch, Infinity));
      rows.push(
        `| ${name} | ${t.batch} | ${t.samplesPerSec.toLocaleString("en")} | ${t.p50Ms} | ${t.p99Ms} | ${a === null ? "–" : `${a}×`} | ${b === null ? "–" : `${b}×`} |`,
      );
    }
  };
  add(`ours (float32, ${threads} thread${threads === 1 ? "" : "s"})`, ours);
  if (executor !== null) add(`ours (float32, ${workers} workers)`, ranked, workers);
  for (const { bits, t } of quantized) add(`ours (int${bits} tables, ${threads} thread${threads === 1 ? "" : "s"})`, t);
  add(`ONNX Runtime ${ort.env.versions.common} (${threads} thread${threads === 1 ? "" : "s"})`, onnx);
  for (const p of pytorch) add(p.label, p.results, p.threads);
  const table = rows.join("\n");
  process.stderr.write(`${table}\n`);
  const run = {
    when: new Date().toISOString(),
    machine: machine(),
    loadAverage: { before: loadBefore, after: loadavg().map((x) => Number(x.toFixed(2))) },
    command: `node --import tsx bench/predict.bench.ts ${args.join(" ")}`.trim(),
    rowsCap,
    threads,
    workers,
    seconds,
    maxDiff,
    quantizedDiff,
    ours,
    ranked,
    quantized: Object.fromEntries(
      quantized.map(({ bits, q, t }) => [`int${bits}`, { tableBytes: q.tableBytes(), timings: t }]),
    ),
    onnx,
    pytorch,
    pytorchMissing: missing,
    tuning: tuning().note,
    strongest: Object.fromEntries(BATCHES.map((B) => [B, strongest(B, Infinity)?.label ?? null])),
  };
  if (args.includes("--docs")) {
    const docs = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));
    const body = renderPredictSection(run, table);
    writeFileSync(
      docs,
      replaceSection(existsSync(docs) ? readFileSync(docs, "utf8") : "# Benchmarks\n", PREDICT_SECTION, body),
    );
    process.stderr.write("docs/benchmarks.md: the inference section rewritten\n");
  }
  process.stdout.write(`${JSON.stringify(run)}\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** This program's section of docs/benchmarks.md: the run's table, what each PyTorch ran with, the JSON. */
function renderPredictSection(
  run: {
    when: string;
    machine: Record<string, string | number>;
    loadAverage: { before: number[]; after: number[] };
    command: string;
    pytorch: { label: string; found: string; problems: string[] }[];
    pytorchMissing: string[];
    tuning: string;
  },
  table: string,
): string {
  const m = run.machine;
  const shared = Math.max(...run.loadAverage.before, ...run.loadAverage.after) > 2.5;
  return [
    "## Inference (bench/predict.bench.ts)",
    "",
    "Predict throughput and latency of the Kaggle-shaped model (tables capped at 100,000 rows, one index",
    "per bag, dot interaction): ours (the library's `predict`, which `dlrm predict --workers 1` runs per",
    "batch, with float32 tables and with int8 and int4 tables, `QuantizedDLRM.predict`; and the ranks of",
    "`dlrm predict --workers 2`, `HybridExecutor.predict`, each rank pooling its tables over the batch and",
    "predicting its slice), ONNX Runtime on",
    "`dlrm export --bag-size 1`'s model of the same checkpoint, and PyTorch under `torch.no_grad()` under",
    "every configuration of bench/torch_anchor.ts (each torch × stock/tuned × 1 and 2 threads, as for",
    "training). *× strongest*: for batch 1 the strongest PyTorch's p50 latency over ours (above 1: ours",
    "answers sooner), for the other sizes ours' samples/s over the strongest PyTorch's; first against the",
    "strongest PyTorch at as many threads as the row uses (workers for our ranks), then against the",
    "strongest at any. The benchmark checks that ours on one thread, on the ranks and ONNX Runtime agree",
    "within 1e-4 and that int8/int4 move no prediction by more than 0.05.",
    `Written by \`${run.command}\`.`,
    "",
    `- date: ${run.when}; CPU: ${m.cpu}, ${m.cores} cores; Node ${m.node}`,
    `- load average (1, 5, 15 min): ${run.loadAverage.before.join(", ")} before; ${run.loadAverage.after.join(", ")} after` +
      (shared ? " — **the machine was shared**: compare within the run" : ""),
    `- tuned PyTorch: ${run.tuning}`,
    ...run.pytorch.map(
      (p) => `- ${p.label}: ${p.found}${p.problems.length > 0 ? `; **${p.problems.join("; ")}**` : ""}`,
    ),
    ...run.pytorchMissing.map((x) => `- missing: ${x}`),
    "",
    table,
    "",
    "The JSON line the benchmark printed:",
    "",
    "```json",
    JSON.stringify(run),
    "```",
  ].join("\n");
}
