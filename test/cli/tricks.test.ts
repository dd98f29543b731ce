// The table tricks through the command line (runCli): `dlrm train --qr-flag …` / `--md-flag …`
// save checkpoints with the reference's names and resume with the flags they recorded; the
// reference's own command line (store_true --qr-flag, --qr-operation=concat with a 2E bottom
// MLP) translates to the same; bad combinations are usage errors (exit 2).
//
// Glossary: E embedding dim (--arch-sparse-feature-size).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { referenceConfig } from "../../src/cli/reference_flags.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const shapes = (path: string): Record<string, number[]> =>
  Object.fromEntries(
    [...readSafetensors(path).tensors].filter(([k]) => k.startsWith("emb_l.")).map(([k, t]) => [k, [...t.shape]]),
  );

test("dlrm train --qr-flag on 2 workers: weight_q / weight_r in the checkpoint; --resume continues with the recorded flags", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const save = join(dir, "qr.safetensors");
    // one lookup per bag: the QR halves start all positive (the reference's init), and sums of 10 saturate the untrained model
    const common = [
      "--data",
      "random",
      "--batch-size",
      "32",
      "--workers",
      "2",
      "--data-size",
      "320",
      "--num-indices-per-lookup",
      "1",
    ];
    const r = await runCli([
      "train",
      ...common,
      "--steps",
      "3",
      "--qr-flag",
      "--qr-threshold=400",
      "--qr-collisions=7",
      "--qr-operation=mult",
      "--save",
      save,
    ]);
    assert.is(r.code, 0, r.stderr);
    const s = shapes(save);
    // the built-in default tables 10 … 2000: 500, 1000 and 2000 are above 400
    assert.equal(s["emb_l.4.weight"], [200, 16]);
    assert.equal(s["emb_l.5.weight_q"], [72, 16]);
    assert.equal(s["emb_l.5.weight_r"], [7, 16]);
    assert.equal(s["emb_l.7.weight_q"], [286, 16]);
    assert.is(s["emb_l.7.weight"], undefined);
    const resumed = await runCli(["train", "--resume", save, "--steps", "5", "--save", join(dir, "qr5.safetensors")]);
    assert.is(resumed.code, 0, resumed.stderr);
    assert.is((JSON.parse(resumed.stdout.trim().split("\n").at(-1) as string) as { step: number }).step, 5);
  } finally {
    cleanup();
  }
});

test("dlrm train --md-flag: embs.weight and proj.weight in the checkpoint", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const save = join(dir, "md.safetensors");
    const r = await runCli([
      "train",
      "--data",
      "random",
      "--batch-size",
      "32",
      "--workers",
      "1",
      "--data-size",
      "96",
      "--steps",
      "3",
      "--md-flag",
      "--md-threshold=150",
      "--md-temperature=0.5",
      "--save",
      save,
    ]);
    assert.is(r.code, 0, r.stderr);
    const s = shapes(save);
    // 16 · (10 / 2000)^0.5 = 1.13 → 1; 16 · (10 / 200)^0.5 = 3.58 → 4
    assert.equal(s["emb_l.3.weight"], [100, 16]);
    assert.equal(s["emb_l.4.embs.weight"], [200, 4]);
    assert.equal(s["emb_l.4.proj.weight"], [16, 4]);
    assert.equal(s["emb_l.7.embs.weight"], [2000, 1]);
    assert.equal(s["emb_l.7.proj.weight"], [16, 1]);
  } finally {
    cleanup();
  }
});

test("dlrm train: --qr-operation=concat on a model whose bottom MLP ends in E, and a --qr-* flag without --qr-flag, are usage errors", async () => {
  const concat = await runCli([
    "train",
    "--data",
    "random",
    "--steps",
    "1",
    "--qr-flag",
    "--qr-operation=concat",
    "--qr-threshold=0",
  ]);
  assert.is(concat.code, 2);
  assert.match(concat.stderr, /field "bottom_mlp" must end with 2 × embedding_dim \(32\)/);
  const stray = await runCli(["train", "--data", "random", "--steps", "1", "--qr-collisions=3"]);
  assert.is(stray.code, 2);
  assert.match(stray.stderr, /--qr-collisions goes with --qr-flag/);
  const op = await runCli(["train", "--data", "random", "--steps", "1", "--qr-flag", "--qr-operation=max"]);
  assert.is(op.code, 2);
  assert.match(op.stderr, /--qr-operation must be mult, add or concat, got "max"/);
});

test("the reference's command line with --qr-flag --qr-operation=concat (bottom MLP 2E) trains and saves its names", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const save = join(dir, "ref.safetensors");
    const r = await runCli([
      "train",
      "--arch-sparse-feature-size=4",
      "--arch-embedding-size=300-1000",
      "--arch-mlp-bot=5-8-8",
      "--arch-mlp-top=6-1",
      "--qr-flag",
      "--qr-threshold=200",
      "--qr-collisions=4",
      "--qr-operation=concat",
      "--data-generation=random",
      "--mini-batch-size=16",
      "--num-batches=2",
      "--loss-function=bce",
      `--save-model=${save}`,
      "--workers",
      "1",
    ]);
    assert.is(r.code, 0, r.stderr);
    const s = shapes(save);
    assert.equal(s, {
      "emb_l.0.weight_q": [75, 4],
      "emb_l.0.weight_r": [4, 4],
      "emb_l.1.weight_q": [250, 4],
      "emb_l.1.weight_r": [4, 4],
    });
    // the interaction sees 2E = 8 wide vectors: 8 + 3 pairs of the 3 vectors
    assert.equal(readSafetensors(save).tensors.get("top_l.0.weight")?.shape, [6, 11]);
  } finally {
    cleanup();
  }
});

test("referenceConfig: the reference's qr/md flags and its concat check", () => {
  const base = {
    "arch-sparse-feature-size": "4",
    "arch-embedding-size": "300-1000",
    "arch-mlp-bot": "5-4",
    "arch-mlp-top": "1",
  };
  const cfg = (flags: Record<string, string>) => referenceConfig((name, fallback) => flags[name] ?? fallback);
  assert.equal(cfg({ ...base, "qr-flag": "True" }).qr, { threshold: 200, collisions: 4, operation: "mult" });
  assert.equal(cfg({ ...base, "md-flag": "True", "md-round-dims": "True" }).md, {
    threshold: 200,
    temperature: 0.3,
    round_dims: true,
  });
  assert.is(
    cfg({ ...base, "qr-threshold": "5" }).qr,
    undefined,
    "the reference ignores --qr-threshold without --qr-flag",
  );
  assertThrows(
    () => cfg({ ...base, "qr-flag": "True", "qr-operation": "concat" }),
    /with --qr-operation=concat its last width must be 2 × --arch-sparse-feature-size = 8/,
  );
});

test.run();
