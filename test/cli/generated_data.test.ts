// Generated data through `dlrm train`, batch by batch (issue 23, item 3): without --data-size,
// random, synthetic and synthetic-trace data are endless streams whose batch k is a pure
// function of (seed, k). So 1 and 3 workers train on the same batches; a run of ten million
// steps starts at once (nothing is made ahead of its step: materialising it would not even
// fit one array) and stops cleanly on Ctrl-C; and a run saved and --resume'd equals the run
// that went straight through, bit for bit.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRunState } from "../../src/dlrm/checkpoint.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { assertSameTensors, interruptedRun } from "../helpers/train_runs.ts";

/** A small model: 3 dense features, tables of 20, 50 and 300 rows, bags of 1–3 lookups. */
const MODEL = {
  dense_features: 3,
  bottom_mlp: [3, 8, 4],
  embedding_dim: 4,
  table_sizes: [20, 50, 300],
  top_mlp: [10, 8, 1],
  bag_size: [1, 3],
  optimizer: "adagrad",
  lr: 0.05,
  batch_size: 32,
};

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The per-step losses of a --log file. */
function losses(log: string): number[] {
  return readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step?: number; loss?: number })
    .filter((o) => o.loss !== undefined)
    .map((o) => o.loss as number);
}

function withModel(run: (dir: string, model: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const t = tempDir();
    try {
      const model = join(t.dir, "model.json");
      writeFileSync(model, JSON.stringify(MODEL));
      writeFileSync(join(t.dir, "p.log"), "3, 1, 4, 0, 5, 9, 2, 6\n0, 1, 2, 5\n0.3, 0.6, 0.8, 1.0\n");
      await run(t.dir, model);
    } finally {
      t.cleanup();
    }
  };
}

test(
  "1 and 3 workers train on the same batches: their step losses agree to float32 rounding",
  withModel(async (dir, model) => {
    for (const data of ["synthetic", "random", `synthetic-trace:${join(dir, "p.log")}`]) {
      const run = async (workers: number): Promise<number[]> => {
        const log = join(dir, `w${workers}.jsonl`);
        await ok(
          ["train", "--model", model, "--data", data, "--steps", "30", "--workers", String(workers)].concat([
            "--log",
            log,
          ]),
        );
        return losses(log);
      };
      const one = await run(1);
      const three = await run(3);
      assert.is(one.length, 30, data);
      // The same starting model on the same batch gives the same loss up to the order of float32
      // sums; another batch of 32 samples moves it by ~1e-2.
      one.forEach((l, s) =>
        assert.ok(Math.abs(l - (three[s] as number)) < 1e-4, `${data}, step ${s}: ${l} vs ${three[s]}`),
      );
    }
  }),
);

test(
  "--save then --resume equals the uninterrupted run bit for bit, on 1 and 2 workers",
  withModel(async (dir, model) => {
    for (const [data, workers] of [
      ["synthetic", "2"],
      ["random", "1"],
      [`synthetic-trace:${join(dir, "p.log")}`, "1"],
    ] as const) {
      const flags = ["--model", model, "--data", data, "--workers", workers, "--seed", "9"];
      const full = join(dir, "full.safetensors");
      const half = join(dir, "half.safetensors");
      const resumed = join(dir, "resumed.safetensors");
      await ok(["train", ...flags, "--steps", "14", "--save", full]);
      await ok(["train", ...flags, "--steps", "6", "--save", half]);
      const run = readRunState(half, readSafetensors(half).metadata);
      assert.is(run?.step, 6, data);
      assert.is(run?.flags["data-size"], undefined, `${data}: no data size is recorded for endless data`);
      await ok(["train", "--resume", half, "--steps", "14", "--workers", workers, "--save", resumed]);
      assertSameTensors(resumed, full, `${data} resumed`);
    }
  }),
);

test(
  "dlrm predict --data synthetic scores the held-out split an endless run evaluated: 50,000 samples, the AUC train printed",
  withModel(async (dir, model) => {
    const ckpt = join(dir, "c.safetensors");
    const trained = lastJson(
      await ok(["train", "--model", model, "--data", "synthetic", "--steps", "20", "--workers", "1", "--save", ckpt]),
    );
    const scored = lastJson(
      await ok([
        "predict",
        "--checkpoint",
        ckpt,
        "--data",
        "synthetic",
        "--out",
        join(dir, "p.safetensors"),
        "--metrics",
      ]),
    );
    assert.is(trained.n, 50000);
    assert.is(scored.n, 50000);
    // The same samples and parameters; train and predict batch the split alike on one thread.
    assert.ok(Math.abs((scored.auc as number) - (trained.auc as number)) < 1e-6, `${scored.auc} vs ${trained.auc}`);
  }),
);

test("--epochs needs a finite size: endless generated data is refused, --data-size is taken", async () => {
  const r = await runCli(["train", "--data", "random", "--epochs", "1", "--workers", "1"]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--epochs needs data of a finite size: random is endless without --data-size N/);
});

test(
  "ten million steps of synthetic data on 2 workers start at once; Ctrl-C stops them, saved and resumable",
  withModel(async (dir) => {
    const saved = join(dir, "stopped.safetensors");
    const args = ["--data", "synthetic", "--steps", "10000000", "--workers", "2", "--save", saved];
    const r = await interruptedRun(args, join(dir, "log.jsonl"), 3);
    assert.is(r.code, 130, r.stderr);
    assert.match(r.stderr, /dlrm train: endless generated samples \(made batch by batch\), 8 tables, 10000000 steps/);
    assert.match(r.stderr, /interrupted \(SIGINT\): stopping after the steps in flight and saving to/);
    const run = readRunState(saved, readSafetensors(saved).metadata);
    assert.ok(run !== null && run.interrupted && run.step >= 3 && run.step < 10000000, `stopped at ${run?.step}`);
  }),
);

test.run();
