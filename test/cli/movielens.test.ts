// `dlrm train --data movielens:<dir> --split <name>`: the official splits rebuilt from
// u.data (u1 byte for byte against the distributed files), short runs on real data with the
// built-in model sized from the files, a --model whose tables disagree, and usage errors.
// The full target run (5 models × 4 epochs, AUC ≥ 0.785) is recorded in docs/results.md, not run here.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { buildOfficialSplit, splitRatings } from "../../src/data/sources/movielens_splits.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";
import { DATA } from "../helpers/golden.ts";

const DIR = `${DATA}ml-100k/`.replace(/\/$/, "");
const haveData = existsSync(join(DIR, "u.data")) && existsSync(join(DIR, "u1.base"));
if (!haveData) {
  console.log(
    `cli movielens tests: skipping the real-data tests, ${DIR} is absent (MovieLens 100K is available from grouplens.org; see ../shared/data/README.md)`,
  );
}
const withData = haveData ? test : test.skip;

withData("u1 rebuilt from u.data is u1.base and u1.test byte for byte", () => {
  const built = buildOfficialSplit(DIR, "u1", nodeDataFiles);
  assert.ok(built.base.text === readFileSync(join(DIR, "u1.base"), "latin1"), "u1.base differs");
  assert.ok(built.test.text === readFileSync(join(DIR, "u1.test"), "latin1"), "u1.test differs");
});

withData("u3 rebuilt: lines 40001–60000 of u.data as test, the rest as base, each sorted by user then item", () => {
  const data = readFileSync(join(DIR, "u.data"), "latin1")
    .split("\n")
    .filter((l) => l !== "");
  const built = buildOfficialSplit(DIR, "u3", nodeDataFiles);
  const test = built.test.text.split("\n").filter((l) => l !== "");
  const base = built.base.text.split("\n").filter((l) => l !== "");
  assert.is(test.length, 20000);
  assert.is(base.length, 80000);
  // The same multiset of lines as the fold (compared sorted as strings, independently of the order rule).
  assert.equal([...test].sort(), data.slice(40000, 60000).sort());
  assert.equal([...base].sort(), [...data.slice(0, 40000), ...data.slice(60000)].sort());
  // The order: user ascending, then item ascending, both as numbers.
  const key = (l: string): [number, number] => l.split("\t").slice(0, 2).map(Number) as [number, number];
  for (const lines of [test, base]) {
    for (let i = 1; i < lines.length; i++) {
      const [u0, i0] = key(lines[i - 1] as string);
      const [u1, i1] = key(lines[i] as string);
      assert.ok(u0 < u1 || (u0 === u1 && i0 <= i1), `line ${i + 1}: ${lines[i - 1]} before ${lines[i]}`);
    }
  }
});

withData(
  "splitRatings: the files when present, u2 … u5 rebuilt only when absent, other names left to the reader",
  () => {
    assert.is(splitRatings(DIR, "u1", nodeDataFiles), undefined);
    const t = tempDir();
    try {
      for (const f of ["u.data", "u.user", "u.item", "u1.base", "u1.test"]) symlinkSync(join(DIR, f), join(t.dir, f));
      assert.is(splitRatings(t.dir, "u1", nodeDataFiles), undefined);
      assert.ok(splitRatings(t.dir, "u4", nodeDataFiles)?.test.path.includes("rebuilt from u.data"));
      assert.is(splitRatings(t.dir, "ua", nodeDataFiles), undefined);
    } finally {
      t.cleanup();
    }
  },
);

withData(
  "train on movielens u1 for a few steps: the built-in model is sized from the files and evaluates on u1.test",
  async () => {
    const r = await runCli(["train", "--data", `movielens:${DIR}`, "--split", "u1", "--steps", "20"]);
    assert.is(r.code, 0, r.stderr);
    const ev = lastJson(r.stdout);
    assert.is(ev.event, "eval");
    assert.is(ev.n, 20000); // u1.test has 20,000 ratings
    assert.is(ev.split, "u1");
    assert.match(r.stderr, /dlrm train: 80000 samples, 8 tables, 20 steps of 128, adagrad/);
    // the built-in MovieLens model: five members, the six small tables decayed
    assert.match(
      r.stderr,
      /table weight decay \[0, 0, 0\.003, 0\.003, 0\.003, 0\.003, 0\.003, 0\.003\], an ensemble of 5 models/,
    );
    assert.is(ev.ensemble, 5);
  },
);

withData(
  "split u2 is rebuilt from u.data and trains; --test-freq prints each member's eval lines, the ensemble's last",
  async () => {
    const r = await runCli([
      "train",
      "--data",
      `movielens:${DIR}`,
      "--split",
      "u2",
      "--steps",
      "9",
      "--test-freq",
      "4",
      "--ensemble",
      "2",
    ]);
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(
      lines.map((l) => l.step),
      [4, 8, 9, 4, 8, 9, 9],
    );
    assert.equal(
      lines.map((l) => l.member ?? "ensemble"),
      [0, 0, 0, 1, 1, 1, "ensemble"],
    );
    assert.ok(
      lines.every(
        (l) =>
          l.event === "eval" &&
          typeof l.auc === "number" &&
          typeof l.logloss === "number" &&
          typeof l.accuracy === "number",
      ),
    );
    assert.is(lines[6]?.train_loss !== undefined, true, "the final line carries the train loss");
    assert.is(lines[6]?.ensemble, 2);
    assert.is(lines[6]?.split, "u2");
  },
);

withData("--model with tables that disagree with the data: one line naming the table", async () => {
  const t = tempDir();
  try {
    const E = 4;
    const sizes = [943, 1600, 2, 7, 21, 11, 16, 19]; // item: 1600 instead of u.item's 1682
    const model = join(t.dir, "ml.json");
    writeFileSync(
      model,
      JSON.stringify({
        dense_features: 3,
        bottom_mlp: [3, E],
        embedding_dim: E,
        table_sizes: sizes,
        top_mlp: [E + 36, 1],
      }),
    );
    const r = await runCli(["train", "--model", model, "--data", `movielens:${DIR}`, "--steps", "1"]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^dlrm: .*ml\.json: table 1 \(item\) has 1600 rows but movielens:.* defines 1682\n$/);
    const fewer = join(t.dir, "few.json");
    writeFileSync(
      fewer,
      JSON.stringify({
        dense_features: 3,
        bottom_mlp: [3, E],
        embedding_dim: E,
        table_sizes: [943, 1682],
        top_mlp: [E + 3, 1],
      }),
    );
    const r2 = await runCli(["train", "--model", fewer, "--data", `movielens:${DIR}`, "--steps", "1"]);
    assert.match(r2.stderr, /few\.json: the model has 2 tables but movielens:.* has 8/);
  } finally {
    t.cleanup();
  }
});

withData("a split that is neither on disk nor official is an error naming the missing file", async () => {
  const r = await runCli(["train", "--data", `movielens:${DIR}`, "--split", "ua", "--steps", "1"]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^dlrm: movielens: cannot read .*ua\.base \(split "ua" needs ua\.base and ua\.test\)/);
});

test("usage errors: --split without MovieLens data, an empty folder name", async () => {
  for (const [args, pattern] of [
    [["train", "--data", "random", "--split", "u1"], /^dlrm: train: --split applies to movielens:<dir> data only/],
    [["train", "--data", "movielens:"], /^dlrm: train: --data movielens: names no folder/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.is(r.code, 2, args.join(" "));
    assert.match(r.stderr, pattern);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test.run();
