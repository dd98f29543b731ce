// The table store's figures of a 2-rank run with its tables in files (HybridExecutor with a
// store, CMD_STORE_FIGURES): each rank reports what its own shards' cache did, and the figures
// agree with what the batches' ids alone say. With a cache that holds every row of a rank's
// shards, in one pass over data whose ids the test made:
//   lookups    = Σ over steps and shards of the batch's distinct ids in the shard's rows
//   rows read  = the distinct ids the pass touched in the shard's rows (each read once, never evicted)
//   hits       = lookups − rows read (a row read for a batch is not a hit of it)
//   read ahead = rows read − the first batch's distinct ids (every later row is read during
//                the step before its own: prefetch 1)
//   written    = 0 before a save; after it, the rows read (every one served a training step,
//                so is dirty, and the save writes it back once)
// A run with its tables in memory reports no store.
//
// Glossary: N ranks, B batch, E embedding dim.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import type { Dataset } from "../../src/data/dataset.ts";
import type { TableStoreOptions } from "../../src/dlrm/store/disk_tables.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { HybridExecutor } from "../../src/parallel/hybrid.ts";
import { modelShardingPlan, type Shard } from "../../src/parallel/plan.ts";
import type { StoreFigures } from "../../src/parallel/protocol.ts";
import { train } from "../../src/train/trainer.ts";
import { tempDir } from "../helpers/cli.ts";
import { bagsDataset, smallConfig } from "./hybrid_helpers.ts";

const TABLES = [600, 100, 80, 40];
const E = 4;
const B = 20;
const STEPS = 10; // 200 samples: one pass, batch s = samples [s·B, (s+1)·B)
const config = smallConfig({ tables: TABLES, E, pooling: "sum", interaction: "dot" });
const data = bagsDataset({
  n: B * STEPS,
  denseFeatures: 3,
  tableSizes: TABLES,
  maxBag: 6,
  weighted: TABLES.map(() => false),
  seed: 23,
});
const spec = optimizerSpec("sgd", 0.1);
// 600 rows of 16 bytes do not fit in 7,000 bytes: table 0 is split between the ranks.
const plan = modelShardingPlan(config, { ranks: 2, maxBytesPerRank: 7_000 });

/** The distinct ids of the shard's table in samples [from, to) that fall in its rows. */
function distinctIn(
  d: Dataset,
  shard: Pick<Shard, "table" | "rowStart" | "rowEnd">,
  from: number,
  to: number,
): Set<number> {
  const { offsets, indices } = d.sparse[shard.table] as Dataset["sparse"][number];
  const ids = new Set<number>();
  for (let l = offsets[from] as number; l < (offsets[to] as number); l++) {
    const id = indices[l] as number;
    if (id >= shard.rowStart && id < shard.rowEnd) ids.add(id);
  }
  return ids;
}

/** What a rank's store must report, from its shards and the batches' ids alone. */
function expected(shards: readonly Shard[]): Partial<StoreFigures> {
  let lookups = 0;
  let reads = 0;
  let first = 0;
  for (const shard of shards) {
    for (let s = 0; s < STEPS; s++) lookups += distinctIn(data, shard, s * B, (s + 1) * B).size;
    reads += distinctIn(data, shard, 0, data.n).size;
    first += distinctIn(data, shard, 0, B).size;
  }
  const fileBytes = shards.reduce((a, s) => a + (s.rowEnd - s.rowStart) * E * 4, 0);
  return { lookups, reads, hits: lookups - reads, readAhead: reads - first, evictions: 0, fileBytes };
}

/** 2 ranks of the plan, with their tables in files (store) or in memory (null). */
function start(store: TableStoreOptions | null): Promise<HybridExecutor> {
  return HybridExecutor.start({
    config,
    workers: 2,
    optimizer: spec,
    source: { kind: "seed", seed: 7 },
    datasets: [data],
    maxBatch: B,
    timeoutMs: 30_000,
    plan,
    store,
  });
}

function assertFigures(got: StoreFigures, want: Partial<StoreFigures>, what: string): void {
  for (const [k, v] of Object.entries(want))
    assert.is(got[k as keyof StoreFigures], v, `${what}: ${k} (${JSON.stringify(got)})`);
}

test("2 ranks, tables in files behind a cache that holds them: each rank's figures are what its shards' ids say, before and after a save", async () => {
  assert.ok(
    plan.perRank.every((rp) => rp.shards.some((s) => !s.whole)),
    "the plan splits table 0 between the ranks",
  );
  const t = tempDir();
  const executor = await start({ dir: t.dir, cacheBytes: 1 << 20, lookAhead: 4 });
  try {
    await train({ executor, data, batchSize: B, steps: STEPS, shuffle: false, seed: 1, lr: spec.lr });
    const trained = await executor.storeFigures();
    assert.ok(trained !== null && trained.length === 2);
    await executor.save(join(t.dir, "end.safetensors"), {});
    const saved = await executor.storeFigures();
    assert.ok(saved !== null && saved.length === 2);
    let lookups = 0;
    plan.perRank.forEach((rp, r) => {
      const want = expected(rp.shards);
      const reads = want.reads as number;
      assert.ok(reads > 0 && (want.readAhead as number) > 0, `rank ${r}: the data exercises reads ahead`);
      assertFigures(
        trained[r] as StoreFigures,
        { ...want, writes: 0, bytesRead: reads * E * 4, prefetch: 1 },
        `rank ${r}`,
      );
      assertFigures(
        saved[r] as StoreFigures,
        { ...want, writes: reads, bytesWritten: reads * E * 4 },
        `rank ${r} after the save`,
      );
      lookups += (trained[r] as StoreFigures).lookups;
    });
    // The ranks' shards cover every table: together they asked for each batch's distinct ids of every table.
    let whole = 0;
    TABLES.forEach((rows, table) => {
      for (let s = 0; s < STEPS; s++)
        whole += distinctIn(data, { table, rowStart: 0, rowEnd: rows }, s * B, (s + 1) * B).size;
    });
    assert.is(lookups, whole);
  } finally {
    await executor.close();
    t.cleanup();
  }
});

test("2 ranks, tables in memory: no store to report", async () => {
  const executor = await start(null);
  try {
    assert.is(await executor.storeFigures(), null);
  } finally {
    await executor.close();
  }
});

test.run();
