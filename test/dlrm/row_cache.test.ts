// The row cache of tables on disk (src/dlrm/store/row_cache.ts) over records in memory: which
// row leaves (the farthest next use within the look-ahead, else the least recently used),
// what is read and written back (a flush in the file's order), and that the resident values
// always equal the records'.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { RowCache } from "../../src/dlrm/store/row_cache.ts";
import type { RowIO } from "../../src/dlrm/store/row_mover.ts";
import { withStepArena } from "../../src/tensor/storage.ts";

/** R records of F floats in memory; record r starts as r, r + 0.5, …; reads and writes logged. */
function memoryIO(R: number, F: number): RowIO & { data: Float32Array; reads: number[]; writes: number[] } {
  const data = new Float32Array(R * F);
  for (let r = 0; r < R; r++) for (let f = 0; f < F; f++) data[r * F + f] = r + f / 2;
  const reads: number[] = [];
  const writes: number[] = [];
  return {
    rows: R,
    recordFloats: F,
    data,
    reads,
    writes,
    read(row, into) {
      reads.push(row);
      into.set(data.subarray(row * F, (row + 1) * F));
    },
    write(row, from) {
      writes.push(row);
      data.set(from, row * F);
    },
  };
}

function cacheOf(io: RowIO, C: number): { cache: RowCache; w: Float32Array; s: Float32Array } {
  const cache = new RowCache(io, C, "table 0");
  const w = new Float32Array(C * 2);
  const s = new Float32Array(C);
  cache.attach([
    { data: w, perRow: 2 },
    { data: s, perRow: 1 },
  ]);
  return { cache, w, s };
}

const ids = (...x: number[]): Int32Array => Int32Array.from(x);

test("look-ahead evicts the row used farthest ahead; LRU the least recent; the batch's slots hold its rows", () => {
  withStepArena(() => {
    // 3 slots; batches: [0 1 2] [3] [0] [1] [2]. At batch 1 all three rows are resident and row 3 is missing.
    const batches = [ids(0, 1, 2), ids(3), ids(0), ids(1), ids(2)];
    for (const [k, wantEvicted] of [
      [4, 2],
      [0, 0],
    ] as const) {
      const io = memoryIO(10, 3);
      const { cache, w, s } = cacheOf(io, 3);
      const window = (b: number): Int32Array[] => batches.slice(b, b + 1 + k);
      const slots0 = cache.serve(window(0));
      assert.equal([...slots0], [0, 1, 2]);
      cache.serve(window(1));
      for (let b = 2; b < batches.length; b++) {
        const slots = cache.serve(window(b));
        const row = batches[b]?.[0] as number;
        const slot = slots[0] as number;
        assert.equal([w[2 * slot], w[2 * slot + 1], s[slot]], [row, row + 0.5, row + 1], `batch ${b}, k ${k}`);
      }
      // look-ahead: row 2 (used last) leaves for row 3 and is read again at batch 4: 5 reads;
      // LRU: row 0 leaves, is read at batch 2 (pushing out 1), then 1 (pushing out 2), then 2: 7 reads.
      assert.equal(io.reads, k === 4 ? [0, 1, 2, 3, 2] : [0, 1, 2, 3, 0, 1, 2], `reads with look-ahead ${k}`);
      assert.is(io.reads[4], wantEvicted === 2 ? 2 : 0);
      assert.is(cache.counts.hits, k === 4 ? 2 : 0); // rows 0 and 1 at batches 2 and 3
    }
  });
});

test("dirty rows are written back when they leave and at a flush, clean ones never", () => {
  withStepArena(() => {
    const io = memoryIO(6, 3);
    const { cache, w } = cacheOf(io, 2);
    const slots = cache.serve([ids(4, 5)]);
    w[2 * (slots[0] as number)] = 40; // row 4's first weight changes
    cache.markDirty(); // rows 4 and 5 are dirty
    cache.serve([ids(1)]); // one of them leaves (LRU: row 4, the first of the batch, is the least recent)
    assert.equal(io.writes, [4]);
    assert.is(io.data[4 * 3], 40);
    cache.flush();
    assert.equal(io.writes, [4, 5]);
    cache.flush();
    assert.equal(io.writes, [4, 5], "a flushed row is clean");
    assert.is(cache.counts.bytesWritten, 2 * 12);
  });
});

