// The demo page's data (src/demo/demo_data.ts) is the CLI's: MovieLens-100K u1 from the
// bytes of picked files gives readMovieLens's datasets array for array, also when the split
// is rebuilt from u.data; a Criteo TSV's bytes give readCriteo's samples, split as the CLI
// splits them, and its tables; a folder without the files says which it lacks. Skipped, with
// the reason printed, when ../shared/data is absent.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { criteoSplit, readCriteo } from "../../src/data/criteo.ts";
import { criteoTableSizes } from "../../src/data/criteo_dictionary.ts";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { readMovieLens } from "../../src/data/movielens.ts";
import { demoRun } from "../../src/demo/demo_data.ts";

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
    const cli = readMovieLens(ML, "u1");
    const files = (names: string[]): Record<string, Uint8Array> =>
      Object.fromEntries(names.map((n) => [n, bytes(join(ML, n))]));
    for (const names of [
      ["u.user", "u.item", "u1.base", "u1.test"],
      ["u.user", "u.item", "u.data"],
    ]) {
      const run = await demoRun({ kind: "movielens", files: files(names) }, 10, 128, 1);
      assertSameDataset(run.train, cli.train, `train from ${names.join(", ")}`);
      assertSameDataset(run.eval, cli.test, `eval from ${names.join(", ")}`);
      assert.equal(run.config.table_sizes, cli.tableSizes);
    }
    try {
      await demoRun({ kind: "movielens", files: files(["u.user", "u1.base", "u1.test"]) }, 10, 128, 1);
      assert.unreachable("a folder without u.item");
    } catch (e) {
      assert.match((e as Error).message, /no u\.item: pick MovieLens-100K's ml-100k folder/);
    }
  },
);

(haveCriteo ? test : test.skip)("a Criteo TSV's bytes = readCriteo's samples, the CLI's split and tables", async () => {
  const read = await readCriteo([CRITEO]);
  const split = criteoSplit(read.dayRows);
  const run = await demoRun({ kind: "criteo", name: "train.txt", bytes: bytes(CRITEO) }, 10, 16, 1);
  assertSameDataset(run.train, sliceDataset(read.data, ...split.train), "train");
  assertSameDataset(run.eval, sliceDataset(read.data, ...split.test), "eval");
  assert.equal(run.config.table_sizes, criteoTableSizes(read.dictionary));
});

test.run();
