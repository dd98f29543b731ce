// The streamed batch file (src/data/batch_file_source.ts): in file order it gives the batches
// the in-memory source gives, bit for bit, over any row range, from files with and without a
// block index; shuffled, each epoch is a permutation of the range built from blocks and
// windows, a pure function of (seed, epoch) whatever order the steps are asked in; bad values
// are one-line errors naming the file, the tensor and the value.
import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { BatchFileSource } from "../../src/data/batch_file_source.ts";
import { DatasetSource } from "../../src/data/batch_source.ts";
import { BatchFileWriter } from "../../src/data/batch_writer.ts";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { randomDataset } from "../../src/data/random.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { datasetArb, sameDataset } from "../helpers/datasets.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";
import { openFds } from "../helpers/cli.ts";

// Glossary: N rows, [s, e) the range read, B batch size, G index block rows, R shuffle block rows, W blocks per window.

const dir = mkdtempSync(join(tmpdir(), "dlrm-stream-"));
let fileNo = 0;
const freshPath = (): string => join(dir, `s${fileNo++}.safetensors`);

/** d written whole (no block index), or in chunks of `chunk` rows with a block index of G rows. */
function write(d: Dataset, how: { chunk: number; G: number } | null): string {
  const path = freshPath();
  if (how === null) writeBatchFile(path, d);
  else {
    const w = new BatchFileWriter(
      path,
      { denseFeatures: d.denseFeatures, tables: d.sparse.length },
      { blockRows: how.G },
    );
    for (let a = 0; a < d.n; a += how.chunk) w.append(sliceDataset(d, a, Math.min(d.n, a + how.chunk)));
    w.finish();
  }
  return path;
}

test("in file order, every step's batch is the in-memory source's, bit for bit, over any range, with or without an index", async () => {
  await fc.assert(
    fc.asyncProperty(
      datasetArb.filter((d) => d.n > 0),
      fc.option(fc.record({ chunk: fc.integer({ min: 1, max: 4 }), G: fc.integer({ min: 1, max: 3 }) })),
      fc.integer({ min: 1, max: 4 }),
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      async (d, how, B, [u, v]) => {
        const s = Math.min(Math.floor(u * d.n), d.n - 1);
        const e = s + 1 + Math.floor(v * (d.n - s - 1));
        const src = await BatchFileSource.open(write(d, how), nodeDataFiles, { rows: [s, e] });
        try {
          const mem = new DatasetSource(sliceDataset(d, s, e));
          assert.is(src.samplesPerEpoch, e - s);
          const steps = 2 * Math.ceil((e - s) / B) + 1; // into a third epoch
          for (let step = steps - 1; step >= 0; step--) sameDataset(await src.batch(step, B), mem.batchNow(step, B));
        } finally {
          await src.close();
        }
      },
    ),
    { seed: 77, numRuns: 60 },
  );
});

/** N rows whose dense feature 0 is the row number (to tell rows apart). */
function numberedRows(n: number): Dataset {
  const d = randomDataset({
    n,
    denseFeatures: 2,
    tableSizes: [50, 3],
    numIndicesPerLookup: 2,
    numIndicesPerLookupFixed: false,
    seed: 3,
  });
  for (let i = 0; i < n; i++) d.dense[2 * i] = i;
  return d;
}

async function epochRows(src: BatchFileSource, epoch: number, B: number, steps: number[]): Promise<number[]> {
  const K = Math.ceil(src.samplesPerEpoch / B);
  const byStep = new Map<number, number[]>();
  for (const k of steps) {
    const b = await src.batch(epoch * K + k, B);
    byStep.set(
      k,
      Array.from({ length: b.n }, (_, i) => b.dense[2 * i] as number),
    );
  }
  return Array.from({ length: K }, (_, k) => byStep.get(k) as number[]).flat();
}

