// Learned weighted pooling in the model: the config field and what it refuses, the parameters
// v_W_l.{t} (R,) (ones at first, after the tables in the state_dict, as the reference's
// DLRM_Net registers them), a training step's effect on them under row-wise Adagrad (a
// first step moves each touched weight by lr·g/(|g| + eps), nearly ±lr, and leaves the others
// at one), and checkpoints: safetensors and .pt round trips with the optimizer state, in the
// reference's order of the state_dict and of the optimizer's parameters; a run resumed from
// a .pt on 2 workers ends where the run straight through does.
//
// Glossary: R rows of a table, lr learning rate, g a weight's gradient.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { batchOf } from "../../src/data/batch.ts";
import { randomDataset } from "../../src/data/random.ts";
import { checkpointFormat, readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { loadCheckpoint, runMetadata, saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { parameterSpecs } from "../../src/dlrm/init.ts";
import { makeOptimizer, optimizerSpec, stateArray, type OptimizerSpec } from "../../src/optim/make.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { caseTensors } from "../helpers/golden_case.ts";

const base = {
  dense_features: 3,
  bottom_mlp: [3, 4, 2],
  embedding_dim: 2,
  table_sizes: [7, 30],
  top_mlp: [5, 3, 1],
};
const learned: DLRMConfig = parseConfig({ ...base, weighted_pooling: "learned" }, "test");

test("config: fixed or learned; with QR or MD refused as the reference refuses it", () => {
  assert.is(parseConfig({ ...base, weighted_pooling: "fixed" }).weighted_pooling, "fixed");
  assert.is(parseConfig(base).weighted_pooling, undefined);
  assertThrows(
    () => parseConfig({ ...base, weighted_pooling: "none" }, "m.json"),
    /^m\.json: field "weighted_pooling" must be one of "fixed", "learned", got "none"$/,
  );
  assertThrows(
    () =>
      parseConfig(
        { ...base, weighted_pooling: "learned", qr: { threshold: 10, collisions: 2, operation: "mult" } },
        "m.json",
      ),
    /^m\.json: field "weighted_pooling" excludes "qr" \(the reference refuses quotient remainder with weighted pooling too\)$/,
  );
});

test("parameters: v_W_l.{t} (R_t,) of ones after the tables; fixed adds none", () => {
  const names = parameterSpecs(learned).map((p) => p.name);
  assert.equal(names.slice(-4), ["emb_l.0.weight", "emb_l.1.weight", "v_W_l.0", "v_W_l.1"]);
  const m = new DLRM(learned, 3);
  const sd = m.stateDict();
  assert.equal(sd.get("v_W_l.1")?.shape, [30]);
  assert.ok(Array.from(sd.get("v_W_l.0")?.data ?? []).every((x) => x === 1));
  const fixed = parseConfig({ ...base, weighted_pooling: "fixed" });
  assert.not.ok(
    parameterSpecs(fixed).some((p) => p.name.startsWith("v_W_l.")),
    "fixed weights are ones, not parameters",
  );
});

function data(n: number) {
  return randomDataset({
    n,
    denseFeatures: 3,
    tableSizes: learned.table_sizes,
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: false,
    seed: 4,
  });
}

test("row-wise Adagrad's first step: touched weights move by lr·g/(|g| + eps) (about ±lr), the others stay at one", () => {
  const m = new DLRM(learned, 5);
  const spec = optimizerSpec("rowwise-adagrad", 0.01);
  const opt = makeOptimizer(spec, m.namedParameters());
  const d = data(16);
  const batch = batchOf(d, 0, 16);
  m.loss(batch).loss.backward();
  const v = m.stateDict().get("v_W_l.1");
  assert.ok(v !== undefined);
  const rg = v.rowGrad;
  assert.ok(rg !== null && v.grad === null, "a row-sparse gradient");
  const touched = new Set(Array.from(d.sparse[1]?.indices ?? []));
  assert.equal(
    Array.from(rg.ids),
    [...touched].sort((a, b) => a - b),
  );
  const g = new Map(Array.from(rg.ids).map((id, u) => [id, rg.values[u] as number]));
  opt.step();
  for (let r = 0; r < 30; r++) {
    const gr = g.get(r);
    const want = gr === undefined ? 1 : Math.fround(1 - (0.01 * gr) / (Math.abs(gr) + 1e-10));
    assert.ok(Math.abs((v.data[r] as number) - want) <= 1e-7, `v_W_l.1[${r}] = ${v.data[r]}, want ${want}`);
  }
  // its state is element-wise (R,), as the reference's for a dense gradient
  const i = opt.params.indexOf(v);
  const acc = stateArray(opt, i, "sum");
  assert.is(acc.length, 30);
  for (const [r, gr] of g) assert.ok(Math.abs((acc[r] as number) - gr * gr) <= 1e-6 * gr * gr + 1e-30);
});

for (const ext of ["safetensors", "pt"] as const) {
  test(`checkpoint round trip (.${ext}) with Adagrad state: v_W_l.{t} and optimizer.state.v_W_l.{t}.sum`, async () => {
    const t = tempDir();
    try {
      const m = new DLRM(learned, 6);
      const spec: OptimizerSpec = optimizerSpec("adagrad", 0.05);
      const opt = makeOptimizer(spec, m.namedParameters());
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        m.loss(batchOf(data(16), 0, 16)).loss.backward();
        opt.step();
      }
      const path = join(t.dir, `m.${ext}`);
      const run = {
        seed: 6,
        step: 2,
        plannedSteps: 2,
        orderRng: null,
        batchSize: 16,
        shuffle: false,
        optimizer: spec,
        schedule: null,
        interrupted: false,
        flags: {},
      };
      await saveCheckpoint(path, m, runMetadata(learned, run), opt, spec, "F32", checkpointFormat(path));
      const names = [...readCheckpointIndex(path).entries.keys()];
      if (ext === "pt") {
        // DLRM_Net's state_dict (and parameters()) order: emb_l, v_W_l, bot_l, top_l
        const params = names.filter((n) => !n.startsWith("optimizer."));
        assert.equal(params.slice(0, 4), ["emb_l.0.weight", "emb_l.1.weight", "v_W_l.0", "v_W_l.1"]);
      }
      assert.ok(names.includes("optimizer.state.v_W_l.1.sum"), names.join(", "));
      const back = new DLRM(learned, 99);
      const opt2 = makeOptimizer(spec, back.namedParameters());
      loadCheckpoint(path, back, opt2, spec, checkpointFormat(path));
      const v = m.stateDict().get("v_W_l.1");
      const w = back.stateDict().get("v_W_l.1");
      assert.ok(v !== undefined && w !== undefined);
      assert.ok(
        Array.from(v.data).some((x) => x !== 1),
        "trained away from ones",
      );
      assert.equal(Array.from(w.data), Array.from(v.data));
      const i = opt.params.indexOf(v);
      const j = opt2.params.indexOf(w);
      assert.equal(Array.from(stateArray(opt2, j, "sum")), Array.from(stateArray(opt, i, "sum")));
    } finally {
      t.cleanup();
    }
  });
}

test("--resume from a .pt with learned pooling weights and row-wise Adagrad state, on 2 workers, = the run straight through there", async () => {
  const t = tempDir();
  try {
    const common = ["--data", "random", "--data-size", "512", "--batch-size", "32", "--weighted-pooling", "learned"];
    const run = async (args: string[]): Promise<void> => {
      const r = await runCli(["train", ...args]);
      assert.is(r.code, 0, r.stderr);
    };
    const half = join(t.dir, "half.pt");
    const resumed = join(t.dir, "resumed.safetensors");
    const straight = join(t.dir, "straight.safetensors");
    await run([...common, "--optimizer", "rowwise-adagrad", "--steps", "2", "--save", half]);
    await run(["--resume", half, "--steps", "4", "--workers", "2", "--save", resumed]);
    await run([...common, "--optimizer", "rowwise-adagrad", "--steps", "4", "--workers", "2", "--save", straight]);
    const a = caseTensors(resumed);
    const b = caseTensors(straight);
    assert.ok(a.has("optimizer.state.v_W_l.0.sum"));
    assert.equal([...a.keys()], [...b.keys()]);
    for (const [name, x] of b) assert.equal(Array.from(a.get(name) ?? []), Array.from(x), name);
  } finally {
    t.cleanup();
  }
});

test.run();
