// The config of a checkpoint without one, from its shapes: dot, dot with self-interaction and
// cat models saved with and without their dlrm_config metadata give back their model fields,
// `dlrm predict` without --model predicts as with it, and `dlrm train --init` trains it; what the shapes cannot tell (a width
// that fits two interactions, or none; foreign tensors) is one line naming it.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { checkpointConfig, inferConfig } from "../../src/dlrm/infer_config.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { parameterSpecs } from "../../src/dlrm/init.ts";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { runCli, tempDir } from "../helpers/cli.ts";
import { writeFileSync } from "node:fs";

/** A model of E-dim tables with these rows; W, the top MLP's input width, computed here from the formulas. */
function model(
  E: number,
  tables: number[],
  interaction: "dot" | "cat",
  self: boolean,
  extra: Partial<DLRMConfig> = {},
): DLRMConfig {
  const N = tables.length + 1;
  const W = interaction === "cat" ? E * N : E + (self ? (N * (N + 1)) / 2 : (N * (N - 1)) / 2);
  return parseConfig(
    {
      dense_features: 5,
      bottom_mlp: [5, 7, E],
      embedding_dim: E,
      table_sizes: tables,
      interaction,
      interaction_itself: self,
      top_mlp: [W, 6, 4, 1],
      ...extra,
    },
    "test",
  );
}

const MODEL_FIELDS = [
  "dense_features",
  "bottom_mlp",
  "embedding_dim",
  "table_sizes",
  "pooling",
  "interaction",
  "interaction_itself",
  "top_mlp",
  "weighted_pooling",
] as const;
const modelPart = (c: DLRMConfig): object => Object.fromEntries(MODEL_FIELDS.map((k) => [k, c[k]]));
const shapesOf = (c: DLRMConfig): Map<string, number[]> => new Map(parameterSpecs(c).map((p) => [p.name, p.shape]));

const CASES: [string, DLRMConfig][] = [
  ["dot", model(4, [10, 3, 8], "dot", false)],
  ["dot with self-interaction", model(4, [10, 3, 8], "dot", true)],
  ["cat", model(4, [10, 3, 8], "cat", false)],
  ["dot, one table", model(2, [6], "dot", false)],
  ["cat, one table", model(2, [6], "cat", false)],
  ["dot, learned weighted pooling (v_W_l)", model(4, [10, 3, 8], "dot", false, { weighted_pooling: "learned" })],
];

for (const [label, config] of CASES) {
  test(`${label}: inferred from checkpoints with and without metadata; predict without --model = with it`, async () => {
    const t = tempDir();
    try {
      assert.equal(modelPart(inferConfig(shapesOf(config), "x")), modelPart(config), "from the shapes");
      const bare = join(t.dir, "bare.safetensors");
      const withMeta = join(t.dir, "meta.safetensors");
      const m = new DLRM(config, 3);
      await saveCheckpoint(bare, m);
      await saveCheckpoint(withMeta, m, { dlrm_config: JSON.stringify({ ...config, lr: 0.7 }) });
      assert.not.ok("dlrm_config" in readSafetensors(bare).metadata, "the bare file records no config");
      assert.equal(modelPart(checkpointConfig(readCheckpointIndex(bare))), modelPart(config), "inferred");
      assert.is(checkpointConfig(readCheckpointIndex(withMeta)).lr, 0.7, "the recorded config wins");
      const data = join(t.dir, "data.safetensors");
      writeBatchFile(
        data,
        randomDataset({
          n: 20,
          denseFeatures: 5,
          tableSizes: config.table_sizes,
          numIndicesPerLookup: 3,
          numIndicesPerLookupFixed: false,
          seed: 1,
        }),
      );
      const modelPath = join(t.dir, "model.json");
      writeFileSync(modelPath, JSON.stringify(config));
      const preds = async (args: string[], out: string): Promise<number[]> => {
        const r = await runCli(["predict", "--checkpoint", bare, "--data", data, "--out", join(t.dir, out), ...args]);
        assert.is(r.code, 0, r.stderr);
        return Array.from(readSafetensors(join(t.dir, out)).tensors.get("pred")?.data as Float32Array);
      };
      assert.equal(await preds([], "a.safetensors"), await preds(["--model", modelPath], "b.safetensors"));
    } finally {
      t.cleanup();
    }
  });
}