test("shuffled: each epoch is a permutation of the range from blocks and windows, a pure function of (seed, epoch)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 5 }),
      async (n, R, W, B, s) => {
        const d = numberedRows(n + s);
        const path = write(d, { chunk: 16, G: 4 });
        const o = { rows: [s, s + n] as const, shuffle: true, seed: 11, blockRows: R, windowBlocks: W };
        const a = await BatchFileSource.open(path, nodeDataFiles, o);
        const b = await BatchFileSource.open(path, nodeDataFiles, o);
        try {
          const K = Math.ceil(n / B);
          const forward = Array.from({ length: K }, (_, k) => k);
          const e0 = await epochRows(a, 0, B, forward);
          const e1 = await epochRows(a, 1, B, forward);
          // the same order from a fresh source asked backwards, epoch 1 first
          assert.equal(await epochRows(b, 1, B, [...forward].reverse()), e1);
          assert.equal(await epochRows(b, 0, B, [...forward].reverse()), e0);
          const range = Array.from({ length: n }, (_, i) => s + i);
          assert.equal(
            [...e0].sort((x, y) => x - y),
            range,
            "epoch 0 is a permutation of the range",
          );
          assert.equal(
            [...e1].sort((x, y) => x - y),
            range,
            "epoch 1 is a permutation of the range",
          );
          // windows: from each window's start, the rows of its W blocks (whole), then the next window
          const blockOf = (row: number): number => Math.floor((row - s) / R);
          const sizeOf = (blk: number): number => Math.min(R, n - blk * R);
          for (let i = 0; i < n;) {
            const blocks = new Set<number>();
            for (let j = i; j < n && blocks.size < W; j++) blocks.add(blockOf(e0[j] as number));
            const size = [...blocks].reduce((acc, blk) => acc + sizeOf(blk), 0);
            const inWindow = new Set(e0.slice(i, i + size).map(blockOf));
            assert.equal([...inWindow].sort(), [...blocks].sort(), `the window at position ${i}`);
            i += size;
          }
        } finally {
          await a.close();
          await b.close();
        }
      },
    ),
    { seed: 5, numRuns: 50 },
  );
});

test("shuffled, a range one window holds gives the in-memory source's shuffled batches, bit for bit, in every epoch", async () => {
  await fc.assert(
    fc.asyncProperty(
      datasetArb.filter((d) => d.n > 0),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 1000 }),
      fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      fc.boolean(),
      async (d, B, seed, [u, v], tight) => {
        const s = Math.min(Math.floor(u * d.n), d.n - 1);
        const e = s + 1 + Math.floor(v * (d.n - s - 1));
        // the default window (131,072 rows), or one of exactly the range's rows
        const o = tight ? { blockRows: 1, windowBlocks: e - s } : {};
        const src = await BatchFileSource.open(write(d, { chunk: 3, G: 2 }), nodeDataFiles, {
          rows: [s, e],
          shuffle: true,
          seed,
          ...o,
        });
        try {
          const mem = new DatasetSource(sliceDataset(d, s, e), { shuffle: true, seed });
          const steps = 3 * Math.ceil((e - s) / B); // three epochs, asked last step first
          for (let step = steps - 1; step >= 0; step--) {
            sameDataset(await src.batch(step, B), mem.batchNow(step, B));
            const epoch = Math.floor(step / Math.ceil((e - s) / B));
            const start = (step % Math.ceil((e - s) / B)) * B;
            const rows = Array.from(mem.orderOf(epoch).subarray(start, start + B), (i) => s + i);
            assert.equal(Array.from(src.rowsOf(step, B)), rows, `rowsOf(${step}, ${B})`);
          }
        } finally {
          await src.close();
        }
      },
    ),
    { seed: 91, numRuns: 60 },
  );
});

