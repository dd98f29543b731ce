// Resumable runs through `dlrm train`, as a user runs them: a run of 25 steps equals 12 steps
// saved and then `--resume`d to 25 (parameters and optimizer state, bit for bit) for SGD,
// Adagrad, row-wise Adagrad and Adam, on 1 and 2 workers, across epoch boundaries (the data is
// reshuffled each epoch) and with LR warm-up and decay; `--steps 0 --save` writes the initial
// model, the same on 1 and 2 workers; a resumed run refuses flags that would make it another
// run; Ctrl-C saves a resumable checkpoint that continues to the uninterrupted result; and
// dlrm predict --workers 2 predicts on ranks that read their own shards of the checkpoint.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { readRunState } from "../../src/dlrm/checkpoint.ts";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { assertClose } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { assertSameTensors, interruptedRun, tensorBytes } from "../helpers/train_runs.ts";

// 200 samples in batches of 20: 10 steps per epoch, so 12 stops inside the second epoch and 25
// reaches the third. Warm-up over 4 steps, decay from step 8 over 10: the lr moves throughout.
const RUN = [
  "--data",
  "random",
  "--data-size",
  "200",
  "--batch-size",
  "20",
  "--lr-num-warmup-steps",
  "4",
  "--lr-decay-start-step",
  "8",
  "--lr-num-decay-steps",
  "10",
  "--seed",
  "5",
];

async function ok(args: string[]): Promise<void> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
}

for (const optimizer of ["sgd", "adagrad", "rowwise-adagrad", "adam"]) {
  for (const workers of ["1", "2"]) {
    test(`${optimizer}, ${workers} worker(s): 25 steps = 12 steps + --resume to 25 (parameters and optimizer state, bit for bit)`, async () => {
      const t = tempDir();
      try {
        const lr = optimizer === "sgd" ? "0.1" : optimizer === "adam" ? "0.01" : "0.05";
        const flags = [...RUN, "--optimizer", optimizer, "--lr", lr, "--workers", workers];
        const full = join(t.dir, "full.safetensors");
        const half = join(t.dir, "half.safetensors");
        const resumed = join(t.dir, "resumed.safetensors");
        await ok(["train", ...flags, "--steps", "25", "--save", full]);
        await ok(["train", ...flags, "--steps", "12", "--save", half]);
        const run = readRunState(half, readSafetensors(half).metadata);
        assert.is(run?.step, 12);
        // Adam's step count (its bias corrections' t) is recorded with its spec: a resumed run goes on from 12, not from 0
        if (optimizer === "adam") assert.is(run?.optimizer.kind === "adam" ? run.optimizer.step : -1, 12);
        assert.ok(run?.orderRng !== null, "the data position: the order generator at the epoch's start");
        await ok(["train", "--resume", half, "--steps", "25", "--workers", workers, "--save", resumed]);
        assertSameTensors(resumed, full, "resumed");
        if (optimizer !== "sgd")
          assert.ok(
            [...tensorBytes(full).keys()].some((k) => k.startsWith("optimizer.state.")),
            "the optimizer state is in the checkpoint",
          );
      } finally {
        t.cleanup();
      }
    });
  }
}

test("--steps 0 --save writes the initial model: the same bytes on 1 and 2 workers; training from it with --resume = training at once", async () => {
  const t = tempDir();
  try {
    const a = join(t.dir, "a.safetensors");
    const b = join(t.dir, "b.safetensors");
    await ok(["train", ...RUN, "--steps", "0", "--workers", "1", "--save", a]);
    await ok(["train", ...RUN, "--steps", "0", "--workers", "2", "--save", b]);
    assertSameTensors(b, a, "initial model on 2 workers");
    const direct = join(t.dir, "direct.safetensors");
    const later = join(t.dir, "later.safetensors");
    await ok(["train", ...RUN, "--steps", "7", "--workers", "1", "--save", direct]);
    await ok(["train", "--resume", a, "--steps", "7", "--workers", "1", "--save", later]);
    assertSameTensors(later, direct, "resumed from step 0");
  } finally {
    t.cleanup();
  }
});