test("dlrm train --init from a checkpoint without a config (generated data, no --model) trains that model", async () => {
  const t = tempDir();
  try {
    const config = model(4, [10, 3, 8], "dot", true);
    const bare = join(t.dir, "bare.safetensors");
    await saveCheckpoint(bare, new DLRM(config, 2));
    const out = join(t.dir, "out.safetensors");
    const r = await runCli([
      "train",
      "--init",
      bare,
      "--data",
      "random",
      "--data-size",
      "40",
      "--batch-size",
      "20",
      "--steps",
      "2",
      "--workers",
      "1",
      "--save",
      out,
    ]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(
      modelPart(checkpointConfig(readCheckpointIndex(out))),
      modelPart(config),
      "the saved run records the inferred model",
    );
    const ambiguous = join(t.dir, "ambiguous.safetensors");
    await saveCheckpoint(ambiguous, new DLRM(model(2, [5, 5, 5], "dot", false), 2));
    const bad = await runCli(["train", "--init", ambiguous, "--data", "random", "--steps", "1", "--workers", "1"]);
    assert.is(bad.code, 1);
    assert.match(bad.stderr, /the interaction is ambiguous/);
  } finally {
    t.cleanup();
  }
});

test("ambiguous widths are named in one line: dot = cat at N = 2E; dot with self = cat at E = 3, N = 3", () => {
  // E = 2, 3 tables (N = 4): dot 2 + 6 = 8, cat 2·4 = 8.
  assertThrows(
    () => inferConfig(shapesOf(model(2, [5, 5, 5], "dot", false)), "f.safetensors"),
    /^f\.safetensors: the interaction is ambiguous: top_l\.0\.weight takes 8 inputs, which fits "dot" and "cat" for 3 tables of dim 2; give --model with "interaction" and "interaction_itself"$/,
  );
  // E = 3, 2 tables (N = 3): dot with self 3 + 6 = 9, cat 3·3 = 9.
  assertThrows(
    () => inferConfig(shapesOf(model(3, [4, 4], "cat", false)), "g"),
    /^g: the interaction is ambiguous: top_l\.0\.weight takes 9 inputs, which fits "dot with self-interaction" and "cat" for 2 tables of dim 3;/,
  );
});

test("no tables: dot and cat are the same model (dot); a width that fits nothing lists the three", () => {
  const c = inferConfig(
    new Map([
      ["bot_l.0.weight", [3, 5]],
      ["bot_l.0.bias", [3]],
      ["top_l.0.weight", [1, 3]],
      ["top_l.0.bias", [1]],
    ]),
    "z",
  );
  assert.equal([c.interaction, c.interaction_itself, c.table_sizes, c.embedding_dim], ["dot", false, [], 3]);
  const shapes = shapesOf(model(4, [10, 3, 8], "dot", false));
  shapes.set("top_l.0.weight", [6, 21]);
  assertThrows(
    () => inferConfig(shapes, "h"),
    /^h: cannot infer the model config: top_l\.0\.weight takes 21 inputs, which fits no interaction of 3 tables of dim 4 \(N = 4 features: dot 10, dot with self-interaction 14, cat 16\)$/,
  );
});

test("shapes that do not make a DLRM are named: foreign tensors, gaps, mismatched layers", () => {
  const base = (): Map<string, number[]> => shapesOf(model(4, [10, 3], "dot", false));
  const withExtra = (name: string, shape: number[]): Map<string, number[]> => base().set(name, shape);
  assertThrows(
    () => inferConfig(withExtra("sparse_arch.embedding_bag_collection.embedding_bags.t_cat_0.weight", [3, 4]), "t"),
    /^t: cannot infer the model config: tensor "sparse_arch\.[^"]*" is a TorchRec name: convert the file first with `dlrm convert <in> <out> --to reference`$/,
  );
  // learned pooling weights: one (R_t,) vector for every table, or none
  assertThrows(
    () => inferConfig(withExtra("v_W_l.0", [10]), "t"),
    /^t: cannot infer the model config: 1 learned pooling weights \(v_W_l\) for 2 tables, but no v_W_l\.1 /,
  );
  assertThrows(
    () => inferConfig(withExtra("v_W_l.0", [9]).set("v_W_l.1", [3]), "t"),
    /^t: cannot infer the model config: v_W_l\.0 has shape \(9,\) but emb_l\.0\.weight has 10 rows/,
  );
  assertThrows(
    () => inferConfig(withExtra("v_W_l.0", [10]).set("v_W_l.1", [3]).set("v_W_l.2", [3]), "t"),
    /^t: cannot infer the model config: v_W_l\.2 is not the pooling weights of a table \(emb_l\.0 … emb_l\.1\)$/,
  );
  assertThrows(() => inferConfig(withExtra("emb_l.0.weight_q", [3, 4]), "t"), /QR or mixed-dimension embedding/);
  assertThrows(
    () => inferConfig(withExtra("emb_l.3.weight", [3, 4]), "t"),
    /^t: cannot infer the model config: 3 tables but no emb_l\.2\.weight/,
  );
  assertThrows(
    () => inferConfig(withExtra("emb_l.2.weight", [3, 5]), "t"),
    /emb_l\.2\.weight has dim 5 but emb_l\.0\.weight has 4/,
  );
  const gap = base();
  gap.delete("top_l.2.weight");
  gap.delete("top_l.2.bias");
  assertThrows(() => inferConfig(gap, "t"), /top_l has layer 4 where layer 2 should be/);
  assertThrows(
    () => inferConfig(base().set("top_l.2.weight", [4, 5]), "t"),
    /top_l\.2\.weight takes 5 inputs but the layer before gives 6/,
  );
  assertThrows(
    () => inferConfig(base().set("bot_l.2.weight", [3, 7]).set("bot_l.2.bias", [3]), "t"),
    /the bottom MLP ends in 3 but the tables have dim 4/,
  );
  const noBias = base();
  noBias.delete("bot_l.0.bias");
  assertThrows(() => inferConfig(noBias, "t"), /bot_l\.0\.weight has no bot_l\.0\.bias/);
  const noTop = base();
  for (const k of [...noTop.keys()]) if (k.startsWith("top_l.")) noTop.delete(k);
  assertThrows(() => inferConfig(noTop, "t"), /no top_l\.0\.weight \(the top MLP\)/);
  // Optimizer state tensors are not parameters and do not get in the way.
  assert.ok(inferConfig(withExtra("optimizer.state.emb_l.0.weight.sum", [10, 4]), "t"));
});

