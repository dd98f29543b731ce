// Hybrid-parallel training of QR, MD and learned-weighted-pooling models against the
// one-thread executor: the pieces of a table (QR's quotient and remainder tables) placed on
// different ranks and split by rows, QR concat's 2E-wide vectors, MD's narrower tables
// exchanged at their own width with the projection replicated in the head, the learned
// per-row pooling weights v_W_l.{t} split by the rows of their table; losses, parameters and
// optimizer state must agree.
//
// Glossary: n rows of a table, c collisions, E embedding dim.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { interactionWidth } from "../../src/ops/interaction.ts";
import { optimizerSpec, type OptimizerName } from "../../src/optim/make.ts";
import { modelShardingPlan } from "../../src/parallel/plan.ts";
import { assertClose } from "../../src/testing/index.ts";
import { bagsDataset, runOn } from "./hybrid_helpers.ts";

function config(
  tables: number[],
  E: number,
  tricks: Pick<DLRMConfig, "qr" | "md" | "weighted_pooling">,
  pooling: "sum" | "mean",
): DLRMConfig {
  const Ei = tricks.qr?.operation === "concat" ? 2 * E : E;
  return parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 8, Ei],
    embedding_dim: E,
    table_sizes: tables,
    pooling,
    top_mlp: [interactionWidth(Ei, tables.length, "dot", false), 6, 1],
    ...tricks,
  });
}

const cases: {
  name: string;
  workers: number;
  tables: number[];
  tricks: Pick<DLRMConfig, "qr" | "md" | "weighted_pooling">;
  pooling: "sum" | "mean";
  opt: OptimizerName;
}[] = [
  {
    name: "QR mult on 3 ranks, Adagrad",
    workers: 3,
    tables: [30, 5000, 900],
    tricks: { qr: { threshold: 100, collisions: 40, operation: "mult" } },
    pooling: "sum",
    opt: "adagrad",
  },
  {
    name: "QR add on 2 ranks, mean pooling, row-wise Adagrad",
    workers: 2,
    tables: [300, 40, 2000],
    tricks: { qr: { threshold: 100, collisions: 9, operation: "add" } },
    pooling: "mean",
    opt: "rowwise-adagrad",
  },
  {
    name: "QR concat on 3 ranks, SGD",
    workers: 3,
    tables: [300, 400, 4000],
    tricks: { qr: { threshold: 200, collisions: 4, operation: "concat" } },
    pooling: "sum",
    opt: "sgd",
  },
  {
    name: "MD on 3 ranks (widths 8, 3, 2 and a plain table), Adagrad",
    workers: 3,
    tables: [20, 500, 3000, 15],
    tricks: { md: { threshold: 16, temperature: 0.4, round_dims: false } },
    pooling: "sum",
    opt: "adagrad",
  },
  {
    name: "learned weighted pooling on 3 ranks (a table split by rows), SGD",
    workers: 3,
    tables: [30, 5000, 900],
    tricks: { weighted_pooling: "learned" },
    pooling: "sum",
    opt: "sgd",
  },
  {
    name: "learned weighted pooling on 2 ranks, mean pooling, row-wise Adagrad",
    workers: 2,
    tables: [300, 40, 2000],
    tricks: { weighted_pooling: "learned" },
    pooling: "mean",
    opt: "rowwise-adagrad",
  },
];

for (const c of cases) {
  test(`${c.name}: = train() on one thread`, async () => {
    const E = c.tricks.md ? 8 : 4;
    const cfg = config(c.tables, E, c.tricks, c.pooling);
    const plan = modelShardingPlan(cfg, { ranks: c.workers });
    if (c.tricks.qr) {
      // the point of the test: some QR table's halves sit on different ranks, or a half is split by rows
      const pieces = plan.tables;
      const apart = pieces.some(
        (q, i) => q.label.endsWith("weight_q") && q.shards[0]?.rank !== pieces[i + 1]?.shards[0]?.rank,
      );
      const split = pieces.some((p) => p.shards.length > 1);
      assert.ok(apart || split, "a QR table is spread over ranks");
    }
    if (c.tricks.weighted_pooling !== undefined)
      assert.ok(
        plan.tables.some((p) => p.shards.length > 1),
        "a table (and its pooling weights) is split by rows",
      );
    const data = bagsDataset({
      n: 37,
      denseFeatures: 3,
      tableSizes: c.tables,
      maxBag: 3,
      weighted: c.tables.map((_, t) => t === 1),
      seed: 5,
    });
    const spec = optimizerSpec(c.opt, c.opt === "sgd" ? 0.1 : 0.05);
    const common = {
      config: cfg,
      source: { kind: "seed" as const, seed: 7 },
      spec,
      data,
      batchSize: 6,
      steps: 12,
      shuffle: true,
      seed: 1,
    };
    const r1 = await runOn(0, common);
    const rN = await runOn(c.workers, common);
    const tol = { atol: 2e-6, rtol: 1e-5 }; // float32 rounding, as in hybrid_variants.test.ts
    assertClose(rN.losses, r1.losses, tol, "losses");
    assert.equal([...rN.tensors.keys()], [...r1.tensors.keys()]);
    for (const [name, t] of r1.tensors) assertClose(rN.tensors.get(name) ?? [], t, tol, name);
    // the reference's names are in the checkpoint
    const names = [...r1.params.keys()];
    if (c.tricks.qr)
      assert.ok(names.includes("emb_l.2.weight_q") && names.includes("emb_l.2.weight_r"), names.join(", "));
    if (c.tricks.md)
      assert.ok(names.includes("emb_l.1.embs.weight") && names.includes("emb_l.1.proj.weight"), names.join(", "));
    if (c.tricks.weighted_pooling !== undefined) {
      const vw = c.tables.map((_, t) => `v_W_l.${t}`);
      assert.ok(
        vw.every((n) => names.includes(n)),
        names.join(", "),
      );
      // trained: the weights left their initial ones (else the test would not see them move alike)
      const moved = (r1.params.get("v_W_l.2") as Float32Array).some((x) => x !== 1);
      assert.ok(moved, "v_W_l.2 changed from its ones");
      if (c.opt === "rowwise-adagrad")
        assert.ok(r1.tensors.has("optimizer.state.v_W_l.2.sum"), "a vector's state is the reference's sum");
    }
  });
}

test.run();
