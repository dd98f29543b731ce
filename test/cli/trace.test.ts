// `--data synthetic-trace:<profile>`: ids drawn from a reuse-distance profile and folded into
// each table. Checked with a naive LRU stack: a profile whose values fit the table yields
// ids whose stack distances are all among the profile's; values past the table are folded
// mod R; "{t}" picks one profile per table; bag sizes follow the random-data flags. (The
// distribution itself is test/data/trace.test.ts's subject.)

import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { syntheticTraceDataset } from "../../src/data/trace.ts";
import type { SparseFeature } from "../../src/data/dataset.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

/** A profile file as the reference writes it: unique accesses, stack distances, CDF. */
function profileText(values: number[], distances: number[], cdf: number[]): string {
  return `${values.join(", ")}\n${distances.join(", ")}\n${cdf.join(", ")}\n`;
}

/** Stack distances of a trace with a plain array as the LRU stack (most recent last). */
function naiveStackDistances(trace: ArrayLike<number>): number[] {
  const stack: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < trace.length; i++) {
    const x = trace[i] as number;
    const at = stack.indexOf(x);
    if (at === -1) out.push(0);
    else {
      out.push(stack.length - at);
      stack.splice(at, 1);
    }
    stack.push(x);
  }
  return out;
}

test("ids that fit the table keep the profile's locality: every stack distance is one the profile allows", () => {
  const t = tempDir();
  try {
    const profile = join(t.dir, "p.log");
    writeFileSync(profile, profileText([3, 1, 4, 0, 5, 9, 2, 6], [0, 1, 2, 5], [0.3, 0.6, 0.8, 1.0]));
    const d = syntheticTraceDataset(
      {
        profile,
        n: 300,
        denseFeatures: 2,
        tableSizes: [10, 50],
        numIndicesPerLookup: 3,
        numIndicesPerLookupFixed: false,
        seed: 7,
      },
      nodeDataFiles,
    );
    assert.is(d.n, 300);
    assert.is(d.dense.length, 600);
    assert.ok(Array.from(d.dense).every((x) => x >= 0 && x < 1));
    assert.ok(Array.from(d.labels).every((y) => y === 0 || y === 1));
    d.sparse.forEach((f: SparseFeature, k) => {
      const values = new Set([3, 1, 4, 0, 5, 9, 2, 6]);
      assert.ok(
        Array.from(f.indices).every((id) => values.has(id)),
        `table ${k}: ids outside the profile`,
      );
      // Every distance is the profile's, or U = 8: a "new" draw once all 8 values are used
      // takes the least recently used one (Algorithm 2 as the reference runs it).
      const sds = naiveStackDistances(f.indices);
      for (const sd of new Set(sds))
        assert.ok([0, 1, 2, 5, 8].includes(sd), `table ${k}: stack distance ${sd} is not in the profile`);
      assert.ok(sds.includes(5), `table ${k}: the deepest reuse of the profile occurs`);
      // Variable bags: 1 … min(R, K) lookups, as for random data.
      assert.ok(Array.from(f.lengths).every((l) => l >= 1 && l <= 3));
      assert.is(f.offsets[300], f.indices.length);
    });
  } finally {
    t.cleanup();
  }
});

test("values past the table are folded mod R; {t} selects one profile per table; fixed bags", () => {
  const t = tempDir();
  try {
    writeFileSync(
      join(t.dir, "dist_0.log"),
      profileText([1000, 1001, 1002, 1003, 1004, 1005], [0, 1, 3], [0.5, 0.8, 1.0]),
    );
    writeFileSync(join(t.dir, "dist_1.log"), profileText([10, 11, 12, 13], [0, 2], [0.4, 1.0]));
    const d = syntheticTraceDataset(
      {
        profile: join(t.dir, "dist_{t}.log"),
        n: 100,
        denseFeatures: 1,
        tableSizes: [7, 20],
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: true,
        seed: 3,
      },
      nodeDataFiles,
    );
    const folded = new Set([1000, 1001, 1002, 1003, 1004, 1005].map((v) => v % 7));
    assert.ok(
      Array.from(d.sparse[0]?.indices ?? []).every((id) => folded.has(id)),
      "table 0: ids are the profile's values mod 7",
    );
    assert.ok(
      Array.from(d.sparse[1]?.indices ?? []).every((id) => id >= 10 && id <= 13),
      "table 1: ids from its own profile",
    );
    for (const f of d.sparse) assert.ok(Array.from(f.lengths).every((l) => l === 2));
  } finally {
    t.cleanup();
  }
});

test("the CLI trains and evaluates on synthetic-trace data; a missing profile names the file", async () => {
  const t = tempDir();
  try {
    const profile = join(t.dir, "p.log");
    writeFileSync(profile, profileText([0, 1, 2, 3, 4], [0, 1, 2], [0.5, 0.75, 1.0]));
    const model = join(t.dir, "m.json");
    writeFileSync(
      model,
      JSON.stringify({
        dense_features: 3,
        bottom_mlp: [3, 4, 2],
        embedding_dim: 2,
        table_sizes: [5, 7],
        top_mlp: [5, 4, 1],
        batch_size: 4,
        steps: 3,
      }),
    );
    const r = await runCli([
      "train",
      "--model",
      model,
      "--data",
      `synthetic-trace:${profile}`,
      "--eval-data",
      `synthetic-trace:${profile}`,
    ]);
    assert.is(r.code, 0, r.stderr);
    const last = JSON.parse(r.stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
    assert.is(last.event, "eval");
    assert.is(last.step, 3);
    const missing = await runCli(["train", "--model", model, "--data", `synthetic-trace:${join(t.dir, "nope.log")}`]);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /^dlrm: trace profile: cannot read .*nope\.log/);
  } finally {
    t.cleanup();
  }
});

test.run();
