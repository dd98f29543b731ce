// The MLPerf .bin and TorchRec .npy sources shuffled as batch files are (src/data/row_order.ts):
// each epoch's batches hold every row of the range once; a batch is the file's rows in the
// order RowOrder gives (blocks and windows, or the whole range when one window holds it);
// batches are a pure function of (seed, epoch, step): a fresh source asked for the steps in
// reverse (a resumed run) gives the same; epochs and seeds differ; withOrder's view is such a
// source and closes with its parent; shuffle false stays file order.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BatchSource } from "../../src/data/batch_source.ts";
import { selectSamples, type Dataset } from "../../src/data/dataset.ts";
import { MlperfBinFile, MlperfBinSource } from "../../src/data/mlperf_bin.ts";
import { RowOrder, type RowOrderOptions } from "../../src/data/row_order.ts";
import { TorchrecNpySource } from "../../src/data/torchrec_npy.ts";
import { sameDataset } from "../helpers/datasets.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

// Glossary: N rows of the range, B batch size, K batches per epoch.

const BIN = "test/fixtures/mlperf_bin/sample.bin";
const NPY = "test/fixtures/torchrec_npy";

interface Kind {
  name: string;
  /** The rows [from, N) of the file, in file order. */
  all(from: number): Promise<Dataset>;
  open(o: RowOrderOptions & { rows?: readonly [number, number] }): BatchSource & {
    withOrder(o: { shuffle: boolean; seed: number }): BatchSource;
  };
  rows: number;
}

const binRows = ((): number => {
  const f = new MlperfBinFile(BIN, nodeDataFiles);
  const n = f.n;
  f.close();
  return n;
})();
const npyRows = ((): number => {
  const s = new TorchrecNpySource(NPY, nodeDataFiles);
  const n = s.samplesPerEpoch;
  void s.close();
  return n;
})();

const kinds: Kind[] = [
  {
    name: "MLPerf .bin",
    rows: binRows,
    async all(from) {
      const f = new MlperfBinFile(BIN, nodeDataFiles, { maxIndRange: 7 });
      const d = f.read(from, f.n);
      f.close();
      return d;
    },
    open: (o) => new MlperfBinSource(BIN, nodeDataFiles, { maxIndRange: 7, ...o }),
  },
  {
    name: "TorchRec .npy",
    rows: npyRows,
    async all(from) {
      const s = new TorchrecNpySource(NPY, nodeDataFiles, { maxIndRange: 97, rows: [from, npyRows] });
      const d = await s.batch(0, npyRows - from);
      await s.close();
      return d;
    },
    open: (o) => new TorchrecNpySource(NPY, nodeDataFiles, { maxIndRange: 97, ...o }),
  },
];

/** One row's values as text, to compare rows as a multiset. */
function fingerprints(d: Dataset): string[] {
  return Array.from({ length: d.n }, (_, i) =>
    JSON.stringify([
      d.labels[i],
      Array.from(d.dense.subarray(i * d.denseFeatures, (i + 1) * d.denseFeatures)),
      d.sparse.map((f) => f.indices[i]),
    ]),
  );
}

async function epochBatches(src: BatchSource, epoch: number, B: number, steps?: number[]): Promise<Dataset[]> {
  const K = Math.ceil(src.samplesPerEpoch / B);
  const order = steps ?? Array.from({ length: K }, (_, k) => k);
  const got = new Map<number, Dataset>();
  for (const k of order) got.set(k, await src.batch(epoch * K + k, B));
  return Array.from({ length: K }, (_, k) => got.get(k) as Dataset);
}

for (const kind of kinds) {
  // Blocks of 3 rows, windows of 2 blocks: the windowed path; the defaults: one window holds the fixture.
  for (const shape of [{ blockRows: 3, windowBlocks: 2 }, {}]) {
    const what = `${kind.name}, ${"blockRows" in shape ? "blocks of 3 rows in windows of 2" : "one window"}`;
    test(`${what}: every epoch is a permutation of the range, the batches are RowOrder's rows of the file`, async () => {
      for (const from of [0, 5]) {
        const n = kind.rows - from;
        const all = await kind.all(from);
        for (const [seed, B] of [
          [1, 4],
          [9, 7],
        ] as const) {
          const o = { ...shape, shuffle: true, seed, rows: [from, kind.rows] as const };
          const src = kind.open(o);
          assert.is(src.samplesPerEpoch, n);
          const order = new RowOrder("expected", n, async () => all, o);
          for (const epoch of [0, 1]) {
            const batches = await epochBatches(src, epoch, B);
            const K = batches.length;
            batches.forEach((b, k) => sameDataset(b, selectSamples(all, order.rowsOf(epoch * K + k, B))));
            assert.equal(
              batches.flatMap(fingerprints).sort(),
              fingerprints(all).sort(),
              `epoch ${epoch}: each row once`,
            );
          }
          await src.close();
        }
      }
    });

    test(`${what}: a pure function of (seed, epoch, step): a fresh source asked in reverse gives the same batches`, async () => {
      const o = { ...shape, shuffle: true, seed: 4 };
      const a = kind.open(o);
      const b = kind.open(o);
      for (const epoch of [0, 2]) {
        const forward = await epochBatches(a, epoch, 5);
        const reverse = await epochBatches(b, epoch, 5, [...forward.keys()].reverse());
        forward.forEach((d, k) => sameDataset(reverse[k] as Dataset, d));
      }
      await a.close();
      await b.close();
    });
  }

  test(`${kind.name}: epochs and seeds give different orders; shuffle false is file order`, async () => {
    const all = await kind.all(0);
    const labelsOf = async (o: RowOrderOptions, epoch: number): Promise<string[]> => {
      const src = kind.open({ blockRows: 3, windowBlocks: 2, ...o });
      const rows = (await epochBatches(src, epoch, 6)).flatMap(fingerprints);
      await src.close();
      return rows;
    };
    const e0 = await labelsOf({ shuffle: true, seed: 3 }, 0);
    assert.not.equal(await labelsOf({ shuffle: true, seed: 3 }, 1), e0, "epoch 1 differs from epoch 0");
    assert.not.equal(await labelsOf({ shuffle: true, seed: 4 }, 0), e0, "seed 4 differs from seed 3");
    assert.not.equal(e0, fingerprints(all), "shuffled is not file order");
    assert.equal(await labelsOf({ shuffle: false, seed: 3 }, 1), fingerprints(all), "shuffle false: file order");
  });

  test(`${kind.name}: withOrder gives the shuffled source, which closes with its parent`, async () => {
    const parent = kind.open({});
    const view = parent.withOrder({ shuffle: true, seed: 8 });
    const direct = kind.open({ shuffle: true, seed: 8 });
    for (const step of [0, 3, 7]) sameDataset(await view.batch(step, 4), await direct.batch(step, 4));
    await direct.close();
    await parent.close();
    let message = "";
    await view.batch(0, 4).catch((e: Error) => (message = e.message));
    assert.match(message, /the source is closed/);
    await view.close(); // a second close is harmless
  });
}

test.run();
