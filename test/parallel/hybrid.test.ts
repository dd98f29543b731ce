// Hybrid-parallel training (src/parallel/hybrid.ts) gives what single-thread training gives:
// the same per-step losses and final parameters as train() (src/train/trainer.ts) on a
// random model with tables of very different sizes (one split by rows across the ranks),
// bags of varied length including empty ones, per-sample weights, and a batch size that the
// worker count does not divide; and the golden PyTorch case with 2 workers.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { loadCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { readConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { readSafetensors, toFloat32 } from "../../src/io/safetensors.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { trainHybrid } from "../../src/parallel/hybrid.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { train } from "../../src/train/trainer.ts";
import { assertClose } from "../../src/testing/index.ts";
import { GOLDEN, goldenCases } from "../helpers/golden.ts";
import { bagsDataset, smallConfig } from "./hybrid_helpers.ts";

test("2 workers = train() over 50 steps: tables of 2 to 3000 rows (one split by rows), empty bags, weights, batch 7", async () => {
  const tables = [2, 40, 3000, 11, 600];
  const config = smallConfig({ tables, E: 4, pooling: "sum", interaction: "dot" });
  // 60 samples in batches of 7: eight full batches and one of 4 per epoch, reshuffled each epoch.
  const data = bagsDataset({ n: 60, denseFeatures: config.dense_features, tableSizes: tables, maxBag: 4, weighted: [false, true, false, true, false], seed: 21 });
  const single = new DLRM(config, new Rng(7));
  const hybrid = new DLRM(config, new Rng(7));
  const common = { data, batchSize: 7, steps: 50, shuffle: true, seed: 9 };
  const r1 = train({ ...common, model: single, optimizer: new SGD(single.parameters(), { lr: 0.1 }) });
  const r2 = await trainHybrid({ ...common, model: hybrid, optimizer: new SGD(hybrid.parameters(), { lr: 0.1 }), workers: 2, timeoutMs: 20_000 });

  // The 3000-row table holds 48000 of the 58448 bytes, above one rank's share: split in two.
  assert.equal(r2.plan.tables[2]?.shards.map((s) => [s.rank, s.rowStart, s.rowEnd]), [[0, 0, 1500], [1, 1500, 3000]]);
  // Tolerance: float32 rounding. The ranks sum the loss per slice, the row ranges' partial
  // pooled sums are added after pooling, and the MLP gradient is a sum of two slices: each
  // a different association of the same float32 terms (~1e-7 relative), carried over 50
  // steps of SGD. Measured differences are ~1e-7; the bound leaves a margin of 10-20×.
  const tol = { atol: 2e-6, rtol: 1e-5 };
  assertClose(r2.losses, r1.losses, tol, "losses");
  const got = new Map(hybrid.namedParameters());
  for (const [name, p] of single.namedParameters()) assertClose(got.get(name)?.data ?? [], p.data, tol, name);
  // And the run did train: the parameters moved.
  const start = new DLRM(config, new Rng(7));
  assert.ok(start.emb_l.tables[2]?.weight.data.some((v, i) => v !== hybrid.emb_l.tables[2]?.weight.data[i]));
});

for (const name of goldenCases()) {
  test(`golden ${name} with 2 workers: per-step losses and final weights match PyTorch`, async () => {
    const dir = join(GOLDEN, name);
    const config = readConfig(join(dir, "config.json"));
    const model = new DLRM(config, new Rng(0));
    loadCheckpoint(join(dir, "init.safetensors"), model);
    const data = readBatchFile(join(dir, "batches.safetensors"));
    const result = await trainHybrid({
      model,
      optimizer: new SGD(model.parameters(), { lr: config.lr }),
      data,
      batchSize: config.batch_size,
      steps: config.steps,
      shuffle: false,
      seed: 0,
      workers: 2,
      timeoutMs: 20_000,
    });
    const expected = new Map<string, Float32Array>();
    for (const [k, t] of readSafetensors(join(dir, "expected.safetensors")).tensors) expected.set(k, toFloat32(t, k));
    // Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.
    const TOL = { atol: 1e-4, rtol: 1e-3 };
    assertClose(result.losses, expected.get("loss") ?? [], TOL, "loss");
    for (const [param, p] of model.namedParameters()) assertClose(p.data, expected.get(`final.${param}`) ?? [], TOL, `final.${param}`);
  });
}

test.run();
