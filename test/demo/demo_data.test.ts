// The demo page's data (src/demo/demo_data.ts) is the CLI's: MovieLens-100K u1 from the
// bytes of picked files gives readMovieLens's datasets array for array, also when the split
// is rebuilt from u.data, and so does u2 (rebuilt); a Criteo TSV's bytes, or several files of
// a day each, give readCriteo's samples, split as the CLI splits them, and its tables; a folder
// without the files says which it lacks. Skipped, with
// the reason printed, when ../shared/data is absent.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { criteoSplit, readCriteo } from "../../src/data/criteo.ts";
import { criteoTableSizes } from "../../src/data/criteo_dictionary.ts";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { readMovieLens } from "../../src/data/movielens.ts";
import { demoRun } from "../../src/demo/demo_data.ts";
import { splitRatings } from "../../src/data/sources/movielens_splits.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";
import { tempDir } from "../helpers/cli.ts";

const DATA = new URL("../../../shared/data/", import.meta.url).pathname;
const ML = join(DATA, "ml-100k");
const CRITEO = join(DATA, "criteo-sample", "train.txt");
const haveMl = existsSync(join(ML, "u.data"));
const haveCriteo = existsSync(CRITEO);
if (!haveMl) console.log(`skipping the MovieLens demo-data tests: ${ML} is absent`);
if (!haveCriteo) console.log(`skipping the Criteo demo-data test: ${CRITEO} is absent`);

const bytes = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
const same = (a: ArrayBufferView | null, b: ArrayBufferView | null): boolean =>
  a === null || b === null
    ? a === b
    : Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function assertSameDataset(got: Dataset, want: Dataset, what: string): void {
  assert.is(got.n, want.n, `${what}: n`);
  assert.ok(same(got.labels, want.labels), `${what}: labels`);
  assert.ok(same(got.dense, want.dense), `${what}: dense`);
  assert.is(got.sparse.length, want.sparse.length, `${what}: tables`);
  got.sparse.forEach((f, t) => {
    const w = want.sparse[t] as Dataset["sparse"][number];
    assert.ok(
      same(f.offsets, w.offsets) && same(f.indices, w.indices) && same(f.weights, w.weights),
      `${what}: table ${t}`,
    );
  });
}

(haveMl ? test : test.skip)(
  "MovieLens u1 from picked files = readMovieLens's, and rebuilt from u.data alike",
  async () => {
    const cli = readMovieLens(ML, "u1", nodeDataFiles);
    const files = (names: string[]): Record<string, Uint8Array> =>
      Object.fromEntries(names.map((n) => [n, bytes(join(ML, n))]));
    for (const names of [
      ["u.user", "u.item", "u1.base", "u1.test"],
      ["u.user", "u.item", "u.data"],
    ]) {
      const run = await demoRun({ kind: "movielens", split: "u1", files: files(names) }, 10, 128, 1);
      assertSameDataset(run.train, cli.train, `train from ${names.join(", ")}`);
      assertSameDataset(run.eval, cli.test, `eval from ${names.join(", ")}`);
      assert.equal(run.config.table_sizes, cli.tableSizes);
    }
    try {
      await demoRun({ kind: "movielens", split: "u1", files: files(["u.user", "u1.base", "u1.test"]) }, 10, 128, 1);
      assert.unreachable("a folder without u.item");
    } catch (e) {
      assert.match((e as Error).message, /no u\.item: pick MovieLens-100K's ml-100k folder/);
    }
  },
);

(haveMl ? test : test.skip)(
  "MovieLens's other splits: u2 rebuilt from u.data = the CLI's --split u2; ua, which u.data cannot rebuild, is named when absent",
  async () => {
    const cli = readMovieLens(ML, "u2", nodeDataFiles, splitRatings(ML, "u2", nodeDataFiles));
    const files = Object.fromEntries(["u.user", "u.item", "u.data"].map((n) => [n, bytes(join(ML, n))]));
    const run = await demoRun({ kind: "movielens", split: "u2", files }, 10, 128, 1);
    assertSameDataset(run.train, cli.train, "u2 train");
    assertSameDataset(run.eval, cli.test, "u2 eval");
    const u1 = readMovieLens(ML, "u1", nodeDataFiles);
    assert.ok(run.train.n !== u1.train.n || !same(run.train.labels, u1.train.labels), "u2 differs from u1");
    try {
      await demoRun({ kind: "movielens", split: "ua", files }, 10, 128, 1);
      assert.unreachable("ua without its files");
    } catch (e) {
      assert.match((e as Error).message, /no ua\.base and ua\.test: pick MovieLens-100K's ml-100k folder/);
    }
  },
);

(haveCriteo ? test : test.skip)("a Criteo TSV's bytes = readCriteo's samples, the CLI's split and tables", async () => {
  const read = await readCriteo([CRITEO], nodeDataFiles);
  const split = criteoSplit(read.dayRows);
  const run = await demoRun({ kind: "criteo", files: [{ name: "train.txt", bytes: bytes(CRITEO) }] }, 10, 16, 1);
  assertSameDataset(run.train, sliceDataset(read.data, ...split.train), "train");
  assertSameDataset(run.eval, sliceDataset(read.data, ...split.test), "eval");
  assert.equal(run.config.table_sizes, criteoTableSizes(read.dictionary));
});

(haveCriteo ? test : test.skip)(
  "several Criteo files (a day each) = readCriteo of the same files: samples, split and tables",
  async () => {
    // The sample cut in two "days", written as two files for the CLI's reader and given as bytes to the page's.
    const lines = readFileSync(CRITEO, "latin1")
      .split("\n")
      .filter((l) => l !== "");
    const t = tempDir();
    try {
      const days = [lines.slice(0, 120), lines.slice(120)].map((d, k) => {
        const path = join(t.dir, `day_${k}`);
        writeFileSync(path, d.join("\n") + "\n", "latin1");
        return path;
      });
      const read = await readCriteo(days, nodeDataFiles);
      const split = criteoSplit(read.dayRows);
      const files = days.map((path, k) => ({ name: `day_${k}`, bytes: bytes(path) }));
      const run = await demoRun({ kind: "criteo", files }, 10, 16, 1);
      assertSameDataset(run.train, sliceDataset(read.data, ...split.train), "train");
      assertSameDataset(run.eval, sliceDataset(read.data, ...split.test), "eval");
      assert.equal(run.config.table_sizes, criteoTableSizes(read.dictionary));
      assert.is(read.dayRows.length, 2, "one day per file");
    } finally {
      t.cleanup();
    }
  },
);

test.run();
