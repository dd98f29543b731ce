import { test } from "uvu";
import * as assert from "uvu/assert";
import { DatasetSource, stepPlace } from "../../src/data/batch_source.ts";
import { selectSamples, sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { sameDataset } from "../helpers/datasets.ts";

// Glossary: N samples, B batch size, K batches per epoch.

/** N = 7 samples, one dense feature (its value is the sample number), one table of bags of 0–2 lookups. */
function numbered(): Dataset {
  const lengths = Int32Array.from([1, 0, 2, 1, 1, 2, 0]);
  const offsets = Int32Array.from([0, 1, 1, 3, 4, 5, 7, 7]);
  return {
    n: 7,
    denseFeatures: 1,
    dense: Float32Array.from([0, 1, 2, 3, 4, 5, 6]),
    labels: Float32Array.from([1, 0, 1, 0, 1, 0, 1]),
    sparse: [{ lengths, offsets, indices: Int32Array.from([10, 20, 21, 30, 40, 50, 51]), weights: null }],
  };
}

test("stepPlace: epochs of ⌈N/B⌉ batches, the last one short; endless data never wraps", () => {
  assert.equal(stepPlace(7, 0, 3, "t"), { epoch: 0, k: 0, start: 0, count: 3 });
  assert.equal(stepPlace(7, 2, 3, "t"), { epoch: 0, k: 2, start: 6, count: 1 });
  assert.equal(stepPlace(7, 3, 3, "t"), { epoch: 1, k: 0, start: 0, count: 3 });
  assert.equal(stepPlace(Infinity, 5, 4, "t"), { epoch: 0, k: 5, start: 20, count: 4 });
  assertThrows(() => stepPlace(7, -1, 3, "src"), /src: step must be a non-negative integer, got -1/);
  assertThrows(() => stepPlace(7, 0, 0, "src"), /src: the batch size must be a positive integer, got 0/);
  assertThrows(() => stepPlace(0, 0, 2, "src"), /src: the data has no samples/);
});

test("DatasetSource in file order: step s is samples [kB, (k+1)B) of epoch ⌊s/K⌋", async () => {
  const d = numbered();
  const src = new DatasetSource(d);
  sameDataset(await src.batch(0, 3), sliceDataset(d, 0, 3));
  sameDataset(await src.batch(2, 3), sliceDataset(d, 6, 7));
  sameDataset(await src.batch(4, 3), sliceDataset(d, 3, 6));
  assert.is(src.orderState(0), null);
});

test("DatasetSource shuffled: epoch e is the e-th Fisher–Yates draw of Rng(seed); any step order, and from a saved state", async () => {
  const d = numbered();
  const rng = new Rng(9);
  const orders = [0, 1, 2].map(() => rng.shuffle(Int32Array.from({ length: 7 }, (_, i) => i)));
  const src = new DatasetSource(d, { shuffle: true, seed: 9 });
  // Asked out of order, as prefetching across an epoch's end does.
  for (const step of [7, 0, 5, 2, 3, 8, 1]) {
    const e = Math.floor(step / 3);
    const k = step % 3;
    const rows = (orders[e] as Int32Array).subarray(k * 3, Math.min(7, k * 3 + 3));
    sameDataset(await src.batch(step, 3), selectSamples(d, rows));
  }
  const state = src.orderState(2);
  const resumed = new DatasetSource(d, { shuffle: true, seed: 1234, from: state });
  sameDataset(await resumed.batch(7, 3), await src.batch(7, 3));
  assertThrows(() => resumed.batchNow(0, 3), /epoch 0 is before epoch 2, where this order starts/);
});

test.run();
