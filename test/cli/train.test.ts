// The dlrm CLI as a user meets it: training on generated data, checkpoints that round-trip,
// and one-line errors with the right exit codes for bad input.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";

/** A tiny model config: 3 dense features, tables of 5 and 7 rows, dim 2. */
const TINY = {
  dense_features: 3,
  bottom_mlp: [3, 4, 2],
  embedding_dim: 2,
  table_sizes: [5, 7],
  top_mlp: [2 + 3, 4, 1],
  batch_size: 4,
  steps: 5,
  lr: 0.1,
};

function setup(): { dir: string; cleanup: () => void; model: string; data: string } {
  const t = tempDir();
  const model = join(t.dir, "model.json");
  writeFileSync(model, JSON.stringify(TINY));
  const data = join(t.dir, "data.safetensors");
  writeBatchFile(
    data,
    randomDataset({
      n: 20,
      denseFeatures: 3,
      tableSizes: [5, 7],
      numIndicesPerLookup: 2,
      numIndicesPerLookupFixed: false,
      seed: 1,
    }),
  );
  return { ...t, model, data };
}

test("train on a batch file writes a log line per step and a checkpoint with the reference names", async () => {
  const s = setup();
  try {
    const log = join(s.dir, "log.jsonl");
    const save = join(s.dir, "ckpt.safetensors");
    const r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.data,
      "--eval-data",
      s.data,
      "--log",
      log,
      "--save",
      save,
    ]);
    assert.is(r.code, 0, r.stderr);
    const lines = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(
      lines.slice(0, 5).map((l) => l.step),
      [0, 1, 2, 3, 4],
    );
    assert.ok(lines.slice(0, 5).every((l) => typeof l.loss === "number"));
    const ev = lines[lines.length - 1] as Record<string, unknown>;
    assert.is(ev.event, "eval");
    for (const k of ["auc", "logloss", "accuracy"]) assert.type(ev[k], "number");
    assert.is(lastJson(r.stdout).event, "eval");
    const header = readFileSync(save)
      .subarray(8, 8 + Number(readFileSync(save).readBigUInt64LE(0)))
      .toString();
    for (const name of [
      "bot_l.0.weight",
      "bot_l.2.bias",
      "top_l.0.weight",
      "top_l.2.bias",
      "emb_l.0.weight",
      "emb_l.1.weight",
    ]) {
      assert.ok(header.includes(`"${name}"`), name);
    }
  } finally {
    s.cleanup();
  }
});

test("the same seed gives the same losses", async () => {
  const s = setup();
  try {
    const a = await runCli(["train", "--model", s.model, "--data", s.data, "--seed", "5"]);
    const b = await runCli(["train", "--model", s.model, "--data", s.data, "--seed", "5"]);
    assert.is(a.code, 0, a.stderr);
    assert.is(lastJson(a.stdout).train_loss, lastJson(b.stdout).train_loss);
  } finally {
    s.cleanup();
  }
});

test("synthetic data: training beats chance on the held-out split", async () => {
  const t = tempDir();
  try {
    const model = join(t.dir, "model.json");
    writeFileSync(model, JSON.stringify({ ...TINY, table_sizes: [5, 7], batch_size: 64, lr: 0.5 }));
    const r = await runCli(["train", "--model", model, "--data", "synthetic", "--data-size", "8000", "--epochs", "10"]);
    assert.is(r.code, 0, r.stderr);
    const ev = lastJson(r.stdout);
    assert.is(ev.event, "eval");
    // The teacher's AUC bounds what is reachable; a trained student must be clearly above 0.5.
    assert.ok((ev.auc as number) > 0.65, `auc ${String(ev.auc)} (teacher ${String(ev.teacher_auc)})`);
  } finally {
    t.cleanup();
  }
});

