// `dlrm train --workers 2 --table-dir` as a user runs it: the table store's line per rank,
// then their sum under the one-worker line's label; the one-worker run prints that line only.
// Over the same batches the ranks together ask for the rows one worker does: each batch's
// distinct ids of a table fall in exactly one rank's shard, whatever the cache, so the sum's
// lookups are the one-worker run's. The files hold every row of every table once.
//
// Glossary: E embedding dim.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";

const TABLES = [2000, 1000, 500, 300];
const E = 4;
const MODEL = {
  dense_features: 4,
  bottom_mlp: [4, 8, E],
  embedding_dim: E,
  table_sizes: TABLES,
  top_mlp: [14, 8, 1],
  optimizer: "sgd",
  lr: 0.1,
  batch_size: 16,
  steps: 20,
};
const CACHE = 24 * 1024; // of 60,800 bytes of SGD rows (E floats a row)

interface StoreLine {
  rank: number | null;
  of: number | null;
  fields: Record<string, number | string | boolean | null>;
}

/** Every table store line of a run's stderr, in order. */
function storeLines(stderr: string): StoreLine[] {
  return [...stderr.matchAll(/^dlrm train: table store(?: \(rank (\d+) of (\d+)\))?: (\{.*\})$/gm)].map((m) => ({
    rank: m[1] === undefined ? null : Number(m[1]),
    of: m[2] === undefined ? null : Number(m[2]),
    fields: JSON.parse(m[3] as string) as StoreLine["fields"],
  }));
}

async function trainWith(dir: string, workers: number, more: string[] = []): Promise<StoreLine[]> {
  const tables = join(dir, `tables-${workers}${more.join("")}`);
  mkdirSync(tables);
  const args = [
    "train",
    ...["--model", join(dir, "model.json"), "--data", "random", "--data-size", "320", "--seed", "3"],
    ...["--workers", String(workers), "--table-dir", tables, "--table-cache-bytes", String(CACHE), ...more],
  ];
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return storeLines(r.stderr);
}

test("2 workers print each rank's store and their sum; the sum asks for the rows 1 worker does", async () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, "model.json"), JSON.stringify(MODEL));
    const one = await trainWith(t.dir, 1);
    assert.is(one.length, 1, JSON.stringify(one));
    assert.is(one[0]?.rank, null);
    const two = await trainWith(t.dir, 2);
    assert.equal(
      two.map((l) => [l.rank, l.of]),
      [
        [0, 2],
        [1, 2],
        [null, null],
      ],
    );
    const [r0, r1, sum] = two.map((l) => l.fields) as [StoreLine["fields"], StoreLine["fields"], StoreLine["fields"]];
    const counted = ["resident_bytes", "file_bytes", "lookups", "hits", "rows_read", "rows_read_ahead", "rows_written"];
    for (const k of [...counted, "bytes_read", "bytes_written"])
      assert.is(sum[k], (r0[k] as number) + (r1[k] as number), `${k}: ${JSON.stringify(two)}`);
    for (const k of ["files_made_ms", "wait_ms"])
      // each rounded: the sum within 1 ms of the rounded ranks'
      assert.ok(Math.abs((sum[k] as number) - (r0[k] as number) - (r1[k] as number)) <= 1, k);
    const hits = sum.hits as number;
    const lookups = sum.lookups as number;
    assert.is(sum.hit_rate, Math.round((hits / lookups) * 1e4) / 1e4);
    for (const line of [r0, r1, sum]) {
      assert.is(line.policy, "lookahead 4, prefetch 1");
      assert.is(line.bytes_read, (line.rows_read as number) * E * 4);
      // a row asked for and not a hit was read for it (at its step or ahead)
      assert.ok((line.rows_read as number) >= (line.lookups as number) - (line.hits as number), JSON.stringify(line));
    }
    assert.is(sum.file_bytes, TABLES.reduce((a, b) => a + b, 0) * E * 4);
    assert.ok((sum.resident_bytes as number) <= CACHE, JSON.stringify(sum));
    assert.ok(hits > 0 && (sum.rows_read as number) > 0 && (sum.rows_written as number) > 0, JSON.stringify(sum));
    assert.is(lookups, one[0]?.fields.lookups, "the ranks together ask for each batch's distinct rows, as 1 worker");
  } finally {
    t.cleanup();
  }
});

test("2 workers, LRU on the steps' threads: each rank's line and the sum say so, and the sum asks for the rows 1 worker does", async () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.dir, "model.json"), JSON.stringify(MODEL));
    const flags = ["--table-cache-policy", "lru", "--table-io", "sync"];
    const [one] = await trainWith(t.dir, 1, flags);
    const two = await trainWith(t.dir, 2, flags);
    assert.is(two.length, 3);
    for (const { fields } of two) {
      assert.is(fields.policy, "lru");
      assert.is(fields.reader_thread, false);
      assert.is(fields.rows_read_ahead, 0);
      assert.is(fields.wait_ms, 0, "no reader thread to wait for");
    }
    const [r0, r1, sum] = two.map((l) => l.fields) as [StoreLine["fields"], StoreLine["fields"], StoreLine["fields"]];
    for (const k of ["lookups", "hits", "rows_read", "rows_written"])
      assert.is(sum[k], (r0[k] as number) + (r1[k] as number), k);
    assert.is(sum.lookups, one?.fields.lookups);
  } finally {
    t.cleanup();
  }
});

test.run();