test("--resume refuses what would make another run, and files that record no run", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "c.safetensors");
    await ok(["train", ...RUN, "--steps", "3", "--workers", "1", "--save", ckpt]);
    let r = await runCli(["train", "--resume", ckpt, "--lr", "0.5", "--workers", "1"]);
    assert.is(r.code, 2);
    assert.match(
      r.stderr,
      /^dlrm: train: --lr 0\.5 differs from the run being resumed \(not given, .*c\.safetensors\)/,
    );
    r = await runCli(["train", "--resume", ckpt, "--batch-size", "10", "--workers", "1"]);
    assert.match(r.stderr, /^dlrm: train: --batch-size 10 differs from the run being resumed \(--batch-size 20/);
    r = await runCli(["train", "--resume", ckpt, "--steps", "2", "--workers", "1"]);
    assert.match(r.stderr, /the run is at step 3, past --steps 2/);
    r = await runCli(["train", "--resume", ckpt, "--init", ckpt, "--workers", "1"]);
    assert.match(r.stderr, /--init does not go with it/);
    // The same flags again are fine: resuming to the run's own planned steps does nothing more.
    r = await runCli(["train", "--resume", ckpt, ...RUN, "--workers", "1"]);
    assert.is(r.code, 0, r.stderr);
  } finally {
    t.cleanup();
  }
});

test("dlrm predict --workers 2 (the ranks read their shards of the checkpoint) = --workers 1", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "c.safetensors");
    const data = join(t.dir, "data.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 50,
        denseFeatures: 13,
        tableSizes: defaultConfig().table_sizes,
        numIndicesPerLookup: 3,
        numIndicesPerLookupFixed: false,
        seed: 2,
      }),
    );
    await ok(["train", ...RUN, "--steps", "6", "--workers", "1", "--save", ckpt]);
    const preds = async (workers: string): Promise<Float32Array> => {
      const out = join(t.dir, `p${workers}.safetensors`);
      await ok([
        "predict",
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--out",
        out,
        "--workers",
        workers,
        "--batch-size",
        "16",
      ]);
      return toFloat32(readSafetensors(out).tensors.get("pred") as never, "pred");
    };
    const one = await preds("1");
    const two = await preds("2");
    assert.is(two.length, 50);
    // Tolerance: float32 rounding (a table split by rows adds its partial pooled sums after pooling).
    assertClose(two, one, { atol: 1e-6, rtol: 1e-5 }, "pred");
  } finally {
    t.cleanup();
  }
});

test("Ctrl-C: the run stops after the steps in flight, saves a checkpoint marked interrupted, exits 130; --resume finishes it as if never stopped", async () => {
  const t = tempDir();
  try {
    const flags = [
      ...RUN.map((a) => (a === "200" ? "2000" : a)),
      "--optimizer",
      "adagrad",
      "--lr",
      "0.05",
      "--workers",
      "2",
    ]; // 2000 samples
    const steps = "20000"; // far more than runs before the signal arrives
    const saved = join(t.dir, "stopped.safetensors");
    const r = await interruptedRun([...flags, "--steps", steps, "--save", saved], join(t.dir, "log.jsonl"), 5);
    assert.is(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted \(SIGINT\): stopping after the steps in flight and saving to/);
    assert.match(r.stderr, /continue it with --resume/);
    const run = readRunState(saved, readSafetensors(saved).metadata);
    assert.ok(run !== null && run.interrupted, "marked interrupted");
    const stoppedAt = (run as { step: number }).step;
    assert.ok(stoppedAt >= 5 && stoppedAt < 20000, `stopped at step ${stoppedAt}`);
    assert.equal(JSON.parse(r.stdout.trim().split("\n").pop() as string), { event: "interrupted", step: stoppedAt });

    // Continue to a few steps past the stop, and compare with a run that went there directly.
    const target = String(stoppedAt + 3);
    const resumed = join(t.dir, "resumed.safetensors");
    const direct = join(t.dir, "direct.safetensors");
    await ok(["train", "--resume", saved, "--steps", target, "--workers", "2", "--save", resumed]);
    await ok(["train", ...flags, "--steps", target, "--save", direct]);
    assertSameTensors(resumed, direct, "resumed after Ctrl-C");
  } finally {
    t.cleanup();
  }
});

test("SIGTERM on one worker is handled as Ctrl-C: a resumable checkpoint marked interrupted, exit 130, no temporary file left", async () => {
  const t = tempDir();
  try {
    const saved = join(t.dir, "stopped.safetensors");
    const r = await interruptedRun(
      [...RUN, "--workers", "1", "--steps", "1000000", "--save", saved],
      join(t.dir, "log.jsonl"),
      3,
      "SIGTERM",
    );
    assert.is(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted \(SIGTERM\)/);
    const run = readRunState(saved, readSafetensors(saved).metadata);
    assert.ok(run !== null && run.interrupted && run.step >= 3);
    assert.equal(
      readdirSync(t.dir).sort(),
      ["log.jsonl", "stopped.safetensors"],
      "no temporary file beside the checkpoint",
    );
  } finally {
    t.cleanup();
  }
});

test.run();
