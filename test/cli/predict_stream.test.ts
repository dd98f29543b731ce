// `dlrm predict --data <file>` streams the file (read in order, a batch at a time): its
// predictions are bit for bit those of the same model on the file read whole into memory, on
// this thread, with quantized tables, on 2 ranks, for an ensemble of two checkpoints, and for
// an MLPerf .bin; batches of 7 over 103 rows make many reads and a short last one.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { checkpointConfig } from "../../src/cli/checkpoint_config.ts";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { MlperfBinFile } from "../../src/data/mlperf_bin.ts";
import { randomDataset } from "../../src/data/random.ts";
import { loadCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { QuantizedDLRM } from "../../src/interop/quantized/quantized.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { HybridExecutor } from "../../src/parallel/hybrid.ts";
import { predict } from "../../src/train/trainer.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const B = 7;

async function ok(args: string[]): Promise<void> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
}

function modelOf(ckpt: string): DLRM {
  const m = new DLRM(checkpointConfig(undefined, ckpt), 0);
  loadCheckpoint(ckpt, m);
  return m;
}

async function streamed(ckpts: string[], data: string, out: string, extra: string[] = []): Promise<number[]> {
  await ok([
    "predict",
    "--checkpoint",
    ckpts.join(","),
    "--data",
    data,
    "--batch-size",
    String(B),
    "--out",
    out,
    ...extra,
  ]);
  return Array.from(readSafetensors(out).tensors.get("pred")?.data as Float32Array);
}

test("predict on a batch file, streamed = the model on the file in memory (1 thread, int8, 2 ranks, an ensemble)", async () => {
  const t = tempDir();
  try {
    const c = defaultConfig();
    const file = join(t.dir, "d.safetensors");
    writeBatchFile(
      file,
      randomDataset({
        n: 103,
        denseFeatures: c.dense_features,
        tableSizes: c.table_sizes,
        numIndicesPerLookup: 3,
        numIndicesPerLookupFixed: false,
        seed: 4,
      }),
    );
    const ckpts = [join(t.dir, "a.safetensors"), join(t.dir, "b.safetensors")];
    for (const [k, ckpt] of ckpts.entries())
      await ok([
        "train",
        "--data",
        file,
        "--steps",
        "3",
        "--batch-size",
        "20",
        "--seed",
        String(k + 1),
        "--workers",
        "1",
        "--save",
        ckpt,
      ]);
    const whole: Dataset = readBatchFile(file);
    const a = modelOf(ckpts[0] as string);
    const inMemory = Array.from(predict(a, whole, B));

    assert.equal(await streamed([ckpts[0] as string], file, join(t.dir, "p1.safetensors")), inMemory, "1 thread");

    const int8 = Array.from(QuantizedDLRM.fromModel(a, 8).predict(whole, B));
    assert.equal(
      await streamed([ckpts[0] as string], file, join(t.dir, "q.safetensors"), ["--quantize-emb-with-bit", "8"]),
      int8,
      "int8 tables",
    );

    const executor = await HybridExecutor.start({
      config: a.config,
      workers: 2,
      optimizer: optimizerSpec("sgd", a.config.lr),
      source: { kind: "file", index: readCheckpointIndex(ckpts[0] as string), withOptimizer: false },
      datasets: [whole],
      maxBatch: B,
    });
    let ranks: number[];
    try {
      ranks = Array.from(await executor.predict(whole, B));
    } finally {
      await executor.close();
    }
    assert.equal(
      await streamed([ckpts[0] as string], file, join(t.dir, "p2.safetensors"), ["--workers", "2"]),
      ranks,
      "2 ranks",
    );

    const b = Array.from(predict(modelOf(ckpts[1] as string), whole, B));
    const mean = inMemory.map((p, i) => Math.fround((p + (b[i] as number)) / 2));
    const ensemble = await streamed(ckpts, file, join(t.dir, "e.safetensors"));
    assert.ok(
      ensemble.every((p, i) => Math.abs(p - (mean[i] as number)) <= 1e-7),
      "the ensemble is the mean of its members' streamed predictions",
    );
  } finally {
    t.cleanup();
  }
});

test("predict on an MLPerf .bin, streamed = the model on its rows in memory", async () => {
  const t = tempDir();
  try {
    const bin = join(t.dir, "s.bin");
    copyFileSync("test/fixtures/mlperf_bin/sample.bin", bin);
    const ckpt = join(t.dir, "m.safetensors");
    await ok(["train", "--data", bin, "--steps", "3", "--batch-size", "8", "--workers", "1", "--save", ckpt]);
    const f = new MlperfBinFile(bin, nodeDataFiles);
    const whole = f.read(0, f.n);
    f.close();
    // No dictionary beside the file: the tables have each one's largest id + 1 rows, in training and here.
    const m = modelOf(ckpt);
    assert.equal(await streamed([ckpt], bin, join(t.dir, "p.safetensors")), Array.from(predict(m, whole, B)));
  } finally {
    t.cleanup();
  }
});

test.run();
