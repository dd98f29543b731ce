// Hybrid-parallel training (src/parallel/hybrid.ts) gives what single-thread training gives:
// the same initial model bit for bit for 1, 2 and 3 workers (each rank makes its own rows
// from the seed's counter-based streams); the same per-step losses and final parameters as
// the one-thread executor on a random model with tables of very different sizes (one split
// by rows across the ranks), bags of varied length including empty ones, per-sample
// weights, and a batch size that the worker count does not divide; and the golden PyTorch
// cases with 2 workers, their initial parameters read by the ranks from the file.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { readConfig } from "../../src/dlrm/config_file.ts";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { lookupsPerSampleOf, shardingPlan } from "../../src/parallel/plan.ts";
import { assertClose } from "../../src/testing/index.ts";
import { GOLDEN, goldenCases } from "../helpers/golden.ts";
import { bagsDataset, runOn, smallConfig } from "./hybrid_helpers.ts";

test("the initial model of a seed is the same bit for bit on this thread and on 1, 2 and 3 ranks (uneven row splits)", async () => {
  const tables = [2, 40, 3001, 11, 599];
  const config = smallConfig({ tables, E: 4, pooling: "sum", interaction: "dot" });
  const data = bagsDataset({
    n: 10,
    denseFeatures: 3,
    tableSizes: tables,
    maxBag: 2,
    weighted: [false, false, false, false, false],
    seed: 1,
  });
  const initial = (workers: number) =>
    runOn(workers, {
      config,
      source: { kind: "seed", seed: 77 },
      spec: optimizerSpec("adagrad", 0.1),
      data,
      batchSize: 5,
      steps: 0,
      shuffle: false,
      seed: 0,
    });
  const three = shardingPlan({ ranks: 3, embeddingDim: 4, tableSizes: tables });
  assert.ok((three.tables[2]?.shards.length ?? 0) > 1, "the 3001-row table is split by rows on 3 ranks");
  const here = await initial(0);
  for (const workers of [1, 2, 3]) {
    const got = await initial(workers);
    assert.equal([...got.tensors.keys()], [...here.tensors.keys()]);
    for (const [name, t] of here.tensors)
      assert.ok(
        Buffer.from((got.tensors.get(name) as Float32Array).buffer).equals(Buffer.from(t.buffer)),
        `${name} on ${workers} workers`,
      );
  }
});

test("2 workers = 1 thread over 50 steps: tables of 2 to 3000 rows (one split by rows), empty bags, weights, batch 7", async () => {
  const tables = [2, 40, 3000, 11, 600];
  const config = smallConfig({ tables, E: 4, pooling: "sum", interaction: "dot" });
  // 60 samples in batches of 7: eight full batches and one of 4 per epoch, reshuffled each epoch.
  const data = bagsDataset({
    n: 60,
    denseFeatures: 3,
    tableSizes: tables,
    maxBag: 4,
    weighted: [false, true, false, true, false],
    seed: 21,
  });
  const plan = shardingPlan({
    ranks: 2,
    embeddingDim: 4,
    tableSizes: tables,
    lookupsPerSample: lookupsPerSampleOf(data),
  });
  // The 3000-row table holds 48000 of the 58448 bytes, above one rank's share: split in two.
  assert.equal(
    plan.tables[2]?.shards.map((s) => [s.rank, s.rowStart, s.rowEnd]),
    [
      [0, 0, 1500],
      [1, 1500, 3000],
    ],
  );
  const common = {
    config,
    source: { kind: "seed" as const, seed: 7 },
    spec: optimizerSpec("sgd", 0.1),
    data,
    batchSize: 7,
    steps: 50,
    shuffle: true,
    seed: 9,
  };
  const r1 = await runOn(0, common);
  const r2 = await runOn(2, { ...common, plan });
  // Tolerance: float32 rounding. The ranks sum the loss per slice, the row ranges' partial
  // pooled sums are added after pooling, and the MLP gradient is a sum of two slices: each
  // a different association of the same float32 terms (~1e-7 relative), carried over 50
  // steps of SGD. Measured differences are ~1e-7; the bound leaves a margin of 10-20×.
  const tol = { atol: 2e-6, rtol: 1e-5 };
  assertClose(r2.losses, r1.losses, tol, "losses");
  for (const [name, p] of r1.params) assertClose(r2.params.get(name) ?? [], p, tol, name);
  // And the run did train: the parameters moved.
  const start = await runOn(0, { ...common, steps: 0 });
  const moved = r2.params.get("emb_l.2.weight") as Float32Array;
  assert.ok((start.params.get("emb_l.2.weight") as Float32Array).some((v, i) => v !== moved[i]));
});

for (const name of goldenCases(test, "hybrid golden parity")) {
  test(`golden ${name} with 2 workers: per-step losses and final weights match PyTorch`, async () => {
    const dir = join(GOLDEN, name);
    const config = readConfig(join(dir, "config.json"));
    const data = readBatchFile(join(dir, "batches.safetensors"));
    const result = await runOn(2, {
      config,
      source: { kind: "file", path: join(dir, "init.safetensors"), withOptimizer: false },
      spec: optimizerSpec("sgd", config.lr),
      data,
      batchSize: config.batch_size,
      steps: config.steps,
      shuffle: false,
      seed: 0,
    });
    const expected = new Map<string, Float32Array>();
    for (const [k, t] of readSafetensors(join(dir, "expected.safetensors")).tensors) expected.set(k, toFloat32(t, k));
    // Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.
    const TOL = { atol: 1e-4, rtol: 1e-3 };
    assertClose(result.losses, expected.get("loss") ?? [], TOL, "loss");
    for (const [param, p] of result.params) assertClose(p, expected.get(`final.${param}`) ?? [], TOL, `final.${param}`);
  });
}

test.run();
