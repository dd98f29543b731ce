// `dlrm train --table-dir` as a user runs it: the tables in files behind a cache smaller than
// they are give the checkpoint of the in-memory run, bit for bit, for SGD, Adagrad and row-wise
// Adagrad, on 1 worker (both eviction policies) and on 2 (each rank its files), and across a
// --resume; a run killed with SIGKILL in
// the middle of training leaves the last checkpoint it had saved as it was, and resuming from
// it gives the in-memory result; dlrm predict --table-dir predicts the in-memory bits; the
// flags' mistakes are usage errors naming the flag.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { assertSameTensors, interruptedRun } from "../helpers/train_runs.ts";

// 2000 samples in batches of 20, bags of up to 10 lookups: the default model's 8 tables (242 KiB
// of SGD rows, twice that with Adagrad's state) through a cache of 40 % of that, which holds
// ~385 rows of each of the three largest tables (500 to 2,000 rows; a batch looks up ~100).
const RUN = ["--data", "random", "--data-size", "2000", "--batch-size", "20", "--seed", "5"];

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return r.stderr;
}

/** The table store's line of a run's stderr. */
/** The run's table store line: one worker's, or on N workers the ranks' sum (not a "table store (rank r of N)" line). */
function storeLine(stderr: string): Record<string, number> {
  const m = /table store: (\{.*\})/.exec(stderr);
  assert.ok(m !== null, stderr);
  return JSON.parse(m[1] as string) as Record<string, number>;
}

for (const [optimizer, workers] of [
  ["sgd", "1"],
  ["adagrad", "1"],
  ["rowwise-adagrad", "1"],
  ["sgd", "2"],
  ["adagrad", "2"],
  ["rowwise-adagrad", "2"],
]) {
  test(`${optimizer}, ${workers} worker(s): --table-dir behind a cache of 40 % of the tables saves the in-memory run's bytes (each policy, and across a --resume)`, async () => {
    const t = tempDir();
    try {
      const flags = [
        ...RUN,
        "--workers",
        workers,
        "--optimizer",
        optimizer,
        "--lr",
        optimizer === "sgd" ? "0.1" : "0.05",
      ];
      const tables = join(t.dir, "tables");
      mkdirSync(tables);
      const cache = (optimizer === "adagrad" ? 192 * 1024 : 96 * 1024) * Number(workers); // each rank its share
      const store = ["--table-dir", tables, "--table-cache-bytes", String(cache)];
      const memory = join(t.dir, "memory.safetensors");
      await ok(["train", ...flags, "--steps", "25", "--save", memory]);
      const want = readFileSync(memory);
      const hits: number[] = [];
      for (const policy of workers === "1" ? ["lookahead", "lru", "prefetch-4"] : ["lookahead", "lru"]) {
        const path = join(t.dir, `${policy}.safetensors`);
        const policyFlags =
          policy === "prefetch-4"
            ? ["--table-cache-policy", "lookahead", "--table-prefetch", "4"]
            : ["--table-cache-policy", policy];
        const err = await ok(["train", ...flags, ...store, ...policyFlags, "--steps", "25", "--save", path]);
        assert.ok(readFileSync(path).equals(want), `${policy}: the checkpoint differs from the in-memory run's`);
        const line = storeLine(err);
        assert.ok(line.rows_written > 0 && line.resident_bytes <= cache, JSON.stringify(line));
        if (policy !== "lru") assert.ok(line.rows_read_ahead > 0, `${policy}: ${JSON.stringify(line)}`);
        hits.push(line.hits);
      }
      assert.ok((hits[0] as number) > (hits[1] as number), `look-ahead hits ${hits[0]}, LRU ${hits[1]}`);
      // one file per piece, or per row range of a split one (2 ranks split the largest table)
      assert.equal(readdirSync(tables).length, workers === "1" ? 8 : 9);
      const half = join(t.dir, "half.safetensors");
      const resumed = join(t.dir, "resumed.safetensors");
      await ok(["train", ...flags, ...store, "--steps", "12", "--save", half]);
      await ok(["train", "--resume", half, "--workers", workers, ...store, "--steps", "25", "--save", resumed]);
      assertSameTensors(resumed, memory, `${optimizer}: resumed on disk`);
    } finally {
      t.cleanup();
    }
  });
}

