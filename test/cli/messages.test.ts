// Errors name the field or the file (issue 13): sizes no run can hold are refused with the
// config field; a failing --log write names the log; a checkpoint whose recorded config
// claims a huge table is checked against the file before the model is allocated; control
// characters that a file carries are escaped when the message echoes them.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
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

/** A safetensors file of this header text and `dataBytes` zero bytes of data. */
function rawSafetensors(path: string, header: string, dataBytes = 0): void {
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

/** The last line dlrm printed to stderr (the error), after asserting the exit code. */
async function lastError(args: string[], code: number): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, code, `dlrm ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stderr.trim().split("\n").pop() as string;
}

test("a header nested 200,000 deep and a 3-million-entry shape give short errors that say what is wrong", async () => {
  const t = tempDir();
  try {
    const out = join(t.dir, "p.safetensors");
    const nested = join(t.dir, "nested.safetensors");
    rawSafetensors(nested, `${"[".repeat(200_000)}${"]".repeat(200_000)}`);
    const a = await lastError(["predict", "--checkpoint", nested, "--data", "synthetic", "--out", out], 1);
    assert.match(a, /nested\.safetensors: header is not valid JSON: line 1, column 9: nested more than 8 levels deep$/);
    const shaped = join(t.dir, "shape.safetensors");
    const shape = new Array<number>(3_000_000).fill(1);
    rawSafetensors(shaped, JSON.stringify({ w: { dtype: "F32", shape, data_offsets: [0, 8] } }), 8);
    const b = await lastError(["predict", "--checkpoint", shaped, "--data", "synthetic", "--out", out], 1);
    assert.ok(b.length < 400, `a short line: ${b.length} characters`);
    assert.match(
      b,
      /shape\.safetensors: tensor "w": shape \(1, 1, .*, …, 1, 1: 3000000 dimensions\) of F32 needs 4 bytes/,
    );
    const broken = join(t.dir, "broken.safetensors");
    rawSafetensors(broken, '{\n  "w": {"dtype": "F32",\n  "shape": [2] "data_offsets": [0, 8]}}', 8);
    const c = await lastError(["predict", "--checkpoint", broken, "--data", "synthetic", "--out", out], 1);
    assert.match(c, /broken\.safetensors: header is not valid JSON: line 3, column 16: expected ',' or '}', got '"'$/);
  } finally {
    t.cleanup();
  }
});

test("a config with a JSON syntax error names the line and column", async () => {
  const t = tempDir();
  try {
    const bad = join(t.dir, "bad.json");
    writeFileSync(bad, '{\n  "dense_features": 4\n  "bottom_mlp": [4, 2]\n}\n');
    const e = await lastError(["train", "--model", bad, "--data", "random", "--steps", "1", "--workers", "1"], 1);
    assert.match(e, /^dlrm: .*bad\.json: not valid JSON: line 3, column 3: expected ',' or '}', got '"'$/);
  } finally {
    t.cleanup();
  }
});

test("a folder or a text file as data, and --data criteo <file>, are named as what they are with what --data takes", async () => {
  const t = tempDir();
  try {
    const dir = join(t.dir, "day");
    mkdirSync(dir);
    const train = ["train", "--steps", "1", "--workers", "1"];
    assert.match(
      await lastError([...train, "--data", `criteo:${dir}`], 2),
      /^dlrm: train: --data .*day: is a folder; --data names a file/,
    );
    assert.match(
      await lastError(["preprocess", "criteo", dir, "--out", join(t.dir, "b.safetensors")], 2),
      /^dlrm: preprocess: input file .*day: is a folder/,
    );
    assert.match(
      await lastError([...train, "--data", dir], 2),
      /^dlrm: train: --data .*day: is a folder, not a safetensors file; --data takes a batch file, .*movielens:<dir>/,
    );
    const ratings = join(t.dir, "u.data");
    writeFileSync(ratings, "196\t242\t3\t881250949\n186\t302\t3\t891717742\n");
    assert.match(
      await lastError([...train, "--data", ratings], 2),
      /^dlrm: train: --data .*u\.data: it is a tab-separated text file \(it starts "196\\t242\\t3\\t881250949"\), not a safetensors file; --data takes a batch file, random, synthetic, criteo:<file>/,
    );
    assert.match(
      await lastError([...train, "--data", "criteo", ratings], 2),
      new RegExp(`^dlrm: train: unexpected argument ".*u\\.data": did you mean --data criteo:.*u\\.data\\?$`),
    );
  } finally {
    t.cleanup();
  }
});

test.run();