test("usage errors: unknown flag, bad value, --workers 0, unknown verb exit 2 with one line", async () => {
  for (const [args, pattern] of [
    [["train", "--bogus"], /^dlrm: train: unknown flag --bogus/],
    [["train", "--steps", "ten"], /^dlrm: train: --steps must be a number, got "ten"/],
    [["train", "--steps", "-1"], /^dlrm: train: --steps must be a non-negative integer, got -1/],
    [["train", "--workers", "0"], /^dlrm: train: --workers must be a positive integer, got 0/],
    [["train", "--workers", "1000"], /^dlrm: train: --workers 1000 is more than 4 × the \d+ cores/],
    [
      ["train", "--lr-num-warmup-steps", "-3"],
      /^dlrm: train: --lr-num-warmup-steps must be a non-negative integer, got -3/,
    ],
    [
      ["train", "--lr-num-decay-steps", "-1"],
      /^dlrm: train: --lr-num-decay-steps must be a non-negative integer, got -1/,
    ],
    [["predict", "--data", "x"], /^dlrm: predict: --checkpoint is required/],
    [["fly"], /^dlrm: unknown verb "fly"/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.is(r.code, 2, args.join(" "));
    assert.match(r.stderr, pattern);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("a diverging run stops with an error naming the step", async () => {
  const s = setup();
  try {
    const r = await runCli(["train", "--model", s.model, "--data", s.data, "--lr", "1e30", "--steps", "50"]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /^dlrm: step \d+: (prediction \d+ of the batch|the loss) is (NaN|-?Infinity|\d+\.\d+, above 15: the predictions have saturated at 0 or 1); stopping/m,
    );
  } finally {
    s.cleanup();
  }
});

test("--print-sharding-plan prints which rank holds each table before training", async () => {
  const s = setup();
  try {
    const r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.data,
      "--workers",
      "2",
      "--steps",
      "2",
      "--print-sharding-plan",
    ]);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    // Both tables appear, each owned by a rank; the JSON result stays the last line.
    assert.match(r.stdout, /rank/i);
    assert.ok(lines.length > 2);
    assert.is(lastJson(r.stdout).event, "done");
  } finally {
    s.cleanup();
  }
});

test("--help on every verb", async () => {
  for (const verb of ["train", "predict"]) {
    const r = await runCli([verb, "--help"]);
    assert.is(r.code, 0);
    assert.match(r.stdout, new RegExp(`Usage: dlrm ${verb}`));
  }
});

test("bad input files: malformed checkpoint, missing tensor, wrong shape, id out of range, bad config", async () => {
  const s = setup();
  try {
    const bad = join(s.dir, "bad.safetensors");
    writeFileSync(bad, Buffer.from([1, 2, 3]));
    let r = await runCli(["train", "--model", s.model, "--data", s.data, "--init", bad]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /bad\.safetensors/);

    const save = join(s.dir, "ok.safetensors");
    assert.is((await runCli(["train", "--model", s.model, "--data", s.data, "--steps", "1", "--save", save])).code, 0);
    const partial = join(s.dir, "partial.safetensors");
    writeSafetensors(partial, { "bot_l.0.weight": { dtype: "F32", shape: [4, 3], data: new Float32Array(12) } });
    r = await runCli(["train", "--model", s.model, "--data", s.data, "--init", partial]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /missing tensor "bot_l\.0\.bias".*partial\.safetensors/);

    const wrong = join(s.dir, "wrong.safetensors");
    writeSafetensors(wrong, { "bot_l.0.weight": { dtype: "F32", shape: [3, 4], data: new Float32Array(12) } });
    r = await runCli(["train", "--model", s.model, "--data", s.data, "--init", wrong]);
    assert.match(r.stderr, /"bot_l\.0\.weight".*has shape \(3, 4\) but the model expects \(4, 3\)/);

    const big = join(s.dir, "big.json");
    writeFileSync(big, JSON.stringify({ ...TINY, table_sizes: [5, 3] }));
    r = await runCli(["train", "--model", big, "--data", s.data]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /"indices\.1" holds id \d at position \d+ \(sample \d+\), out of range for table 1 with 3 rows/,
    );

    const cfg = join(s.dir, "cfg.json");
    writeFileSync(cfg, JSON.stringify({ ...TINY, top_mlp: [4, 1] }));
    r = await runCli(["train", "--model", cfg, "--data", s.data]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /cfg\.json: field "top_mlp" must start with the interaction width 5/);
    // Nothing half-written: a failed run writes no checkpoint.
    const never = join(s.dir, "never.safetensors");
    await runCli(["train", "--model", cfg, "--data", s.data, "--save", never]);
    assert.not.ok(existsSync(never));
  } finally {
    s.cleanup();
  }
});

test.run();
