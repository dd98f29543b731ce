// The sharding plan (src/parallel/plan.ts): every row of every table held by exactly one
// rank, the balance the greedy placement guarantees, row splitting of tables above a rank's
// share, capacity errors, and the printed table (worked out by hand below).

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import {
  formatShardingPlan,
  lookupsPerSampleOf,
  modelShardingPlan,
  shardingPlan,
  type ShardingPlan,
} from "../../src/parallel/plan.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { randomDataset } from "../../src/data/random.ts";
import { assertThrows } from "../../src/testing/index.ts";

const KAGGLE = [
  1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173,
  4, 7046547, 18, 15, 286181, 105, 142572,
];

/** Every table's shards cover its rows [0, R) in order, without overlap, on distinct ranks; totals add up. */
function checkCoverage(plan: ShardingPlan, sizes: readonly number[], E: number): void {
  let bytes = 0;
  sizes.forEach((R, t) => {
    const tp = plan.tables[t];
    assert.ok(tp !== undefined);
    let at = 0;
    const ranks = new Set<number>();
    for (const s of tp.shards) {
      assert.is(s.rowStart, at, `table ${t}: shards are contiguous`);
      assert.ok(s.rowEnd > s.rowStart, `table ${t}: no empty shard`);
      assert.ok(s.rank >= 0 && s.rank < plan.ranks);
      assert.ok(!ranks.has(s.rank), `table ${t}: its row ranges sit on distinct ranks`);
      ranks.add(s.rank);
      at = s.rowEnd;
      assert.ok(plan.perRank[s.rank]?.shards.includes(s), `table ${t}: listed under rank ${s.rank}`);
    }
    assert.is(at, R, `table ${t}: all rows held`);
    bytes += R * E * 4;
  });
  assert.is(
    plan.perRank.reduce((a, r) => a + r.bytes, 0),
    bytes,
  );
  assert.is(
    plan.perRank.reduce((a, r) => a + r.shards.length, 0),
    plan.tables.reduce((a, t) => a + t.shards.length, 0),
  );
}

test("Kaggle tables on 2 ranks: no table above the share, each whole on one rank, bytes and lookups near half each", () => {
  const plan = shardingPlan({ ranks: 2, embeddingDim: 16, tableSizes: KAGGLE });
  checkCoverage(plan, KAGGLE, 16);
  assert.ok(plan.tables.every((t) => t.shards.length === 1 && t.shards[0]?.whole === true));
  const total = KAGGLE.reduce((a, b) => a + b, 0) * 64;
  // Greedy largest-first bound: no rank exceeds its share by more than the largest table
  // it could have taken last; here, much tighter in practice. Lookups: 13 ± 1 each.
  for (const r of plan.perRank) {
    assert.ok(r.bytes <= total / 2 + 10131227 * 64, `rank ${r.rank} bytes ${r.bytes}`);
    assert.ok(Math.abs(r.lookupsPerSample - 13) <= 1, `rank ${r.rank} lookups ${r.lookupsPerSample}`);
  }
});

test("Kaggle tables on 4 ranks: the 10.1M-row table (618 MiB > the 515 MiB share) is split in two row ranges", () => {
  const plan = shardingPlan({ ranks: 4, embeddingDim: 16, tableSizes: KAGGLE });
  checkCoverage(plan, KAGGLE, 16);
  const split = plan.tables.filter((t) => t.shards.length > 1).map((t) => t.table);
  assert.equal(split, [2]); // 10131227·64 B = 648.4 MB > 2.164 GB / 4 = 541 MB; 8351593·64 B = 534.5 MB is not
  const t2 = plan.tables[2]?.shards ?? [];
  assert.equal(
    t2.map((s) => [s.rowStart, s.rowEnd]),
    [
      [0, 5065613],
      [5065613, 10131227],
    ],
  );
  assert.equal(
    t2.map((s) => s.lookupsPerSample),
    [5065613 / 10131227, 5065614 / 10131227],
  );
});

test("one table, 3 ranks: three row ranges, one per rank", () => {
  const plan = shardingPlan({ ranks: 3, embeddingDim: 2, tableSizes: [10] });
  assert.equal(
    plan.tables[0]?.shards.map((s) => [s.rank, s.rowStart, s.rowEnd]),
    [
      [0, 0, 3],
      [1, 3, 6],
      [2, 6, 10],
    ],
  );
});

test("a table with fewer rows than ranks above the share: one row per range, never an empty range", () => {
  const plan = shardingPlan({ ranks: 3, embeddingDim: 1, tableSizes: [1, 2] });
  assert.equal(
    plan.tables.map((t) => t.shards.map((s) => [s.rowStart, s.rowEnd])),
    [
      [[0, 1]],
      [
        [0, 1],
        [1, 2],
      ],
    ],
  );
});