test("a flush writes the dirty rows in the file's order, whatever slots they hold", () => {
  withStepArena(() => {
    const io = memoryIO(20, 3);
    const { cache } = cacheOf(io, 6);
    cache.serve([ids(17, 3, 11, 0, 8)]); // slots 0..4 in this order
    cache.markDirty();
    cache.serve([ids(17, 11)]); // 17 and 11 stay dirty, nothing leaves
    cache.flush();
    assert.equal(io.writes, [0, 3, 8, 11, 17]);
  });
});

test("a batch with more distinct rows than slots is an error naming the table and the flag", () => {
  withStepArena(() => {
    const { cache } = cacheOf(memoryIO(6, 3), 2);
    assert.throws(
      () => cache.serve([ids(0, 1, 2)]),
      /table 0: the batch needs more distinct rows than the 2 the cache holds; raise --table-cache-bytes/,
    );
  });
});

test("read ahead: a missing row of the next batch takes a slot with no known use, and its use is no hit", () => {
  withStepArena(() => {
    const io = memoryIO(10, 3);
    const { cache, w } = cacheOf(io, 3);
    const batches = [ids(0, 1, 2), ids(0), ids(3), ids(0)];
    const window = (b: number): Int32Array[] => batches.slice(b, b + 3);
    cache.serve(window(0));
    cache.serve(window(1));
    cache.prefetch(window(1), 1);
    // batch 1 uses row 0, batch 2 row 3; rows 1 and 2 have no known use: 1, the least recent, leaves.
    assert.equal(io.reads, [0, 1, 2, 3], "row 3 is read while batch 1 is served");
    const slot = cache.serve(window(2))[0] as number;
    assert.is(w[2 * slot], 3);
    assert.equal(io.reads, [0, 1, 2, 3], "batch 2 reads nothing at its step");
    assert.equal([cache.counts.hits, cache.counts.reads, cache.counts.readAhead], [1, 4, 1]);
  });
});

test("read ahead never takes the slot of a row the step or a nearer batch needs: it stops", () => {
  withStepArena(() => {
    const io = memoryIO(10, 3);
    const { cache } = cacheOf(io, 3);
    // At batch 1 every resident row has a use in the window (0 now, 1 and 2 after row 3's batch).
    const batches = [ids(0, 1, 2), ids(0), ids(3), ids(1), ids(2)];
    const window = (b: number): Int32Array[] => batches.slice(b, b + 5);
    cache.serve(window(0));
    cache.serve(window(1));
    cache.prefetch(window(1), 4);
    assert.equal(io.reads, [0, 1, 2]);
    assert.is(cache.counts.readAhead, 0);
    cache.serve(window(2)); // row 3 read at its step, into row 0's slot (no use left)
    assert.equal(io.reads, [0, 1, 2, 3]);
    cache.prefetch(window(2), 4);
    for (let b = 3; b < batches.length; b++) cache.serve(window(b));
    assert.equal(io.reads, [0, 1, 2, 3], "rows 1 and 2 stayed");
  });
});

test("property: after any batches, read ahead or not, resident rows and records agree", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.integer({ min: 0, max: 29 }), { minLength: 0, maxLength: 6 }), {
        minLength: 1,
        maxLength: 30,
      }),
      fc.integer({ min: 6, max: 20 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      (batches, C, k, d) =>
        withStepArena(() => {
          const io = memoryIO(30, 3);
          const model = Float32Array.from(io.data); // what the records would be with every row in memory
          const { cache, w, s } = cacheOf(io, C);
          batches.forEach((b, i) => {
            const window = batches.slice(i, i + 1 + k).map((x) => Int32Array.from(x));
            const slots = cache.serve(window);
            cache.prefetch(window, d);
            cache.ready();
            b.forEach((row, l) => {
              const slot = slots[l] as number;
              assert.equal([w[2 * slot], w[2 * slot + 1], s[slot]], [...model.subarray(row * 3, row * 3 + 3)]);
            });
            for (const row of new Set(b)) {
              const slot = slots[b.indexOf(row)] as number;
              w[2 * slot] += 1; // the step updates its rows
              model[row * 3] += 1;
            }
            cache.markDirty();
          });
          cache.flush();
          assert.equal([...io.data], [...model]);
          const c = cache.counts;
          // a row read ahead and pushed out by a step before its use is read twice
          if (d === 0 || k === 0) assert.is(c.hits + c.reads, c.lookups);
          else assert.ok(c.hits + c.reads >= c.lookups);
          assert.ok(c.readAhead <= c.reads);
          assert.is(c.bytesRead, c.reads * 12);
        }),
    ),
    { numRuns: 200 },
  );
});

test.run();
