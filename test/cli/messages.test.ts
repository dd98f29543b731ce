// Errors name the field or the file (issue 13): sizes no run can hold are refused with the
// config field; a failing --log write names the log; a checkpoint whose recorded config
// claims a huge table is checked against the file before the model is allocated; control
// characters that a file carries are escaped when the message echoes them.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

test("a config whose layer or table no memory can hold is refused naming the field, not with an allocation error", async () => {
  const t = tempDir();
  try {
    const huge = join(t.dir, "huge.json");
    writeFileSync(
      huge,
      JSON.stringify({
        dense_features: 1e9,
        bottom_mlp: [1e9, 16],
        embedding_dim: 16,
        table_sizes: [10, 10],
        top_mlp: [19, 1],
      }),
    );
    const a = await runCli(["train", "--model", huge, "--data", "random", "--steps", "1", "--workers", "1"]);
    assert.is(a.code, 1);
    assert.match(
      a.stderr,
      /^dlrm: .*huge\.json: field "bottom_mlp" has a layer 1000000000 → 16 of 16000000000 weights, more than one 4 GiB memory holds/,
    );
    const rows = join(t.dir, "rows.json");
    writeFileSync(
      rows,
      JSON.stringify({
        dense_features: 4,
        bottom_mlp: [4, 16],
        embedding_dim: 16,
        table_sizes: [1e10, 10],
        top_mlp: [19, 1],
      }),
    );
    const b = await runCli(["train", "--model", rows, "--data", "random", "--steps", "1", "--workers", "1"]);
    assert.is(b.code, 1);
    assert.match(
      b.stderr,
      /^dlrm: .*rows\.json: field "table_sizes" has 10000000000 rows for table 0, more than int32 ids can number \(2147483647\)/,
    );
  } finally {
    t.cleanup();
  }
});

const haveDevFull = existsSync("/dev/full");
(haveDevFull ? test : test.skip)("a --log that cannot be written (ENOSPC on /dev/full) is named", async () => {
  const r = await runCli(["train", "--data", "random", "--steps", "2", "--workers", "1", "--log", "/dev/full"]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^dlrm: --log \/dev\/full: cannot write: ENOSPC/m);
});

test("predict: a checkpoint whose dlrm_config claims a 2e8-row table fails on the file's shape before allocating the model", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "ckpt.safetensors");
    const data = join(t.dir, "data.safetensors");
    const c = defaultConfig();
    writeBatchFile(
      data,
      randomDataset({
        n: 8,
        denseFeatures: c.dense_features,
        tableSizes: c.table_sizes,
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: false,
        seed: 1,
      }),
    );
    const r = await runCli([
      "train",
      "--data",
      data,
      "--steps",
      "1",
      "--batch-size",
      "8",
      "--workers",
      "1",
      "--save",
      ckpt,
    ]);
    assert.is(r.code, 0, r.stderr);
    const f = readSafetensors(ckpt);
    const claimed = { ...c, table_sizes: c.table_sizes.map((R, i) => (i === 0 ? 2e8 : R)) };
    const lying = join(t.dir, "lying.safetensors");
    writeSafetensors(lying, f.tensors, { ...f.metadata, dlrm_config: JSON.stringify(claimed) });
    const p = await runCli(["predict", "--checkpoint", lying, "--data", data, "--out", join(t.dir, "p.safetensors")]);
    assert.is(p.code, 1);
    assert.match(
      p.stderr,
      new RegExp(
        `^dlrm: loadCheckpoint: .*lying\\.safetensors: tensor "emb_l\\.0\\.weight" has shape \\(${c.table_sizes[0]}, ${c.embedding_dim}\\) but the model expects \\(200000000, ${c.embedding_dim}\\)`,
      ),
    );
  } finally {
    t.cleanup();
  }
});

test("control characters of a file are escaped when a message echoes them", async () => {
  const t = tempDir();
  try {
    const model = join(t.dir, "evil.json");
    writeFileSync(model, JSON.stringify({ ...defaultConfig(), "\u001b[2J\u0007x": 1 }));
    const r = await runCli(["train", "--model", model, "--data", "random", "--steps", "1", "--workers", "1"]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /unknown field "\\x1b\[2J\\x07x"/);
    assert.not.ok(
      /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(r.stderr),
      `no raw control character: ${JSON.stringify(r.stderr)}`,
    );
  } finally {
    t.cleanup();
  }
});

test.run();
