// The run recipe (src/run/recipe.ts): the optimizer's per-table weight decay reaches every piece
// of a table by its parameter name, the model of real data is the data's own or its family's,
// the training loss a checkpoint records is the mean of the last 100 losses, and a 1-worker
// executor is this thread's model, read from a checkpoint when one is given.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { BUILTIN_MODELS, movielensModel } from "../../src/data/sources/builtin_models.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import type { SourceData } from "../../src/data/sources/registry.ts";
import { builtinOptimizer, dataModel, openExecutor, runOptimizer, trailingLoss } from "../../src/run/recipe.ts";
import { LocalExecutor } from "../../src/train/local.ts";

const SIZES = [943, 1682, 2, 7, 21, 795, 72, 19]; // MovieLens-100K's tables, MOVIELENS_TABLES order

test("builtinOptimizer: MovieLens's decay 3e-3 on the side tables, none on user and item rows", () => {
  const spec = builtinOptimizer(movielensModel(SIZES, 3));
  if (spec.kind !== "adagrad") throw new Error(`adagrad expected, got ${spec.kind}`);
  assert.equal(spec.initialAccumulator, 3e-6);
  assert.equal(spec.weightDecay, {
    "emb_l.0.weight": 0,
    "emb_l.1.weight": 0,
    "emb_l.2.weight": 3e-3,
    "emb_l.3.weight": 3e-3,
    "emb_l.4.weight": 3e-3,
    "emb_l.5.weight": 3e-3,
    "emb_l.6.weight": 3e-3,
    "emb_l.7.weight": 3e-3,
  });
});

test("runOptimizer: a table split by the QR trick decays both its halves; no decay gives none", () => {
  const config = parseConfig(
    {
      ...defaultConfig(),
      table_sizes: [10, 100],
      top_mlp: [19, 1], // E = 16 and the 3 pairwise dots of the bottom output and 2 tables
      qr: { threshold: 50, collisions: 4, operation: "mult" },
    },
    "test",
  );
  const spec = runOptimizer(config, "adagrad", 0.1, { initialAccumulator: 0, tableWeightDecay: [0.5, 0.25] });
  if (spec.kind !== "adagrad") throw new Error("adagrad expected");
  assert.equal(spec.weightDecay, { "emb_l.0.weight": 0.5, "emb_l.1.weight_q": 0.25, "emb_l.1.weight_r": 0.25 });
  const plain = runOptimizer(config, "adagrad", 0.1, { initialAccumulator: 0, tableWeightDecay: null });
  assert.equal(plain.kind === "adagrad" ? plain.weightDecay : null, {});
});

test("dataModel: the data's own model first, else its family's built-in one, else none", () => {
  const source = (o: Partial<SourceData>): SourceData => ({
    family: null,
    train: { n: 0, denseFeatures: 3, dense: new Float32Array(0), labels: new Float32Array(0), sparse: [] },
    eval: null,
    tableSizes: SIZES,
    tableNames: null,
    dictionary: null,
    notes: {},
    ...o,
  });
  assert.is(dataModel(null), null);
  assert.is(dataModel(source({})), null);
  assert.equal(dataModel(source({ family: "movielens" }))?.config, BUILTIN_MODELS.movielens(SIZES, 3).config);
  assert.is(dataModel(source({ family: "movielens" }))?.ensemble, 5);
  const own = { ...movielensModel(SIZES, 3), epochs: 9 };
  assert.is(dataModel(source({ family: "movielens", model: own })), own);
});

test("trailingLoss: the mean of the last 100 losses; NaN without any", () => {
  const losses = Array.from({ length: 150 }, (_, i) => (i < 50 ? 100 : i % 2)); // the last 100: fifty 0s, fifty 1s
  assert.is(trailingLoss(losses), 0.5);
  assert.is(trailingLoss([2, 4]), 3);
  assert.ok(Number.isNaN(trailingLoss([])));
});

test("openExecutor with 1 worker: this thread's model of the seed, and the checkpoint's loader called on it", async () => {
  const config = defaultConfig();
  const spec = runOptimizer(config, "sgd", 0.1, { initialAccumulator: 0, tableWeightDecay: null });
  const loaded: string[] = [];
  const e = await openExecutor({
    config,
    spec,
    workers: 1,
    seed: 7,
    checkpoint: {
      index: { path: "x.safetensors", fileBytes: 0, dataStart: 0, entries: new Map(), metadata: {} },
      withOptimizer: false,
      load: (m) => loaded.push(m.config === config ? "model" : "?"),
    },
    data: [],
    maxBatch: 16,
  });
  try {
    assert.ok(e instanceof LocalExecutor);
    assert.equal(loaded, ["model"]);
    assert.is(e.spec, spec);
  } finally {
    await e.close();
  }
});

test.run();
