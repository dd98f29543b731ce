// bench/flops.ts: the FLOP count of one training sample, checked on a model small enough to
// count by hand, and on the Kaggle-shaped one against its layer widths written out.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { trainingFlopPerSample } from "../../bench/flops.ts";

test("a tiny DLRM, counted by hand", () => {
  // bottom 2-4-2 (E = 2), 2 tables, dot: F+1 = 3 vectors, 3 pairs, top input 2 + 3 = 5, top 5-3-1.
  // multiply-adds forward: 2·4 + 4·2 + 5·3 + 3·1 = 34; first layer 8.
  const c = trainingFlopPerSample(
    { bottom_mlp: [2, 4, 2], top_mlp: [5, 3, 1], embedding_dim: 2, table_sizes: [10, 20], interaction: "dot" },
    4,
  );
  assert.is(c.mlpForward, 68);
  assert.is(c.mlpBackward, 68 + 52); // dW 2·34, dx 2·(34 − 8)
  assert.is(c.bias, 20); // outputs 4 + 2 + 3 + 1 = 10, an add each way
  assert.is(c.interaction, 36); // 3 pairs · E 2 · (1 forward + 2 backward) multiply-adds
  assert.is(c.embedding, 12); // 2 tables · 1 lookup · (2 adds + 2 multiply-adds)
  assert.is(c.optimizer, 22); // 34 weights + 10 biases, 2 FLOP each, over B = 4
  assert.is(c.total, 68 + 120 + 20 + 36 + 12 + 22);
});

test("self-interaction adds the F+1 diagonal pairs; cat has no interaction arithmetic", () => {
  const shape = { bottom_mlp: [2, 4, 2], top_mlp: [5, 3, 1], embedding_dim: 2, table_sizes: [10, 20] };
  assert.is(trainingFlopPerSample({ ...shape, interaction: "dot", interaction_itself: true }, 1).interaction, 72);
  assert.is(trainingFlopPerSample({ ...shape, interaction: "cat" }, 1).interaction, 0);
});

test("the Kaggle-shaped model: GEMMs from the layer widths, 351 pairs of 27 vectors", () => {
  const c = trainingFlopPerSample(
    {
      bottom_mlp: [13, 512, 256, 64, 16],
      top_mlp: [367, 512, 256, 1],
      embedding_dim: 16,
      table_sizes: new Array(26).fill(1000),
      interaction: "dot",
    },
    2048,
  );
  const macs = 13 * 512 + 512 * 256 + 256 * 64 + 64 * 16 + 367 * 512 + 512 * 256 + 256 * 1;
  assert.is(c.mlpForward + c.mlpBackward, 2 * (3 * macs - 13 * 512));
  assert.is(c.interaction, 6 * 351 * 16);
  assert.ok(c.total > 2.8e6 && c.total < 2.9e6, `total ${c.total}`);
});

test("a batch below 1 is refused by name", () => {
  assert.throws(
    () =>
      trainingFlopPerSample(
        { bottom_mlp: [1, 1], top_mlp: [1, 1], embedding_dim: 1, table_sizes: [], interaction: "cat" },
        0,
      ),
    /trainingFlopPerSample: need B ≥ 1/,
  );
});

test.run();
