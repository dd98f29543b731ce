// A manual check, not part of `npm test` (it writes about 7 GB and takes a minute or two):
// `dlrm export` of a model whose first table is 2.3 GB (36M rows of 16 floats, past 2 GiB)
// puts that table in <out>.data, and ONNX Runtime, reading it from there, predicts what
// `dlrm predict` predicts, for ids near the table's end (byte offsets past 2^31).
//
//   node --import tsx test/helpers/export_big_table.ts [folder]     (default: a temp folder, removed after)
//
// docs/serving.md records the last run.

import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { execFileSync } from "node:child_process";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";

const dir = process.argv[2] ?? mkdtempSync(join(tmpdir(), "dlrm-big-export-"));
const ROWS = 36_000_000;
const bin = new URL("../../bin/dlrm.js", import.meta.url).pathname;
/** One dlrm command in its own process: a wasm memory never shrinks, so each gets a fresh one. */
const run = (args: string[]): void => {
  const t0 = performance.now();
  execFileSync(process.execPath, [bin, ...args], { stdio: "inherit" });
  console.log(`dlrm ${args[0]}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
};
try {
  const model = join(dir, "big.json");
  writeFileSync(
    model,
    JSON.stringify({
      dense_features: 2,
      bottom_mlp: [2, 8, 16],
      embedding_dim: 16,
      table_sizes: [ROWS, 50],
      top_mlp: [19, 8, 1],
    }),
  );
  const ckpt = join(dir, "big.safetensors");
  run(["train", "--model", model, "--data", "random", "--steps", "0", "--save", ckpt, "--workers", "1"]);
  const data = randomDataset({
    n: 64,
    denseFeatures: 2,
    tableSizes: [ROWS, 50],
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: false,
    seed: 9,
  });
  const big = data.sparse[0]!;
  big.indices.forEach((id, l) => (big.indices[l] = l % 2 === 0 ? ROWS - 1 - (id % 1000) : id)); // half the ids in the last 1000 rows
  const batches = join(dir, "batches.safetensors");
  writeBatchFile(batches, data);
  const onnx = join(dir, "big.onnx");
  run(["export", "--checkpoint", ckpt, "--model", model, "--out", onnx]);
  console.log(`big.onnx ${statSync(onnx).size} bytes, big.onnx.data ${statSync(`${onnx}.data`).size} bytes`);
  const preds = join(dir, "pred.safetensors");
  run(["predict", "--checkpoint", ckpt, "--model", model, "--data", batches, "--out", preds]);
  const expected = readSafetensors(preds).tensors.get("pred")!.data as Float32Array;

  const t0 = performance.now();
  const session = await ort.InferenceSession.create(onnx);
  const feeds: Record<string, ort.Tensor> = { dense: new ort.Tensor("float32", data.dense, [data.n, 2]) };
  data.sparse.forEach((f, t) => {
    feeds[`indices_${t}`] = new ort.Tensor("int64", BigInt64Array.from(f.indices, BigInt), [f.indices.length]);
    feeds[`offsets_${t}`] = new ort.Tensor("int64", BigInt64Array.from(f.offsets.subarray(0, data.n), BigInt), [
      data.n,
    ]);
  });
  const pred = (await session.run(feeds))["pred"]!.data as Float32Array;
  console.log(`ONNX Runtime: load and run ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const worst = Math.max(...pred.map((p, i) => Math.abs(p - expected[i]!)));
  const spread = Math.max(...expected) - Math.min(...expected);
  console.log(
    `${data.n} predictions: max |ONNX Runtime - dlrm predict| = ${worst.toExponential(2)} (predictions span ${spread.toFixed(4)})`,
  );
  if (!(worst <= 1e-5 + 1e-4)) throw new Error("the predictions differ");
} finally {
  if (process.argv[2] === undefined) rmSync(dir, { recursive: true, force: true });
}
