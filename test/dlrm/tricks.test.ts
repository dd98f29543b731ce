// The QR and MD tables of a DLRM (src/dlrm/tables/): parameter names and shapes (the
// reference's state_dict names), initial ranges, the md_solver widths (hand-computed),
// config checks (QR concat needs 2E and every table above the threshold), and the
// optimizers' sparse row updates on both QR halves.
//
// Glossary: n rows of a table, c collisions, E embedding dim, d an MD width.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { batchOf } from "../../src/data/batch.ts";
import { ConfigError, parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { isTableParameter } from "../../src/dlrm/tables/layout.ts";
import { parameterSpecs } from "../../src/dlrm/init.ts";
import { mdDims } from "../../src/dlrm/tables/md.ts";
import { interactionWidth } from "../../src/ops/interaction.ts";
import { makeOptimizer, optimizerSpec, type OptimizerName } from "../../src/optim/make.ts";
import { qrQuotient } from "../../src/ops/qr_embedding_bag.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { bagsDataset } from "../parallel/hybrid_helpers.ts";

function config(o: { tables: number[]; E: number; qr?: DLRMConfig["qr"]; md?: DLRMConfig["md"] }): DLRMConfig {
  const Ei = o.qr?.operation === "concat" ? 2 * o.E : o.E;
  return parseConfig({
    dense_features: 3,
    bottom_mlp: [3, 5, Ei],
    embedding_dim: o.E,
    table_sizes: o.tables,
    top_mlp: [interactionWidth(Ei, o.tables.length, "dot", false), 4, 1],
    ...(o.qr ? { qr: o.qr } : {}),
    ...(o.md ? { md: o.md } : {}),
  });
}

test("QR: tables above the threshold become weight_q (ceil(n/c), E) and weight_r (c, E), the others stay", () => {
  const c = config({ tables: [200, 201, 1000], E: 4, qr: { threshold: 200, collisions: 7, operation: "mult" } });
  const tables = parameterSpecs(c).filter((p) => p.name.startsWith("emb_l."));
  assert.equal(
    tables.map((p) => [p.name, p.shape]),
    [
      ["emb_l.0.weight", [200, 4]],
      ["emb_l.1.weight_q", [29, 4]],
      ["emb_l.1.weight_r", [7, 4]],
      ["emb_l.2.weight_q", [143, 4]],
      ["emb_l.2.weight_r", [7, 4]],
    ],
  );
  assert.ok(tables.every((p) => isTableParameter(p.name)));
  // The model's parameters are the specs, in the same order.
  const m = new DLRM(c, 1);
  assert.equal(
    m.namedParameters().map(([n, p]) => [n, [...p.shape]]),
    parameterSpecs(c).map((p) => [p.name, p.shape]),
  );
});

test("QR: both halves start in U(sqrt(1/n), 1), all positive (the reference's uniform_(w, sqrt(1/n))); a plain table in U(±sqrt(1/n))", () => {
  const c = config({ tables: [100, 5000], E: 8, qr: { threshold: 200, collisions: 4, operation: "add" } });
  const m = new DLRM(c, 9);
  const p = m.stateDict();
  const lo = Math.sqrt(1 / 5000);
  for (const name of ["emb_l.1.weight_q", "emb_l.1.weight_r"]) {
    const w = (p.get(name) as { data: Float32Array }).data;
    assert.ok(
      w.every((v) => v >= Math.fround(lo) && v < 1),
      `${name} in [${lo}, 1)`,
    );
    assert.ok(Math.min(...w) < lo + 0.05 && Math.max(...w) > 0.95, `${name} spans the range`);
  }
  const plain = (p.get("emb_l.0.weight") as { data: Float32Array }).data;
  assert.ok(plain.every((v) => Math.abs(v) <= 0.1) && plain.some((v) => v < 0), "plain table in ±sqrt(1/100)");
});

test("QR concat: the bottom MLP must end in 2E, and every table must be above the threshold", () => {
  const base = {
    dense_features: 3,
    embedding_dim: 4,
    table_sizes: [300, 400],
    top_mlp: [interactionWidth(8, 2, "dot", false), 1],
  };
  const qr = { threshold: 200, collisions: 4, operation: "concat" };
  assertThrows(
    () => parseConfig({ ...base, bottom_mlp: [3, 4], qr }),
    /field "bottom_mlp" must end with 2 × embedding_dim \(8\): QR "concat" joins two 4-wide halves/,
  );
  const ok = parseConfig({ ...base, bottom_mlp: [3, 8], qr });
  assert.is(ok.qr?.operation, "concat");
  assertThrows(
    () => parseConfig({ ...base, table_sizes: [300, 150], bottom_mlp: [3, 8], qr }),
    /QR "concat" needs every table above qr.threshold 200, but table 1 has 150 rows/,
  );
  assertThrows(
    () => parseConfig({ ...base, bottom_mlp: [3, 8], qr: { ...qr, operation: "sum" } }),
    /field "qr.operation" must be one of "mult", "add", "concat", got "sum"/,
  );
  assertThrows(
    () => parseConfig({ ...base, bottom_mlp: [3, 8], qr: { threshold: 1, collisions: 4 } }),
    /field "qr.operation" is missing/,
  );
  assert.throws(
    () => parseConfig({ ...base, bottom_mlp: [3, 8], qr, md: { threshold: 1, temperature: 0.3, round_dims: false } }),
    (e: unknown) => e instanceof ConfigError && /exclude each other/.test(e.message),
  );
});

test("md_solver: alpha-power widths, hand-computed", () => {
  // 16·(10/1000)^0.3 = 3.98 → 4; 16·(10/100000)^0.3 = 1.01 → 1; the smallest table gets E
  assert.equal(mdDims([10, 1000, 100000], 0.3, 16, false), [16, 4, 1]);
  // sorted by rows, the result in table order: 8·(50/200)^0.5 = 4
  assert.equal(mdDims([200, 50], 0.5, 8, false), [4, 8]);
  // 16·(10/300)^0.3 = 5.77 → 6; rounded to a power of 2: 2^round(log2 6) = 8
  assert.equal(mdDims([10, 300], 0.3, 16, false), [16, 6]);
  assert.equal(mdDims([10, 300], 0.3, 16, true), [16, 8]);
  // alpha 0: every table E
  assert.equal(mdDims([10, 300], 0, 16, false), [16, 16]);
});

test("MD: tables above the threshold get embs.weight (n, d) and proj.weight (E, d); at or below it a plain (n, E) table (what the reference means)", () => {
  const c = config({
    tables: [10, 1000, 100000, 16],
    E: 16,
    md: { threshold: 16, temperature: 0.3, round_dims: false },
  });
  const tables = parameterSpecs(c).filter((p) => p.name.startsWith("emb_l."));
  // widths from all four tables: the smallest (10) gets 16, 1000 → 16·(10/1000)^0.3 → 4, 100000 → 1
  assert.equal(
    tables.map((p) => [p.name, p.shape]),
    [
      ["emb_l.0.weight", [10, 16]],
      ["emb_l.1.embs.weight", [1000, 4]],
      ["emb_l.1.proj.weight", [16, 4]],
      ["emb_l.2.embs.weight", [100000, 1]],
      ["emb_l.2.proj.weight", [16, 1]],
      ["emb_l.3.weight", [16, 16]],
    ],
  );
  assert.ok(!isTableParameter("emb_l.1.proj.weight"), "the projection is a head parameter (dense, replicated)");
  const m = new DLRM(c, 2);
  assert.equal(
    m.namedParameters().map(([n]) => n),
    parameterSpecs(c).map((p) => p.name),
  );
  // Xavier-uniform projection: |w| <= sqrt(6 / (4 + 16))
  const proj = (m.stateDict().get("emb_l.1.proj.weight") as { data: Float32Array }).data;
  const a = Math.sqrt(6 / 20);
  assert.ok(proj.every((v) => Math.abs(v) <= a) && Math.max(...proj.map(Math.abs)) > a / 2);
  // the forward makes (B,) predictions
  const data = bagsDataset({
    n: 6,
    denseFeatures: 3,
    tableSizes: c.table_sizes,
    maxBag: 3,
    weighted: [false, false, false, false],
    seed: 1,
  });
  assert.is(m.forward(batchOf(data, 0, 6)).size, 6);
});

for (const kind of ["sgd", "adagrad", "rowwise-adagrad"] as const satisfies readonly OptimizerName[]) {
  test(`QR, ${kind}: the gradients of weight_q and weight_r are on the rows the batch looked up, and one step changes no other row`, () => {
    const n = 500;
    const cc = 6;
    // a second (plain) table: a sample whose bottom-MLP output is all zero (ReLU) still sends a gradient to table 0
    const c = config({ tables: [n, 50], E: 3, qr: { threshold: 100, collisions: cc, operation: "mult" } });
    const m = new DLRM(c, 4);
    const data = bagsDataset({
      n: 5,
      denseFeatures: 3,
      tableSizes: [n, 50],
      maxBag: 3,
      weighted: [false, false],
      seed: 3,
    });
    const before = new Map([...m.stateDict()].map(([k, t]) => [k, Float32Array.from(t.data)]));
    const opt = makeOptimizer(optimizerSpec(kind, 0.1), m.namedParameters());
    m.loss(batchOf(data, 0, 5)).loss.backward();
    opt.step();
    const ids = [...(data.sparse[0] as { indices: Int32Array }).indices];
    const touched = {
      "emb_l.0.weight_q": new Set(ids.map((i) => qrQuotient(i, cc))),
      "emb_l.0.weight_r": new Set(ids.map((i) => i % cc)),
    };
    for (const [name, rows] of Object.entries(touched)) {
      const param = m.stateDict().get(name) as {
        data: Float32Array;
        rowGrad: { ids: Int32Array } | null;
        grad: unknown;
      };
      assert.equal(
        [...(param.rowGrad?.ids ?? [])],
        [...rows].sort((a, b) => a - b),
        `${name}: row-sparse gradient`,
      );
      assert.is(param.grad, null, `${name}: no dense gradient`);
      const was = before.get(name) as Float32Array;
      const changed = new Set<number>();
      for (let i = 0; i < param.data.length; i++) if (param.data[i] !== was[i]) changed.add(Math.floor(i / 3));
      // a looked-up row whose gradient happens to be 0 (a sample behind a dead ReLU) may stay
      assert.ok(
        changed.size > 0 && [...changed].every((r) => rows.has(r)),
        `${name}: changed rows ${[...changed]} within ${[...rows]}`,
      );
    }
  });
}

test.run();
