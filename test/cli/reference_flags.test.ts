// The reference script's command line runs unchanged through `dlrm train` (runCli) on small
// random data: dash lists, `=`-joined values, True/False bools, --arch-mlp-top without the
// interaction width (computed), and a flag we cannot honour is exit 2 naming it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { referenceConfig, translateReferenceFlags } from "../../src/cli/reference_flags.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const config = (flags: Record<string, string>) => referenceConfig((name, fallback) => flags[name] ?? fallback);

test("interaction width prepended to --arch-mlp-top: dot, dot with itself, cat", () => {
  const base = {
    "arch-sparse-feature-size": "16",
    "arch-embedding-size": "10-20-30",
    "arch-mlp-bot": "13-64-16",
    "arch-mlp-top": "512-256-1",
  };
  // n = 4 vectors: 6 pairs (10 with itself) plus the bottom output's 16
  assert.equal(config(base).top_mlp, [22, 512, 256, 1]);
  assert.equal(config({ ...base, "arch-interaction-itself": "True" }).top_mlp, [26, 512, 256, 1]);
  assert.equal(config({ ...base, "arch-interaction-op": "cat" }).top_mlp, [64, 512, 256, 1]);
  assert.is(config(base).loss, "mse"); // the reference's default --loss-function
  assert.is(config({ ...base, optimizer: "rwsadagrad" }).optimizer, "rowwise-adagrad");
});

test("--weighted-pooling with the reference's reading: fixed, anything else learned; not with QR or MD", () => {
  const base = { "arch-sparse-feature-size": "2", "arch-embedding-size": "4-3", "arch-mlp-bot": "3-2" };
  assert.is(config(base).weighted_pooling, undefined);
  assert.is(config({ ...base, "weighted-pooling": "fixed" }).weighted_pooling, "fixed");
  assert.is(config({ ...base, "weighted-pooling": "learned" }).weighted_pooling, "learned");
  assert.is(config({ ...base, "weighted-pooling": "yes" }).weighted_pooling, "learned"); // DLRM_Net: != "fixed"
  assert.throws(
    () => config({ ...base, "weighted-pooling": "learned", "qr-flag": "True" }),
    /--weighted-pooling=learned: not with --qr-flag/,
  );
});

test("a reference line with --weighted-pooling=learned trains v_W_l.{t} and saves them under the reference's names", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const save = join(dir, "m.safetensors");
    const r = await runCli([
      "train",
      "--arch-sparse-feature-size=2",
      "--arch-embedding-size=20-30",
      "--arch-mlp-bot=3-2",
      "--arch-mlp-top=4-1",
      "--weighted-pooling=learned",
      "--mini-batch-size=8",
      "--num-batches=2",
      `--save-model=${save}`,
    ]);
    assert.is(r.code, 0, r.stderr);
    const tensors = readSafetensors(save).tensors;
    assert.equal(tensors.get("v_W_l.0")?.shape, [20]);
    assert.equal(tensors.get("v_W_l.1")?.shape, [30]);
    // ours: the same flag on our own line; a bad value names it
    const bad = await runCli(["train", "--data", "random", "--steps", "1", "--weighted-pooling", "yes"]);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /--weighted-pooling must be fixed or learned, got "yes"/);
  } finally {
    cleanup();
  }
});

test("an argv without reference flags is unchanged", () => {
  const ours = ["--data", "random", "--steps", "3", "--optimizer", "sgd", "--print-freq", "1"];
  assert.equal(translateReferenceFlags("train", ours), ours);
});

