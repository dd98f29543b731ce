// Issue 24 item 9: values that were accepted and silently changed, and inputs that gave an
// empty result: seeds past 2^32 − 1 (they wrapped: --seed 0 and 4294967296 were one run),
// integers past 2^53 (rounded), a batch larger than the data, an empty Criteo file, and a
// resumed run whose dlrm_run metadata listed its flags in another order than an unbroken run's.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { readCheckpointMetadata } from "../../src/interop/checkpoint_file.ts";

const quick = ["--data", "random", "--workers", "1", "--steps", "1", "--batch-size", "8"];

test("--seed: an integer in [0, 2^32 − 1]; 4294967296 and 1e20 are refused, not wrapped", async () => {
  for (const raw of ["4294967296", "1e20", "100000000000000000001", "-1", "0.5"]) {
    const r = await runCli(["train", ...quick, "--seed", raw]);
    assert.is(r.code, 2, `--seed ${raw}: ${r.stderr}`);
    assert.match(r.stderr, /^dlrm: train: --seed /, raw);
  }
  const r = await runCli(["train", ...quick, "--seed", "4294967295"]);
  assert.is(r.code, 0, r.stderr);
  const p = await runCli(["predict", "--checkpoint", "a.safetensors", "--data", "synthetic", "--seed", "4294967296"]);
  assert.is(p.code, 2);
  assert.match(p.stderr, /^dlrm: predict: --seed must be an integer in \[0, 4294967295\]/);
});

test("integer flags past 2^53 − 1 are refused instead of rounded", async () => {
  const r = await runCli(["train", "--data", "random", "--steps", "9007199254740993"]);
  assert.is(r.code, 2);
  assert.is(r.stderr, "dlrm: train: --steps 9007199254740993 is past 2^53 − 1, the largest integer held exactly\n");
});

test("--batch-size larger than the training data is refused, naming both", async () => {
  const r = await runCli(["train", "--data", "random", "--data-size", "48", "--batch-size", "1e12", "--workers", "1"]);
  assert.is(r.code, 2, r.stderr);
  assert.is(r.stderr, "dlrm: train: --batch-size 1000000000000 is more than the 48 training samples\n");
});

test("preprocess of an empty file is an error, and writes nothing", async () => {
  const t = tempDir();
  try {
    const empty = join(t.dir, "empty.txt");
    writeFileSync(empty, "");
    const out = join(t.dir, "e.safetensors");
    const r = await runCli(["preprocess", "criteo", empty, "--out", out]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`dlrm: preprocess: ${empty}: no samples to write \\(0 malformed lines skipped\\)\\n$`),
    );
    assert.not.ok(existsSync(out));
  } finally {
    t.cleanup();
  }
});

test("a resumed run records the same dlrm_run as a run that never stopped (flags in one order)", async () => {
  const t = tempDir();
  try {
    const run = ["--data", "random", "--data-size", "32", "--batch-size", "8", "--workers", "1"];
    const whole = join(t.dir, "whole.safetensors");
    const half = join(t.dir, "half.safetensors");
    const resumed = join(t.dir, "resumed.safetensors");
    for (const args of [
      ["train", ...run, "--steps", "4", "--save", whole],
      ["train", ...run, "--steps", "2", "--save", half],
      ["train", "--resume", half, "--steps", "4", "--workers", "1", "--save", resumed],
    ]) {
      const r = await runCli(args);
      assert.is(r.code, 0, r.stderr);
    }
    assert.is(readCheckpointMetadata(resumed)["dlrm_run"], readCheckpointMetadata(whole)["dlrm_run"]);
    // the tensors too: everything but the tail loss, which covers the resumed steps only
    const body = (p: string): Buffer => {
      const b = readFileSync(p);
      return b.subarray(8 + Number(b.readBigUInt64LE(0)));
    };
    assert.ok(body(resumed).equals(body(whole)));
  } finally {
    t.cleanup();
  }
});

test.run();