test("property: coverage always holds, and no rank exceeds the share by more than the largest shard (bytes)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5000 })), {
        minLength: 1,
        maxLength: 12,
      }),
      (N, sizes) => {
        // Tiny tables too (1–3 rows), where a split could produce empty ranges.
        const plan = shardingPlan({ ranks: N, embeddingDim: 3, tableSizes: sizes });
        checkCoverage(plan, sizes, 3);
        const total = sizes.reduce((a, b) => a + b, 0) * 12;
        const largest = Math.max(...plan.tables.flatMap((t) => t.shards.map((s) => s.bytes)));
        for (const r of plan.perRank)
          assert.ok(r.bytes <= total / N + largest, `rank ${r.rank}: ${r.bytes} > ${total / N} + ${largest}`);
      },
    ),
    { seed: 17, numRuns: 60 },
  );
});

test("no rank limit by default: a rank holds past 4 GiB, but a shard no more than one table memory", () => {
  // 6 GiB of tables on 1 rank: two 3 GiB tables, each fits a memory (3.75 GiB); the rank holds both
  const G = 1024 ** 3;
  const plan = shardingPlan({ ranks: 1, embeddingDim: 256, tableSizes: [(3 * G) / 1024, (3 * G) / 1024] });
  assert.equal(plan.perRank[0].bytes, 6 * G);
  assert.is(plan.maxBytesPerRank, Infinity);
  // a 5 GiB table is cut into row ranges of at most a memory, on as many ranks: 2 ranges on 2 ranks
  const split = shardingPlan({ ranks: 2, embeddingDim: 256, tableSizes: [(5 * G) / 1024, 16] });
  assert.equal(
    split.tables[0].shards.map((s) => s.rank),
    [0, 1],
  );
  // ... and on 1 rank it cannot be: the error names the table and the memory's size
  assertThrows(
    () => shardingPlan({ ranks: 1, embeddingDim: 256, tableSizes: [(5 * G) / 1024] }),
    /^sharding plan: table 0 \(5242880 rows × 256, 5\.0 GiB\) does not fit on 1 rank in row ranges of at most 3\.8 GiB \(one wasm memory holds a range\)$/,
  );
  // maxBytesPerShard sets that size
  const small = shardingPlan({ ranks: 3, embeddingDim: 1, tableSizes: [100], maxBytesPerShard: 150 });
  assert.is(small.tables[0].shards.length, 3);
  // ... counted with the optimizer state a range keeps beside it in its memory: 3 GiB of
  // weights fit a memory, with Adagrad's accumulators (6 GiB) they take 2 ranges
  const weights = { ranks: 2, embeddingDim: 256, tableSizes: [(3 * G) / 1024, (3 * G) / 1024] };
  assert.is(shardingPlan(weights).tables[0].shards.length, 1);
  assert.is(shardingPlan({ ...weights, memoryPerRow: [2048, 2048] }).tables[0].shards.length, 2);
});

test("modelShardingPlan with the optimizer: a range's bytes in memory are its rows' and their state's", () => {
  // two tables of 3 GiB of weights on 2 ranks: each fits a memory alone, not with Adagrad's accumulators
  const config = parseConfig({
    dense_features: 2,
    bottom_mlp: [2, 256],
    embedding_dim: 256,
    table_sizes: [3 * 1024 ** 2, 3 * 1024 ** 2],
    top_mlp: [259, 1],
  });
  assert.is(modelShardingPlan(config, { ranks: 2 }).tables[0].shards.length, 1);
  assert.is(modelShardingPlan(config, { ranks: 2, optimizer: optimizerSpec("sgd", 0.1) }).tables[0].shards.length, 1);
  assert.is(
    modelShardingPlan(config, { ranks: 2, optimizer: optimizerSpec("adagrad", 0.1) }).tables[0].shards.length,
    2,
  );
});

test("modelShardingPlan with the optimizer: each rank's wasm memories, as the rank places its shards, printed", () => {
  // 4 tables of 100 MiB of weights (row-wise Adagrad: + 400 KiB a table) on 1 rank under a cap of
  // 250 MiB a memory: two tables a memory
  const config = parseConfig({
    dense_features: 2,
    bottom_mlp: [2, 256],
    embedding_dim: 256,
    table_sizes: [102400, 102400, 102400, 102400],
    top_mlp: [266, 1],
  });
  const before = process.env.DLRM_TABLE_MEMORY_BYTES;
  process.env.DLRM_TABLE_MEMORY_BYTES = String(250 * 1024 ** 2);
  try {
    const plan = modelShardingPlan(config, { ranks: 1, optimizer: optimizerSpec("rowwise-adagrad", 0.1) });
    // 400 KiB of accumulators take a 416 KiB block (8 size classes per power of two: steps of 32 KiB)
    const twoTables = 2 * (100 * 1024 ** 2 + 416 * 1024);
    assert.equal(plan.perRank[0].memories, [twoTables, twoTables]);
    assert.match(formatShardingPlan(plan), /wasm memories\n {3}0 .* 200\.8 MiB \+ 200\.8 MiB\n$/);
    assert.is(modelShardingPlan(config, { ranks: 1 }).perRank[0].memories, undefined);
  } finally {
    if (before === undefined) delete process.env.DLRM_TABLE_MEMORY_BYTES;
    else process.env.DLRM_TABLE_MEMORY_BYTES = before;
  }
});