test("a reference command line trains unchanged on small random data and saves", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const save = join(dir, "m.safetensors");
    const r = await runCli([
      "train",
      "--arch-sparse-feature-size=4",
      "--arch-embedding-size=20-30-10",
      "--arch-mlp-bot=5-8-4",
      "--arch-mlp-top=8-1",
      "--arch-interaction-op=dot",
      "--arch-interaction-itself=False",
      "--data-generation=random",
      "--mini-batch-size=16",
      "--num-batches=3",
      "--learning-rate=0.1",
      "--loss-function=bce",
      "--print-freq=1",
      "--numpy-rand-seed=7",
      "--lr-num-warmup-steps=0",
      "--nepochs",
      "1",
      `--save-model=${save}`,
      "--workers",
      "1",
    ]);
    assert.is(r.code, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1) as string) as { step: number };
    assert.is(last.step, 3);
    assert.ok(existsSync(save));
    // top_mlp[0] = 4 + 6 pairs of the 4 vectors
    const top0 = readSafetensors(save).tensors.get("top_l.0.weight");
    assert.equal(top0?.shape, [8, 10]);
  } finally {
    cleanup();
  }
});

test("a reference flag we cannot honour is exit 2 naming it", async () => {
  for (const [flag, pattern] of [
    ["--use-gpu=True", /--use-gpu=True: not supported/],
    ["--arch-project-size=4", /--arch-project-size: a reference flag dlrm-ts cannot honour/],
    ["--arch-interaction-itself=yes", /--arch-interaction-itself: expected True or False/],
    ["--data-generation=synthetic", /--data-generation=synthetic/],
  ] as const) {
    const r = await runCli(["train", "--arch-mlp-bot=4-3-2", flag]);
    assert.is(r.code, 2, flag);
    assert.match(r.stderr, pattern);
  }
  const t = await runCli(["train", "--arch-mlp-bot=4-3-2", "--inference-only=True"]);
  assert.match(t.stderr, /use `dlrm predict`/);
});

test("a line in the reference's mode says so, naming the flag that put it there and the defaults it takes", async () => {
  const r = await runCli(["train", "--data", "random", "--learning-rate", "0.1", "--workers", "1"]);
  assert.is(r.code, 0, r.stderr);
  const first = r.stderr.split("\n")[0] as string;
  assert.match(
    first,
    /^dlrm train: reading this command line as the reference's \(dlrm_s_pytorch\.py\) because of --learning-rate: /,
  );
  assert.match(first, /--arch-embedding-size=4-3-2/);
  assert.match(first, /--data-size=1\b/); // epochs of random data need its size: the reference's default
  assert.match(first, /--mini-batch-size=1/);
  assert.not.match(first, /--learning-rate=/); // given, so not a default
  const ours = await runCli(["train", "--data", "random", "--steps", "1", "--lr", "0.1", "--workers", "1"]);
  assert.not.match(ours.stderr, /reference/);
});

test("our flag beside the reference flag that sets the same thing: the message names both, as typed", async () => {
  for (const [args, message] of [
    [["--steps", "5", "--learning-rate", "0.1"], null],
    [
      ["--lr", "0.1", "--steps", "5", "--num-batches", "5"],
      "--num-batches (the reference's) and --steps (ours) both set the length of the run: give one of them",
    ],
    [
      ["--epochs", "2", "--nepochs", "2", "--arch-mlp-bot=4-3-2"],
      "--nepochs (the reference's) and --epochs (ours) both set the length of the run: give one of them",
    ],
    [
      ["--lr", "0.1", "--learning-rate", "0.2"],
      "--learning-rate (the reference's flag) and --lr (ours) set the same thing: give one of them",
    ],
    [
      ["--model", "m.json", "--arch-mlp-bot=4-3-2"],
      "--arch-mlp-bot (the reference's) and --model (ours) both describe the model: give one of them",
    ],
  ] as [string[], string | null][]) {
    const r = await runCli(["train", "--data", "random", "--workers", "1", ...args]);
    if (message === null) {
      // --steps is ours and wins over the reference's default length (no "--epochs" the user never typed)
      assert.is(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.is(JSON.parse(r.stdout.trim().split("\n").at(-1) as string).step, 5);
    } else {
      assert.is(r.code, 2, args.join(" "));
      assert.is(r.stderr.trim().split("\n").at(-1), `dlrm: ${message}`);
    }
  }
});

test.run();
