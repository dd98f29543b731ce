// A rank's training step in this thread (one rank, its collectives with itself): once steady,
// a step with Adagrad and weight decay (on the head and on a table) allocates no typed array
// and no block of wasm memory. The optimizer's temporaries (g + wd·w) come from the step
// arena, its state lives beside its parameters: nothing a step makes outlives it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/dlrm/config.ts";
import { randomDataset } from "../../src/data/random.ts";
import { kernelSet } from "../../src/kernels/index.ts";
import { defaultHeap } from "../../src/kernels/memory.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { createCommBuffers } from "../../src/parallel/collectives.ts";
import { modelShardingPlan } from "../../src/parallel/plan.ts";
import { controlWords, numberWords, SLOTS, type RankInit } from "../../src/parallel/protocol.ts";
import { Rank } from "../../src/parallel/rank.ts";
import { slotViews, writeBatchSlot, batchSlotLayout } from "../../src/parallel/batch_slots.ts";
import { countTypedArrays } from "../helpers/typed_arrays.ts";

test("a steady hybrid step with weight decay allocates nothing: no typed array, no wasm block", async () => {
  const config = parseConfig({
    dense_features: 4,
    bottom_mlp: [4, 8, 4],
    embedding_dim: 4,
    table_sizes: [20, 7, 30],
    interaction: "dot",
    top_mlp: [10, 6, 1],
    optimizer: "adagrad",
    lr: 0.1,
    batch_size: 16,
  });
  const B = 16;
  const data = randomDataset({
    n: 64,
    denseFeatures: 4,
    tableSizes: [20, 7, 30],
    numIndicesPerLookup: 3,
    numIndicesPerLookupFixed: false,
    seed: 8,
  });
  const plan = modelShardingPlan(config, { ranks: 1 });
  const layout = batchSlotLayout([data], B);
  const slots = Array.from({ length: SLOTS }, () => new SharedArrayBuffer(layout.bytes));
  const views = slots.map((s) => slotViews(layout, s));
  const weightDecay = { "bot_l.0.weight": 1e-3, "top_l.2.weight": 1e-3, "emb_l.2.weight": 1e-4 };
  const init: RankInit = {
    rank: 0,
    ranks: 1,
    config,
    plan,
    optimizer: optimizerSpec("adagrad", 0.1, { weightDecay }),
    source: { kind: "seed", seed: 1 },
    comm: createCommBuffers(1, 4096),
    control: new SharedArrayBuffer(4 * controlWords(1)),
    numbers: new SharedArrayBuffer(8 * numberWords(1)),
    batchSlots: { layout, slots },
    timeoutMs: 10_000,
    stepCpu: false,
    fault: null,
  };
  const rank = new Rank(init, null);
  const step = (s: number): void => {
    const slot = s % SLOTS;
    writeBatchSlot(views[slot], data, null, (s % 4) * B, B);
    rank.trainStep(s, slot, 0.1);
  };
  for (let s = 0; s < 4; s++) step(s);
  const blocks = kernelSet === "wasm" ? defaultHeap().stats().liveBlocks : 0;
  const made = await countTypedArrays(() => {
    for (let s = 4; s < 8; s++) step(s);
  });
  assert.is(made.arrays, 0, `a steady step allocated typed arrays: ${made.made.join(", ")}`);
  if (kernelSet === "wasm")
    assert.is(defaultHeap().stats().liveBlocks, blocks, "a steady step left new blocks of wasm memory");
});

test.run();