test("a rank limit: tables split further to fit, or an error naming the rank", () => {
  // Two tables of 100 rows × 1 × 4 B = 400 B each; 2 ranks of 300 B: each table is split
  // in two (200 B per range), and each rank still holds 400 B > 300 B.
  assertThrows(
    () => shardingPlan({ ranks: 2, embeddingDim: 1, tableSizes: [100, 100], maxBytesPerRank: 300 }),
    /^sharding plan: rank 0 would hold 400 B of tables, more than its 300 B; use more ranks or smaller tables$/,
  );
  assertThrows(
    () => shardingPlan({ ranks: 1, embeddingDim: 1, tableSizes: [100], maxBytesPerRank: 300 }),
    /^sharding plan: table 0 \(100 rows × 1, 400 B\) does not fit on 1 ranks of at most 300 B each$/,
  );
  const plan = shardingPlan({ ranks: 2, embeddingDim: 1, tableSizes: [100, 100], maxBytesPerRank: 400 });
  assert.equal(
    plan.perRank.map((r) => r.bytes),
    [400, 400],
  );
  assertThrows(
    () => shardingPlan({ ranks: 0, embeddingDim: 1, tableSizes: [1] }),
    /ranks must be a positive integer, got 0/,
  );
  assertThrows(() => shardingPlan({ ranks: 2, embeddingDim: 1, tableSizes: [1, 0] }), /table 1 has 0 rows/);
  assertThrows(
    () => shardingPlan({ ranks: 2, embeddingDim: 1, tableSizes: [1, 2], lookupsPerSample: [1] }),
    /lookupsPerSample has 1 entries for 2 tables/,
  );
});

test("formatShardingPlan: the printed table, worked out by hand", () => {
  // Tables of 10, 1000, 50 rows, dim 4: 160 B, 16000 B, 800 B; share 8480 B. Table 1 is
  // above it: two ranges of 500 rows (8000 B, 0.5 lookups each) on ranks 0 and 1. Then
  // table 0 (ties go to rank 0) and table 2 (rank 1 keeps the larger fraction at 0.52
  // against 0.83 for rank 0, whose lookups would reach 2.5 of 3).
  const plan = shardingPlan({ ranks: 2, embeddingDim: 4, tableSizes: [10, 1000, 50] });
  const expected = [
    "Sharding plan: 3 tables of dim 4 on 2 ranks (4 bytes per value)",
    "",
    "table   rows      size  lookups/sample  rank  rows held",
    "    0     10     160 B            1.00     0  all",
    "    1  1,000  15.6 KiB            1.00     0  [0, 500)",
    "                                           1  [500, 1,000)",
    "    2     50     800 B            1.00     1  all",
    "",
    "rank  tables  row ranges     size  lookups/sample",
    "   0       1           1  8.0 KiB            1.50",
    "   1       1           1  8.6 KiB            1.50",
    "",
  ].join("\n");
  assert.fixture(formatShardingPlan(plan), expected);
});

test("learned weighted pooling: each row's weight counts in its table's bytes, (E + 1) values a row", () => {
  const model = (weighted: boolean) =>
    parseConfig({
      dense_features: 2,
      bottom_mlp: [2, 4],
      embedding_dim: 4,
      table_sizes: [100, 3000],
      top_mlp: [7, 1],
      ...(weighted ? { weighted_pooling: "learned" } : {}),
    });
  const plain = modelShardingPlan(model(false), { ranks: 2 });
  const learned = modelShardingPlan(model(true), { ranks: 2 });
  assert.equal(
    plain.tables.map((t) => t.bytes),
    [100 * 4 * 4, 3000 * 4 * 4],
  );
  assert.equal(
    learned.tables.map((t) => t.bytes),
    [100 * 5 * 4, 3000 * 5 * 4],
  );
  // the width exchanged per sample stays E: the weights never travel
  assert.equal(
    learned.tables.map((t) => t.dim),
    [4, 4],
  );
  const split = learned.tables[1]?.shards ?? [];
  assert.equal(
    split.map((s) => s.bytes),
    split.map((s) => (s.rowEnd - s.rowStart) * 5 * 4),
  );
});

test("lookupsPerSampleOf: mean bag length per table", () => {
  const d = randomDataset({
    n: 4,
    denseFeatures: 1,
    tableSizes: [5, 5],
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: true,
    seed: 1,
  });
  assert.equal(lookupsPerSampleOf(d), [3, 3]);
});

test.run();