test("dlrm predict on an ambiguous checkpoint without --model: exit 1 and the one line", async () => {
  const t = tempDir();
  try {
    const config = model(2, [5, 5, 5], "cat", false);
    const ckpt = join(t.dir, "c.safetensors");
    await saveCheckpoint(ckpt, new DLRM(config, 1));
    const data = join(t.dir, "d.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 4,
        denseFeatures: 5,
        tableSizes: config.table_sizes,
        numIndicesPerLookup: 1,
        numIndicesPerLookupFixed: true,
        seed: 1,
      }),
    );
    const r = await runCli(["predict", "--checkpoint", ckpt, "--data", data, "--out", join(t.dir, "p.safetensors")]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /^dlrm: .*c\.safetensors: the interaction is ambiguous: top_l\.0\.weight takes 8 inputs, which fits "dot" and "cat" for 3 tables of dim 2; give --model/,
    );
    assert.is(r.stderr.trim().split("\n").length, 1, "one line");
    // A corrupt recorded config is named too.
    const f = readSafetensors(ckpt);
    writeSafetensors(ckpt, f.tensors, { dlrm_config: "{not json" });
    assert.throws(
      () => checkpointConfig(readCheckpointIndex(ckpt)),
      /its dlrm_config metadata is not JSON; give --model/,
    );
  } finally {
    t.cleanup();
  }
});

test.run();
