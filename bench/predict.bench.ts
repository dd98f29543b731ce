// Inference throughput and latency (issue 14, point 5): the Kaggle-shaped DLRM (13 dense
// features, bottom 13-512-256-64-16, the 26 Kaggle tables of dim 16 capped at --rows-cap rows,
// dot interaction, top 367-512-256-1, one index per bag) predicted by
//   - ours: the library's predict(model, data, batchSize) on this thread (what `dlrm predict
//     --workers 1` runs per batch), float32;
//   - ours with int8 and int4 tables: QuantizedDLRM.predict (what `dlrm predict
//     --quantize-emb-with-bit 8|4` runs per batch) on the same model's tables quantized;
//   - ONNX Runtime (onnxruntime-node, a dev dependency) on the model `dlrm export --bag-size 1`
//     writes for the same checkpoint, with --threads intra-op threads; its inputs are built
//     once per batch size, as a server holding int64 ids would;
//   - PyTorch (bench/pytorch_dlrm.py --predict, torch.no_grad(), --threads threads) on a model
//     of the same shapes (timing does not depend on the weights' values).
// Per batch size (1, 64, 2048): calls for about --seconds after 50 warm-up calls; samples/s from
// the median call, and the p50 and p99 latency of one call. The three run one after the
// other in one process run; the machine is shared, so compare within a run.
//
//   node --import tsx bench/predict.bench.ts [--rows-cap 100000] [--threads 1] [--seconds 2] [--no-pytorch]
//
// The last stdout line is one JSON object; a Markdown table goes to stderr.
//
// Glossary: B batch size.

import { setFlagsFromString } from "node:v8";
import { enableRelaxedSimd } from "../src/kernels/wasm.ts";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { KAGGLE_TABLES } from "./train.bench.ts";
import { sliceDataset, type Dataset } from "../src/data/dataset.ts";
import { randomDataset } from "../src/data/random.ts";
import { saveCheckpoint } from "../src/dlrm/checkpoint.ts";
import { parseConfig } from "../src/dlrm/config.ts";
import { exportOnnx } from "../src/dlrm/export_onnx.ts";
import { DLRM } from "../src/dlrm/model.ts";
import { QuantizedDLRM } from "../src/dlrm/quantized.ts";
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
const seconds = Number(arg("seconds", "2"));
const BATCHES = [1, 64, 2048];

interface Timing {
  batch: number;
  calls: number;
  samplesPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** Calls fn for about `seconds` after 50 warm-up calls; the median and p99 of one call. */
async function time(batch: number, fn: () => unknown): Promise<Timing> {
  for (let i = 0; i < 50; i++) await fn();
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
const config = parseConfig({
  dense_features: 13,
  bottom_mlp: [13, 512, 256, 64, 16],
  embedding_dim: 16,
  table_sizes: tables,
  pooling: "sum",
  interaction: "dot",
  top_mlp: [367, 512, 256, 1],
  loss: "bce",
});
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
  const onnx: Timing[] = [];
  let maxDiff = 0;
  const quantizedDiff: Record<string, number> = {};
  for (const B of BATCHES) {
    const part = sliceDataset(data, 0, B);
    ours.push(await time(B, () => predict(model, part, B)));
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
  if (!(maxDiff <= 1e-4)) throw new Error(`predict.bench: ours and ONNX Runtime differ by ${maxDiff}`);
  for (const [k, d] of Object.entries(quantizedDiff))
    if (!(d <= 0.05)) throw new Error(`predict.bench: ${k} tables move predictions by ${d}`);

  let pytorch: { torch: string; results: Timing[] } | null = null;
  if (!args.includes("--no-pytorch")) {
    const py = ["bench/pytorch_dlrm.py", "--predict", BATCHES.join(","), "--rows-cap", String(rowsCap)];
    const out = execFileSync("/usr/bin/python3", [...py, "--threads", String(threads), "--seconds", String(seconds)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    pytorch = JSON.parse(out.trim().split("\n").pop() as string);
  }

  const rows = ["| program | batch | samples/s | p50 ms | p99 ms |", "| --- | ---: | ---: | ---: | ---: |"];
  const add = (name: string, ts: Timing[]): void => {
    for (const t of ts)
      rows.push(`| ${name} | ${t.batch} | ${t.samplesPerSec.toLocaleString("en")} | ${t.p50Ms} | ${t.p99Ms} |`);
  };
  add("ours (float32, 1 thread)", ours);
  for (const { bits, t } of quantized) add(`ours (int${bits} tables, 1 thread)`, t);
  add(`ONNX Runtime ${ort.env.versions.common} (${threads} thread${threads === 1 ? "" : "s"})`, onnx);
  if (pytorch !== null) add(`PyTorch ${pytorch.torch} (${threads} thread${threads === 1 ? "" : "s"})`, pytorch.results);
  process.stderr.write(`${rows.join("\n")}\n`);
  const when = new Date().toISOString();
  process.stdout.write(
    `${JSON.stringify({
      when,
      rowsCap,
      threads,
      seconds,
      maxDiff,
      quantizedDiff,
      ours,
      quantized: Object.fromEntries(
        quantized.map(({ bits, q, t }) => [`int${bits}`, { tableBytes: q.tableBytes(), timings: t }]),
      ),
      onnx,
      pytorch,
    })}\n`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
