// Hybrid-parallel training against the one-thread executor on the other paths of the step: mean pooling over
// a table split by rows (the partial sums must add up to the mean), cat interaction, Adagrad,
// row-wise Adagrad and Adam state kept by each table's owner, the mse loss, self-interaction, a
// rank whose slice of the batch is empty (batch 2 on 3 ranks), and one rank alone; and the
// main thread's side: a learning-rate schedule and evaluations every testFreq steps, while
// it issues each step before the previous one has finished.

import { test } from "uvu";
import * as assert from "uvu/assert";
import type { DLRMConfig } from "../../src/dlrm/config.ts";
import { parameterSpecs } from "../../src/dlrm/init.ts";
import { optimizerSpec, type OptimizerName, type OptimizerSpec } from "../../src/optim/make.ts";
import { HybridExecutor, ParallelError } from "../../src/parallel/hybrid.ts";
import { shardingPlan } from "../../src/parallel/plan.ts";
import { batchSlice } from "../../src/parallel/protocol.ts";
import { assertClose } from "../../src/testing/index.ts";
import { bagsDataset, runOn, smallConfig } from "./hybrid_helpers.ts";

// Adagrad decays every other parameter (MLP layers and tables, the split one included): the
// ranks get the decay by parameter name and must apply it to their replicas and shards alike.
function make(kind: OptimizerName, config: DLRMConfig): OptimizerSpec {
  const everyOther = Object.fromEntries(parameterSpecs(config).map((p, i) => [p.name, i % 2 === 0 ? 0.05 : 0]));
  return kind === "adagrad"
    ? optimizerSpec(kind, 0.05, { weightDecay: everyOther })
    : optimizerSpec(kind, kind === "sgd" ? 0.1 : kind === "adam" ? 0.01 : 0.05);
}

const cases = [
  {
    name: "3 ranks, mean pooling over a table split in 3, Adagrad with weight decay, batch 7",
    workers: 3,
    tables: [5, 900, 30],
    pooling: "mean",
    interaction: "dot",
    opt: "adagrad",
    batch: 7,
    steps: 20,
  },
  {
    name: "3 ranks, batch 2 (rank 2 has no samples), row-wise Adagrad, mse, dot with self",
    workers: 3,
    tables: [50, 8, 400, 3],
    pooling: "sum",
    interaction: "dot",
    self: true,
    loss: "mse",
    opt: "rowwise-adagrad",
    batch: 2,
    steps: 20,
  },
  {
    name: "2 ranks, Adam (row-wise on the tables, one split by rows, weighted bags), batch 6",
    workers: 2,
    tables: [7, 600, 40],
    pooling: "sum",
    interaction: "dot",
    opt: "adam",
    batch: 6,
    steps: 20,
  },
  {
    name: "3 ranks, cat interaction, weights everywhere, SGD, batch 10",
    workers: 3,
    tables: [64, 64, 2000],
    pooling: "mean",
    interaction: "cat",
    opt: "sgd",
    batch: 10,
    steps: 15,
  },
  {
    name: "1 rank, SGD, batch 5",
    workers: 1,
    tables: [10, 300],
    pooling: "sum",
    interaction: "dot",
    opt: "sgd",
    batch: 5,
    steps: 15,
  },
] as const;

for (const c of cases) {
  test(`${c.name}: = train()`, async () => {
    const config = smallConfig({
      tables: [...c.tables],
      E: 3,
      pooling: c.pooling,
      interaction: c.interaction,
      ...("self" in c ? { self: c.self } : {}),
      ...("loss" in c ? { loss: c.loss } : {}),
    });
    const weighted = c.tables.map((_, t) => c.interaction === "cat" || t === 1);
    const data = bagsDataset({ n: 41, denseFeatures: 3, tableSizes: c.tables, maxBag: 3, weighted, seed: 4 });
    const common = {
      config,
      source: { kind: "seed" as const, seed: 3 },
      spec: make(c.opt, config),
      data,
      batchSize: c.batch,
      steps: c.steps,
      shuffle: true,
      seed: 2,
    };
    const r1 = await runOn(0, common);
    const r2 = await runOn(c.workers, common);
    // Tolerance: float32 rounding, as in hybrid.test.ts (different association of the same
    // sums: per-slice losses, partial sums of row ranges, 1/|bag| folded into weights).
    const tol = { atol: 2e-6, rtol: 1e-5 };
    assertClose(r2.losses, r1.losses, tol, "losses");
    // The optimizer state too (Adagrad's sums, row-wise Adagrad's per-row momentum, Adam's moments): the ranks' checkpoint holds it.
    assert.equal([...r2.tensors.keys()], [...r1.tensors.keys()]);
    for (const [name, t] of r1.tensors) assertClose(r2.tensors.get(name) ?? [], t, tol, name);
  });
}