test("SIGKILL in the middle of a --table-dir run leaves its last checkpoint usable", async () => {
  const t = tempDir();
  try {
    const tables = join(t.dir, "tables");
    mkdirSync(tables);
    const flags = [...RUN, "--workers", "1", "--optimizer", "adagrad", "--lr", "0.05"];
    const store = ["--table-dir", tables, "--table-cache-bytes", "256KiB"];
    const memory = join(t.dir, "memory.safetensors");
    await ok(["train", ...flags, "--steps", "25", "--save", memory]);
    const ckpt = join(t.dir, "run.safetensors");
    await ok(["train", ...flags, ...store, "--steps", "12", "--save", ckpt]);
    const before = readFileSync(ckpt);
    // Resumed towards 100,000 steps, saving to the same file, killed after 30 steps: the
    // table files hold rows of some later step, the checkpoint is what it was.
    const r = await interruptedRun(
      ["--resume", ckpt, ...store, "--steps", "100000", "--save", ckpt],
      join(t.dir, "log.jsonl"),
      30,
      "SIGKILL",
    );
    assert.is(r.code, null, `the run should have been killed: ${r.stderr}`);
    assert.ok(readFileSync(ckpt).equals(before), "the checkpoint changed");
    assert.equal(
      readdirSync(t.dir).filter((f) => f.endsWith(".tmp")).length,
      0,
      "a temporary checkpoint was left behind", // killed while training, not while saving
    );
    const resumed = join(t.dir, "resumed.safetensors");
    await ok(["train", "--resume", ckpt, ...store, "--steps", "25", "--save", resumed]);
    assertSameTensors(resumed, memory, "resumed after SIGKILL");
  } finally {
    t.cleanup();
  }
});

test("--init into --table-dir: the checkpoint's parameters, fresh optimizer state, as in memory", async () => {
  const t = tempDir();
  try {
    const tables = join(t.dir, "tables");
    mkdirSync(tables);
    const flags = [...RUN, "--workers", "1", "--optimizer", "adagrad", "--lr", "0.05"];
    const start = join(t.dir, "start.safetensors");
    await ok(["train", ...flags, "--steps", "5", "--save", start]);
    const memory = join(t.dir, "memory.safetensors");
    const disk = join(t.dir, "disk.safetensors");
    await ok(["train", ...flags, "--init", start, "--steps", "10", "--save", memory]);
    await ok([
      "train",
      ...flags,
      "--init",
      start,
      "--steps",
      "10",
      "--table-dir",
      tables,
      "--table-cache-bytes",
      "192KiB",
      "--save",
      disk,
    ]);
    assert.ok(readFileSync(disk).equals(readFileSync(memory)), "the checkpoints differ");
  } finally {
    t.cleanup();
  }
});

test("dlrm predict --table-dir: the checkpoint's tables served from files through a small cache predict the same bits (1 and 2 workers)", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "model.safetensors");
    await ok([
      "train",
      "--data",
      "synthetic",
      "--data-size",
      "2000",
      "--batch-size",
      "20",
      "--steps",
      "25",
      "--workers",
      "1",
      "--save",
      ckpt,
    ]);
    for (const workers of ["1", "2"]) {
      const tables = join(t.dir, `tables-${workers}`);
      mkdirSync(tables);
      const base = ["predict", "--checkpoint", ckpt, "--data", "synthetic", "--batch-size", "64", "--workers", workers];
      const memory = join(t.dir, `memory-${workers}.safetensors`);
      const disk = join(t.dir, `disk-${workers}.safetensors`);
      await ok([...base, "--out", memory]);
      await ok([...base, "--table-dir", tables, "--table-cache-bytes", "100KiB", "--out", disk]);
      assert.ok(readFileSync(disk).equals(readFileSync(memory)), `${workers} worker(s): the predictions differ`);
      assert.ok(readdirSync(tables).length >= 8);
    }
  } finally {
    t.cleanup();
  }
});

test("--table-dir's flags: mistakes are usage errors naming the flag", async () => {
  const t = tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [["--table-cache-bytes", "1MiB"], /--table-cache-bytes goes with --table-dir/],
      [
        ["--table-dir", t.dir, "--table-cache-bytes", "12XB"],
        /--table-cache-bytes must be a positive byte count.*"12XB"/,
      ],
      [["--table-dir", join(t.dir, "none")], /--table-dir .*none is not a directory/],
      [["--table-dir", t.dir, "--table-cache-policy", "lfu"], /--table-cache-policy/],
      [
        ["--table-dir", t.dir, "--table-cache-policy", "lru", "--table-prefetch", "1"],
        /--table-prefetch reads ahead the look-ahead's batches: it needs --table-cache-policy lookahead/,
      ],
      [["--table-dir", t.dir, "--table-prefetch", "5"], /--table-prefetch 5 is past the 4 batches the look-ahead sees/],
      [["--table-prefetch", "1"], /--table-prefetch goes with --table-dir/],
      [
        ["--table-dir", t.dir, "--table-cache-bytes", "100"],
        /--table-cache-bytes: 100 bytes leave 12 for table 0, less than one row of \d+ bytes/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(["train", "--data", "random", "--data-size", "100", "--steps", "1", ...args]);
      assert.ok(r.code !== 0 && message.test(r.stderr), `${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
    }
  } finally {
    t.cleanup();
  }
});

test.run();
