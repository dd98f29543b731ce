// `dlrm train` with its tables spread over several wasm memories per rank (a test-only cap on
// a memory's table bytes, DLRM_TABLE_MEMORY_BYTES, so that a small model takes 3+ memories)
// saves the bytes of the run in one memory, for SGD, Adagrad, row-wise Adagrad and Adam, on 1
// worker (this thread's model) and on 2 (each rank its memories), and across a --resume; a
// table bigger than one memory is an error naming it and its bytes.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { SPREAD_TABLES_CONFIG } from "../helpers/spread_tables.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { partBytes } from "../../src/dlrm/tables/memories.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { modelShardingPlan } from "../../src/parallel/plan.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { assertSameTensors } from "../helpers/train_runs.ts";

const CONFIG = SPREAD_TABLES_CONFIG;

const RUN = ["--data", "random", "--data-size", "320", "--batch-size", "20", "--seed", "5"];

async function ok(args: string[], cap: number | null = null): Promise<void> {
  const before = process.env.DLRM_TABLE_MEMORY_BYTES;
  if (cap !== null) process.env.DLRM_TABLE_MEMORY_BYTES = String(cap); // the ranks' threads inherit it
  try {
    const r = await runCli(args);
    assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  } finally {
    if (before === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = before;
  }
}

/** How many memories each rank's shards take under the cap (random data: even lookups, so the run's plan). */
function memoriesPerRank(workers: number, cap: number, kind: Parameters<typeof optimizerSpec>[0]): number[] {
  const before = process.env.DLRM_TABLE_MEMORY_BYTES;
  process.env.DLRM_TABLE_MEMORY_BYTES = String(cap);
  try {
    const plan = modelShardingPlan(CONFIG, { ranks: workers, optimizer: optimizerSpec(kind, 0.05) });
    return plan.perRank.map((rp) => (rp.memories ?? []).length);
  } finally {
    if (before === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = before;
  }
}

for (const optimizer of ["sgd", "adagrad", "rowwise-adagrad", "adam"] as const) {
  for (const workers of [1, 2]) {
    test(`${optimizer}, ${workers} worker(s): tables in 3+ memories per rank save the one-memory run's bytes, and across a --resume`, async () => {
      const cap = partBytes({ label: "", rows: 400, dim: 8, pooling: false }, optimizerSpec(optimizer, 0.05));
      for (const n of memoriesPerRank(workers, cap, optimizer)) assert.ok(n >= 3, `a rank's tables take ${n} memories`);
      const t = tempDir();
      try {
        const model = join(t.dir, "model.json");
        writeFileSync(model, JSON.stringify(CONFIG));
        const flags = ["--model", model, ...RUN, "--workers", String(workers), "--optimizer", optimizer];
        const lr = ["--lr", optimizer === "sgd" ? "0.1" : "0.05"];
        const one = join(t.dir, "one.safetensors");
        await ok(["train", ...flags, ...lr, "--steps", "16", "--save", one]);
        const spread = join(t.dir, "spread.safetensors");
        await ok(["train", ...flags, ...lr, "--steps", "16", "--save", spread], cap);
        assert.ok(readFileSync(spread).equals(readFileSync(one)), "the checkpoint differs from the one-memory run's");
        const half = join(t.dir, "half.safetensors");
        const resumed = join(t.dir, "resumed.safetensors");
        await ok(["train", ...flags, ...lr, "--steps", "8", "--save", half], cap);
        await ok(["train", "--resume", half, "--workers", String(workers), "--steps", "16", "--save", resumed], cap);
        assertSameTensors(resumed, one, `${optimizer}: resumed over several memories`);
      } finally {
        t.cleanup();
      }
    });
  }
}

test("a table bigger than one memory: the error names it and its bytes, on 1 worker and on a rank", async () => {
  const t = tempDir();
  const before = process.env.DLRM_TABLE_MEMORY_BYTES;
  process.env.DLRM_TABLE_MEMORY_BYTES = "20000"; // under the 400-row tables' 26 KiB with Adagrad's state (0 and 1: a rank names its own)
  try {
    const model = join(t.dir, "model.json");
    writeFileSync(model, JSON.stringify(CONFIG));
    for (const workers of ["1", "2"]) {
      const r = await runCli(["train", "--model", model, ...RUN, "--workers", workers, "--optimizer", "adagrad"]);
      assert.is(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /table [01]\b.*: its weights and optimizer state take 26 KiB \(26624 bytes\), more than one wasm memory holds for tables \(19\.5 KiB\): split its rows over more workers/,
      );
    }
  } finally {
    if (before === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = before;
    t.cleanup();
  }
});

test.run();