test("shuffling mixes: two seeds give different orders, epochs differ, and rows move across blocks", async () => {
  const n = 4000;
  const path = write(numberedRows(n), { chunk: 1000, G: 64 });
  const open = (seed: number) =>
    BatchFileSource.open(path, nodeDataFiles, { shuffle: true, seed, blockRows: 100, windowBlocks: 8 });
  const [a, b] = [await open(1), await open(2)];
  const e0 = await epochRows(
    a,
    0,
    256,
    Array.from({ length: 16 }, (_, k) => k),
  );
  const e1 = await epochRows(
    a,
    1,
    256,
    Array.from({ length: 16 }, (_, k) => k),
  );
  const other = await epochRows(
    b,
    0,
    256,
    Array.from({ length: 16 }, (_, k) => k),
  );
  const same = (x: number[], y: number[]): number => x.filter((r, i) => y[i] === r).length;
  assert.ok(
    same(e0, e1) < 40 && same(e0, other) < 40,
    `orders coincide at ${same(e0, e1)} and ${same(e0, other)} of ${n}`,
  );
  // a batch of 256 mixes rows of several blocks
  const firstBatch = new Set(e0.slice(0, 256).map((r) => Math.floor(r / 100)));
  assert.ok(firstBatch.size >= 6, `the first batch draws from ${firstBatch.size} blocks`);
  await a.close();
  await b.close();
});

test("views share the open file, which closes with the last of them; the longest bags come from the index or the scan", async () => {
  const d = numberedRows(10);
  const longest = d.sparse.map((f) => Math.max(...Array.from(f.lengths)));
  for (const how of [null, { chunk: 3, G: 4 }]) {
    const src = await BatchFileSource.open(write(d, how), nodeDataFiles);
    assert.equal(src.bags.longest, longest);
    assert.equal(src.bags.weighted, [false, false]);
    const a = src.view({ rows: [2, 7] });
    const b = a.withOrder({ shuffle: true, seed: 1 });
    await src.close();
    sameDataset(await a.batch(0, 5), sliceDataset(d, 2, 7));
    await a.close();
    await rejects(a.batch(0, 5), /the source is closed$/);
    assert.is((await b.batch(0, 5)).n, 5, "the file stays open for the last view");
    await b.close();
  }
});

test("bad values in the file are one line naming the file, the tensor, the position and the value", async () => {
  const base = {
    dense: { dtype: "F32" as const, shape: [3, 1], data: Float32Array.from([1, 2, 3]) },
    labels: { dtype: "F32" as const, shape: [3], data: Float32Array.from([0, 1, 0]) },
    "lengths.0": { dtype: "I32" as const, shape: [3], data: Int32Array.from([1, 1, 1]) },
    "indices.0": { dtype: "I64" as const, shape: [3], data: BigInt64Array.from([0n, -4n, 2n]) },
  };
  const negative = freshPath();
  writeSafetensors(negative, base);
  const src = await BatchFileSource.open(negative, nodeDataFiles);
  await rejects(src.batch(0, 3), /s\d+\.safetensors: indices\.0: index -4 at position 1 is negative$/);
  await src.close();
  const huge = freshPath();
  writeSafetensors(huge, {
    ...base,
    "indices.0": { ...base["indices.0"], data: BigInt64Array.from([0n, 1n, 2n ** 40n]) },
  });
  const h = await BatchFileSource.open(huge, nodeDataFiles);
  await rejects(h.batch(0, 3), /indices\.0: value 1099511627776 at position 2 does not fit in int32$/);
  await h.close();
  const short = freshPath();
  writeSafetensors(short, { ...base, "lengths.0": { ...base["lengths.0"], data: Int32Array.from([1, 2, 1]) } });
  const before = openFds();
  await rejects(BatchFileSource.open(short, nodeDataFiles), /indices\.0: has 3 values but lengths\.0 sum to 4$/);
  assert.equal(openFds(), before, "a file that fails its checks is closed");
});

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    assert.not.ok(msg.includes("\n"), "one line");
    assert.match(msg, pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
