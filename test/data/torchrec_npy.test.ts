// TorchRec's preprocessed Criteo days (.npy, written by NumPy in test/fixtures/torchrec_npy/
// make.py) read by position: every value as NumPy wrote it, ids modulo R, the days in order
// and the protocol's split through `dlrm train --data torchrec-npy:<dir>`, and malformed
// folders and files as errors naming the file.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { sameRows } from "../helpers/datasets.ts";
import { NpyFile } from "../../src/data/npy.ts";
import {
  openTorchrecDays,
  torchrecTableSizes,
  readTorchrecRows,
  TorchrecNpySource,
} from "../../src/data/torchrec_npy.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const FIX = "test/fixtures/torchrec_npy";
const values = JSON.parse(readFileSync(`${FIX}/values.json`, "utf8")) as Record<
  string,
  { dense: number[]; sparse: number[]; labels: number[] }
>;
const { dir, cleanup } = tempDir();

test("NumPy's headers and values, rows read by position", () => {
  const f = new NpyFile(`${FIX}/day_1_sparse.npy`, nodeDataFiles);
  assert.equal([f.header.dtype, f.header.shape, f.header.rows, f.header.rowValues], ["<i8", [8, 26], 8, 26]);
  assert.equal(Array.from(f.rows(0, 8)), values.day_1?.sparse);
  assert.equal(Array.from(f.rows(3, 5)), values.day_1?.sparse.slice(3 * 26, 5 * 26));
  f.close();
  const d = new NpyFile(`${FIX}/day_1_dense.npy`, nodeDataFiles);
  assert.equal(Array.from(d.rows(0, 8)), values.day_1?.dense);
  d.close();
});

test("a day as samples: dense as stored, ids modulo R, labels", async () => {
  const days = openTorchrecDays(FIX, nodeDataFiles);
  assert.equal(
    days.map((d) => [d.day, d.rows]),
    [
      [0, 10],
      [1, 8],
      [2, 6],
    ],
  );
  const R = 1000;
  const s = readTorchrecRows(days[2] as (typeof days)[number], 1, 6, R);
  const v = values.day_2 as { dense: number[]; sparse: number[]; labels: number[] };
  assert.equal(Array.from(s.dense), v.dense.slice(13, 6 * 13));
  assert.equal(Array.from(s.labels), v.labels.slice(1));
  s.sparse.forEach((f, t) =>
    assert.equal(
      Array.from(f.indices),
      [1, 2, 3, 4, 5].map((i) => (v.sparse[i * 26 + t] as number) % R),
    ),
  );
  // raw hashes above 2^31 need R
  assert.throws(() => readTorchrecRows(days[2] as (typeof days)[number], 0, 6, 0), /needs --max-ind-range/);
  for (const d of days) for (const f of [d.dense, d.sparse, d.labels]) f.close();
  const src = new TorchrecNpySource(FIX, nodeDataFiles, { maxIndRange: R });
  assert.equal([src.samplesPerEpoch, src.dayRows], [24, [10, 8, 6]]);
  await src.close();
  assert.equal(torchrecTableSizes(FIX, nodeDataFiles, R), new Array(26).fill(R));
  // without R the raw hashes (some above 2^31) cannot be rows
  assert.throws(() => torchrecTableSizes(FIX, nodeDataFiles, 0), /needs --max-ind-range/);
});

test("dlrm train --data torchrec-npy:<dir>: days 0–1 train, the first half of day 2 evaluates", async () => {
  const r = await runCli([
    "train",
    "--data",
    `torchrec-npy:${FIX}`,
    "--max-ind-range",
    "50",
    "--steps",
    "2",
    "--workers",
    "1",
  ]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /dlrm train: 18 samples, 26 tables/);
  const last = JSON.parse(r.stdout.trim().split("\n").pop() as string) as { n: number };
  assert.is(last.n, 3);
});

test("malformed: a day without its labels, rows that disagree, a file that is not .npy, a short file", () => {
  const only = join(dir, "a");
  mkdirSync(only);
  copyFileSync(`${FIX}/day_0_dense.npy`, join(only, "day_0_dense.npy"));
  copyFileSync(`${FIX}/day_0_sparse.npy`, join(only, "day_0_sparse.npy"));
  assert.throws(() => openTorchrecDays(only, nodeDataFiles), /day 0 has no .*day_0_labels\.npy/);
  copyFileSync(`${FIX}/day_1_labels.npy`, join(only, "day_0_labels.npy"));
  assert.throws(() => openTorchrecDays(only, nodeDataFiles), /day 0 has 10 dense rows, 10 sparse and 8 labels/);
  writeFileSync(join(only, "day_0_labels.npy"), "not numpy");
  assert.throws(
    () => openTorchrecDays(only, nodeDataFiles),
    /day_0_labels\.npy: not a \.npy file NumPy's format describes: no \\x93NUMPY magic/,
  );
  const short = readFileSync(`${FIX}/day_0_labels.npy`).subarray(0, 150);
  writeFileSync(join(only, "day_0_labels.npy"), short);
  assert.throws(
    () => openTorchrecDays(only, nodeDataFiles),
    /day_0_labels\.npy: 150 bytes, but its header \(<i4, shape \(10, 1\)\) needs 168/,
  );
  assert.throws(() => openTorchrecDays(join(dir, "absent"), nodeDataFiles), /cannot read the folder/);
});

test("TorchrecNpySource: a step's rows by position, across day boundaries (fast-check)", async () => {
  const whole = new TorchrecNpySource(FIX, nodeDataFiles, { maxIndRange: 97 });
  const all = await whole.batch(0, 24);
  await whole.close();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.nat(12), fc.nat(23), async (B, step, from) => {
      const src = new TorchrecNpySource(FIX, nodeDataFiles, { maxIndRange: 97, rows: [from, 24] });
      const n = 24 - from;
      const start = from + (step % Math.ceil(n / B)) * B;
      const end = Math.min(24, start + B);
      const got = await src.batch(step, B);
      await src.close();
      sameRows(got, all, start, end);
    }),
    { numRuns: 60 },
  );
});

test.after(cleanup);
test.run();
