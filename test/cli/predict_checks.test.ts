// Values that would give wrong numbers without a word are refused, naming where they are:
// a NaN or Inf in a checkpoint's weights makes `dlrm predict` fail naming the tensor, row,
// column and the sample (on this thread and on 2 ranks); a dense value that is not finite
// names the data file, sample and feature; a label outside [0, 1] is refused with the bce
// loss (train and predict: file, sample, value) and accepted with mse; a data file whose tables
// are not the model's is refused, and closed.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.ts";
import { openFds, runCli, tempDir } from "../helpers/cli.ts";

function dataFile(path: string, edit: (d: ReturnType<typeof randomDataset>) => void = () => {}): string {
  const c = defaultConfig();
  const d = randomDataset({
    n: 40,
    denseFeatures: c.dense_features,
    tableSizes: c.table_sizes,
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: false,
    seed: 3,
  });
  edit(d);
  writeBatchFile(path, d);
  return path;
}

async function checkpoint(dir: string, data: string): Promise<string> {
  const ckpt = join(dir, "ckpt.safetensors");
  const r = await runCli([
    "train",
    "--data",
    data,
    "--steps",
    "2",
    "--batch-size",
    "20",
    "--workers",
    "1",
    "--save",
    ckpt,
  ]);
  assert.is(r.code, 0, r.stderr);
  return ckpt;
}

test("predict: a NaN weight in the checkpoint is named (file, tensor, element) when read, on 1 and 2 workers; nothing is written", async () => {
  const t = tempDir();
  try {
    const data = dataFile(join(t.dir, "data.safetensors"));
    const ckpt = await checkpoint(t.dir, data);
    const f = readSafetensors(ckpt);
    const w = f.tensors.get("bot_l.0.weight");
    assert.ok(w !== undefined && w.shape.length === 2);
    const cols = w.shape[1] as number;
    (w.data as Float32Array)[2 * cols + 1] = Number.NaN; // row 2, column 1: every sample goes through it
    const bad = join(t.dir, "bad.safetensors");
    writeSafetensors(bad, f.tensors, f.metadata);
    for (const workers of ["1", "2"]) {
      const out = join(t.dir, `pred${workers}.safetensors`);
      const r = await runCli(["predict", "--checkpoint", bad, "--data", data, "--out", out, "--workers", workers]);
      assert.is(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^dlrm: .*bad\.safetensors: tensor "bot_l\.0\.weight" holds NaN at element \[2, 1\]: a checkpoint's weights must be finite numbers .*\n$/,
      );
      assert.throws(() => readSafetensors(out), /cannot read/, "no predictions written");
    }
  } finally {
    t.cleanup();
  }
});

test("predict: a data file with other tables than the model's is refused, naming both, and left closed", async () => {
  const t = tempDir();
  try {
    const ckpt = await checkpoint(t.dir, dataFile(join(t.dir, "good.safetensors")));
    const c = defaultConfig();
    const fewer = join(t.dir, "fewer.safetensors");
    const d = randomDataset({
      n: 40,
      denseFeatures: c.dense_features,
      tableSizes: c.table_sizes.slice(1),
      numIndicesPerLookup: 3,
      numIndicesPerLookupFixed: false,
      seed: 3,
    });
    writeBatchFile(fewer, d);
    const before = openFds();
    const p = await runCli(["predict", "--checkpoint", ckpt, "--data", fewer, "--out", join(t.dir, "p.safetensors")]);
    assert.is(p.code, 1, p.stderr);
    assert.match(p.stderr, new RegExp(`fewer\\.safetensors: the data has ${c.table_sizes.length - 1} tables`));
    assert.equal(openFds(), before, "the data file was closed");
  } finally {
    t.cleanup();
  }
});

test("predict and train: a dense value that is not finite is named with the file, sample and feature", async () => {
  const t = tempDir();
  try {
    const good = dataFile(join(t.dir, "good.safetensors"));
    const ckpt = await checkpoint(t.dir, good);
    const Dd = defaultConfig().dense_features;
    const data = dataFile(join(t.dir, "inf.safetensors"), (d) => (d.dense[5 * Dd + 2] = Number.POSITIVE_INFINITY));
    const p = await runCli(["predict", "--checkpoint", ckpt, "--data", data, "--out", join(t.dir, "p.safetensors")]);
    assert.is(p.code, 1);
    assert.match(
      p.stderr,
      /^dlrm: .*inf\.safetensors: "dense" holds Infinity at sample 5, feature 2: dense features must be finite\n$/,
    );
    // Two steps of 20: the whole file, so the streamed, shuffled run reads the bad row.
    const tr = await runCli(["train", "--data", data, "--steps", "2", "--batch-size", "20", "--workers", "1"]);
    assert.is(tr.code, 1);
    assert.match(tr.stderr, /inf\.safetensors: "dense" holds Infinity at sample 5, feature 2/);
  } finally {
    t.cleanup();
  }
});

test("labels outside [0, 1]: refused with bce (train and predict name file, sample, value); accepted with mse", async () => {
  const t = tempDir();
  try {
    const good = dataFile(join(t.dir, "good.safetensors"));
    const ckpt = await checkpoint(t.dir, good);
    for (const y of [2, -1]) {
      const data = dataFile(join(t.dir, `y${y}.safetensors`), (d) => (d.labels[7] = y));
      assert.is(readBatchFile(data).labels[7], y);
      const tr = await runCli(["train", "--data", data, "--steps", "2", "--batch-size", "20", "--workers", "1"]);
      assert.is(tr.code, 1, tr.stderr);
      assert.match(
        tr.stderr,
        new RegExp(
          `^dlrm: .*y${y}\\.safetensors: "labels" holds ${y} at sample 7, outside \\[0, 1\\], which the bce loss needs`,
          "m", // streamed, the row is read (and refused) once the run has begun
        ),
      );
      const p = await runCli(["predict", "--checkpoint", ckpt, "--data", data, "--out", join(t.dir, "p.safetensors")]);
      assert.is(p.code, 1, p.stderr);
      assert.match(p.stderr, new RegExp(`y${y}\\.safetensors: "labels" holds ${y} at sample 7`));
    }
    const model = join(t.dir, "mse.json");
    writeFileSync(model, JSON.stringify({ ...defaultConfig(), loss: "mse" }));
    const data = dataFile(join(t.dir, "real.safetensors"), (d) => (d.labels[7] = 2.5));
    const mse = await runCli([
      "train",
      "--model",
      model,
      "--data",
      data,
      "--steps",
      "2",
      "--batch-size",
      "20",
      "--workers",
      "1",
    ]);
    assert.is(mse.code, 0, mse.stderr);
  } finally {
    t.cleanup();
  }
});

test.run();
