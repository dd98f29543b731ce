// Batch staging (src/parallel/batch_slots.ts): a staged batch reads back as the samples it was
// made from, in order — dense rows, labels, every table's bags and per-sample weights — for
// contiguous ranges and for shuffled rows, with bags of 0 to 4 lookups; a batch above the
// slot's capacity is refused; the coming batches' ids (tables on disk with look-ahead) read
// back as written, fewer near the end of the run.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { sliceDataset } from "../../src/data/dataset.ts";
import { aheadIds, slotViews, writeAheadIds, writeBatchSlot, batchSlotLayout } from "../../src/parallel/batch_slots.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { bagsDataset } from "./hybrid_helpers.ts";

test("writeBatchSlot: what a slot holds is the samples asked for, in order (ranges and shuffled rows)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 12 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 1e6 }),
      (n, Bmax, shuffled, seed) => {
        const tables = [7, 300, 2];
        const data = bagsDataset({
          n,
          denseFeatures: 3,
          tableSizes: tables,
          maxBag: 4,
          weighted: [false, true, false],
          seed,
        });
        const layout = batchSlotLayout([data], Bmax);
        const slot = slotViews(layout, new SharedArrayBuffer(layout.bytes));
        // two batches into the same slot: the second must not show anything of the first
        for (let k = 0; k < 2; k++) {
          const B = 1 + ((seed + k) % Math.min(Bmax, n));
          const start = (seed * 7 + k) % (n - B + 1);
          const rows = shuffled ? Int32Array.from({ length: B }, (_, i) => (seed * 31 + i * 17 + k) % n) : null;
          writeBatchSlot(slot, data, rows, start, B);
          const sample = (i: number): number => (rows === null ? start + i : (rows[i] as number));
          assert.is(slot.header[0], B);
          for (let i = 0; i < B; i++) {
            const s = sample(i);
            assert.equal(
              Array.from(slot.dense.subarray(i * 3, i * 3 + 3)),
              Array.from(data.dense.subarray(s * 3, s * 3 + 3)),
              `dense row ${i}`,
            );
            assert.is(slot.labels[i], data.labels[s], `label ${i}`);
          }
          data.sparse.forEach((f, t) => {
            const st = slot.tables[t];
            if (st === undefined) throw new Error(`no slot table ${t}`);
            assert.is(st.offsets[0], 0);
            assert.is(slot.header[1 + t], st.offsets[B], `L of table ${t}`);
            for (let i = 0; i < B; i++) {
              const s = sample(i);
              const a = f.offsets[s] as number;
              const b = f.offsets[s + 1] as number;
              const got = st.indices.subarray(st.offsets[i] as number, st.offsets[i + 1] as number);
              assert.equal(Array.from(got), Array.from(f.indices.subarray(a, b)), `table ${t}, bag ${i}`);
              if (f.weights !== null) {
                const w = st.weights?.subarray(st.offsets[i] as number, st.offsets[i + 1] as number);
                assert.equal(
                  Array.from(w ?? []),
                  Array.from(f.weights.subarray(a, b)),
                  `table ${t}, weights of bag ${i}`,
                );
              }
            }
          });
        }
      },
    ),
    { seed: 5101, numRuns: 60 },
  );
});

test("writeAheadIds: a slot's coming batches read back as their bags' ids, fewer than k marked absent", () => {
  const data = bagsDataset({
    n: 23,
    denseFeatures: 3,
    tableSizes: [9, 400],
    maxBag: 4,
    weighted: [false, true],
    seed: 7,
  });
  const layout = batchSlotLayout([data], 5, 3);
  const slot = slotViews(layout, new SharedArrayBuffer(layout.bytes));
  for (const starts of [[0, 5, 10], [15, 20], []]) {
    const batches = starts.map((s) => sliceDataset(data, s, Math.min(data.n, s + 5)));
    writeAheadIds(slot, batches);
    const got = aheadIds(slot);
    assert.is(got.length, batches.length);
    got.forEach((g, j) => {
      const d = batches[j] as (typeof batches)[number];
      d.sparse.forEach((f, t) => {
        const first = f.offsets[0] as number;
        const want = f.indices.subarray(first, f.offsets[d.n]);
        assert.equal([...(g.sparse[t]?.indices ?? [])], [...want], `batch ${j}, table ${t}`);
        assert.equal(
          [...(g.sparse[t]?.offsets ?? [])],
          [...f.offsets].map((o) => o - first),
        );
      });
    });
  }
});

test("writeBatchSlot: a batch larger than the slot is refused", () => {
  const data = bagsDataset({ n: 10, denseFeatures: 3, tableSizes: [5], maxBag: 2, weighted: [false], seed: 1 });
  const layout = batchSlotLayout([data], 4);
  const slot = slotViews(layout, new SharedArrayBuffer(layout.bytes));
  assertThrows(
    () => writeBatchSlot(slot, data, null, 0, 5),
    /writeBatchSlot: batch of 5 samples exceeds the slot capacity of 4/,
  );
});

test.run();