test("3 ranks where rank 2 holds no table (a hand-made plan): = train()", async () => {
  const tables = [30, 200];
  const config = smallConfig({ tables, E: 3, pooling: "sum", interaction: "dot" });
  const two = shardingPlan({ ranks: 2, embeddingDim: 3, tableSizes: tables });
  const plan = { ...two, ranks: 3, perRank: [...two.perRank, { rank: 2, shards: [], bytes: 0, lookupsPerSample: 0 }] };
  const data = bagsDataset({
    n: 20,
    denseFeatures: 3,
    tableSizes: tables,
    maxBag: 3,
    weighted: [false, false],
    seed: 6,
  });
  const common = {
    config,
    source: { kind: "seed" as const, seed: 3 },
    spec: optimizerSpec("sgd", 0.1),
    data,
    batchSize: 7,
    steps: 8,
    shuffle: false,
    seed: 0,
  };
  const r1 = await runOn(0, common);
  const r2 = await runOn(3, { ...common, plan });
  const tol = { atol: 2e-6, rtol: 1e-5 }; // float32 rounding, as above
  assertClose(r2.losses, r1.losses, tol, "losses");
  for (const [name, p] of r1.params) assertClose(r2.params.get(name) ?? [], p, tol, name);
});

test("2 ranks with an lr schedule and an evaluation every 3 steps: the same lrs, losses, evaluations and weights as train()", async () => {
  const tables = [40, 700];
  const config = smallConfig({ tables, E: 3, pooling: "sum", interaction: "dot" });
  const data = bagsDataset({
    n: 45,
    denseFeatures: 3,
    tableSizes: tables,
    maxBag: 3,
    weighted: [false, true],
    seed: 8,
  });
  const evalData = bagsDataset({
    n: 30,
    denseFeatures: 3,
    tableSizes: tables,
    maxBag: 3,
    weighted: [false, true],
    seed: 9,
  });
  // warm-up over 3 steps, then polynomial decay from step 5 over 6 steps: the lr changes every step
  const common = {
    config,
    source: { kind: "seed" as const, seed: 5 },
    spec: optimizerSpec("adagrad", 0.05),
    schedule: { warmupSteps: 3, decayStartStep: 5, numDecaySteps: 6 },
    data,
    evalData,
    testFreq: 3,
    batchSize: 6,
    steps: 13,
    shuffle: true,
    seed: 4,
  };
  const one = await runOn(0, common);
  const two = await runOn(2, common);
  assert.equal(two.lrs, one.lrs, "the lr of every step"); // the same schedule arithmetic: exact
  assert.equal(
    two.evals.map((e) => e.step),
    [3, 6, 9, 12, 13],
  );
  assert.equal(
    one.evals.map((e) => e.step),
    [3, 6, 9, 12, 13],
  );
  const tol = { atol: 2e-6, rtol: 1e-5 }; // float32 rounding, as above
  assertClose(two.losses, one.losses, tol, "losses");
  assertClose(
    two.evals.map((e) => e.logloss),
    one.evals.map((e) => e.logloss),
    tol,
    "eval logloss",
  );
  for (const [name, t] of one.tensors) assertClose(two.tensors.get(name) ?? [], t, tol, name);
});

test("the largest table of the first case is split over all three ranks", () => {
  const plan = shardingPlan({ ranks: 3, embeddingDim: 3, tableSizes: [5, 900, 30] });
  assert.equal(plan.tables[1]?.shards.map((s) => s.rank).sort(), [0, 1, 2]);
});

test("batchSlice: the first B mod N ranks take one sample more; slices tile [0, B)", () => {
  assert.equal(
    [0, 1, 2].map((q) => batchSlice(7, 3, q)),
    [
      [0, 3],
      [3, 5],
      [5, 7],
    ],
  );
  assert.equal(
    [0, 1, 2].map((q) => batchSlice(2, 3, q)),
    [
      [0, 1],
      [1, 2],
      [2, 2],
    ],
  );
});

test("bad options are refused before any thread starts", async () => {
  const config = smallConfig({ tables: [4, 4], E: 2, pooling: "sum", interaction: "dot" });
  const data = bagsDataset({
    n: 8,
    denseFeatures: 3,
    tableSizes: [4, 4],
    maxBag: 2,
    weighted: [false, false],
    seed: 1,
  });
  const base = {
    config,
    optimizer: optimizerSpec("sgd", 0.1),
    source: { kind: "seed" as const, seed: 1 },
    datasets: [data],
    maxBatch: 4,
  };
  const rejects = async (p: Promise<unknown>, pattern: RegExp): Promise<void> => {
    try {
      await p;
      assert.unreachable("should reject");
    } catch (e) {
      assert.ok(e instanceof ParallelError, String(e));
      assert.match(e.message, pattern);
    }
  };
  await rejects(HybridExecutor.start({ ...base, workers: 0 }), /^hybrid: workers must be a positive integer, got 0$/);
  await rejects(
    HybridExecutor.start({
      ...base,
      workers: 2,
      plan: shardingPlan({ ranks: 3, embeddingDim: 2, tableSizes: [4, 4] }),
    }),
    /the sharding plan is for 3 ranks, not 2/,
  );
  await rejects(
    HybridExecutor.start({ ...base, workers: 2, maxBatch: 0 }),
    /the largest batch must be a positive integer, got 0/,
  );
  const other = bagsDataset({
    n: 8,
    denseFeatures: 3,
    tableSizes: [4, 4, 4],
    maxBag: 2,
    weighted: [false, false, false],
    seed: 1,
  });
  await rejects(
    HybridExecutor.start({ ...base, workers: 2, datasets: [other] }),
    /the data has 3 sparse features but the model has 2 tables/,
  );
});

test.run();
