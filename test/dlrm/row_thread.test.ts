// The reader thread of tables on disk (src/dlrm/store/row_thread.ts): a row cache over a real
// file whose reads ahead and write-backs run on the thread, into slot arrays in shared
// memory, against the same cache moving rows on this thread (SyncMover) and against the
// records kept in memory: the rows a batch sees, the rows moved and the file at the end are
// the same; and a read that fails on the thread is an error at the step, naming the file.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RowCache } from "../../src/dlrm/store/row_cache.ts";
import { RowFile } from "../../src/dlrm/store/row_file.ts";
import { SyncMover, type RowMover } from "../../src/dlrm/store/row_mover.ts";
import { ThreadMover } from "../../src/dlrm/store/row_thread.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { withStepArena } from "../../src/tensor/storage.ts";

const R = 400;
const F = 3; // two weights and one state float per record

/** Record r of a fresh file: r, r + 0.5, r + 1. */
function fill(first: number, into: Float32Array): void {
  for (let i = 0; i < into.length; i++) into[i] = first + Math.floor(i / F) + (i % F) / 2;
}

/** 120 batches of up to 12 ids, heavy-headed (row r drawn about 1/(r+1) of the time). */
function batches(seed: number): Int32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: 120 }, () =>
    Int32Array.from({ length: 1 + Math.floor(rng.uniform() * 12) }, () =>
      Math.min(R - 1, Math.floor(Math.exp(rng.uniform() * Math.log(R + 1))) - 1),
    ),
  );
}

/** Train the batches through a cache of C slots moved by mover; the rows seen, the counts, and the file's bytes after a flush. */
function run(dir: string, mover: RowMover, C: number, k: number, d: number, seed: number) {
  const file = RowFile.create(join(dir, `t-${seed}-${C}-${k}-${d}.rows`), R, F, fill);
  const model = new Float32Array(R * F);
  fill(0, model);
  const w = new Float32Array(new SharedArrayBuffer(C * 2 * 4));
  const s = new Float32Array(new SharedArrayBuffer(C * 4));
  const cache = new RowCache(file, C, "table 0");
  cache.attach(
    [
      { data: w, perRow: 2 },
      { data: s, perRow: 1 },
    ],
    mover,
    file,
  );
  const seen: number[] = [];
  const bs = batches(seed);
  try {
    withStepArena(() => {
      bs.forEach((b, i) => {
        const window = bs.slice(i, i + 1 + k);
        const slots = cache.serve(window);
        cache.prefetch(window, d);
        cache.ready();
        b.forEach((row, l) => {
          const slot = slots[l] as number;
          const got = [w[2 * slot], w[2 * slot + 1], s[slot]];
          const want = [...model.subarray(row * F, row * F + F)];
          assert.equal(got, want, `batch ${i}, row ${row}`);
          seen.push(got[0] as number);
        });
        for (const row of new Set(b)) {
          const slot = slots[b.indexOf(row)] as number;
          w[2 * slot] += 1; // the step updates its rows
          s[slot] += 0.25;
          model[row * F] += 1;
          model[row * F + 2] += 0.25;
        }
        cache.markDirty();
      });
      cache.flush();
    });
    mover.close();
    const bytes = readFileSync(file.path);
    assert.ok(bytes.equals(Buffer.from(model.buffer)), "the file after a flush holds the trained records");
    return { seen, counts: { ...cache.counts } };
  } finally {
    file.close();
  }
}

test("moves on the reader thread see and leave the same rows as moves on this thread", () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-rows-"));
  try {
    for (const [C, k, d] of [
      [20, 4, 1],
      [20, 4, 4],
      [12, 2, 2],
      [40, 0, 0],
    ] as const) {
      const onThread = run(dir, new ThreadMover(), C, k, d, 3);
      const here = run(dir, new SyncMover(), C, k, d, 3);
      assert.equal(onThread, here, `C ${C}, look-ahead ${k}, read ahead ${d}`);
      if (d > 0) assert.ok(onThread.counts.readAhead > 0, `rows were read ahead: ${JSON.stringify(onThread.counts)}`);
      assert.ok(onThread.counts.writes > 0 && onThread.counts.evictions > 0, JSON.stringify(onThread.counts));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a read that fails on the reader thread is an error at the step that needs the row, naming the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-rows-"));
  const file = RowFile.create(join(dir, "cut.rows"), R, F, fill);
  const mover = new ThreadMover();
  try {
    const cache = new RowCache(file, 8, "table 0");
    cache.attach(
      [
        { data: new Float32Array(new SharedArrayBuffer(8 * 2 * 4)), perRow: 2 },
        { data: new Float32Array(new SharedArrayBuffer(8 * 4)), perRow: 1 },
      ],
      mover,
      file,
    );
    truncateSync(file.path, 100 * F * 4); // rows 100 and on are gone
    withStepArena(() => {
      cache.serve([Int32Array.from([5])]);
      cache.ready();
      cache.serve([Int32Array.from([250])]);
      assert.throws(() => cache.ready(), /cut\.rows: the file ends before row 250 \(it was cut short\?\)/);
    });
  } finally {
    assert.throws(() => mover.close(), /the file ends before row 250/);
    file.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
