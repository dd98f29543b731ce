// The interactions through the config and the command line: "dcn" and "cross" configs with
// their fields and their errors (file and field named), `dlrm train --interaction dcn|cross`
// rewriting the built-in model (top MLP's first width, defaults, recorded and resumed), the
// same numbers on one worker and on two, and what does not fit being usage errors (exit 2).
//
// Glossary: E embedding dim, F tables, N = (F + 1)·E.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { parseConfig, topInputWidth } from "../../src/dlrm/config.ts";
import { saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { checkpointConfig } from "../../src/dlrm/infer_config.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";

const BASE = { dense_features: 3, bottom_mlp: [3, 5, 4], embedding_dim: 4, table_sizes: [6, 9] }; // N = 12

test("config: dcn takes TorchRec's defaults (3 layers, rank 512) and a top MLP from N; cross needs its deep MLP", () => {
  const dcn = parseConfig({ ...BASE, interaction: "dcn", top_mlp: [12, 1] });
  assert.is(dcn.dcn_num_layers, 3);
  assert.is(dcn.dcn_low_rank_dim, 512);
  const cross = parseConfig({ ...BASE, interaction: "cross", dcn_num_layers: 2, deep_mlp: [12, 8], top_mlp: [20, 1] });
  assert.is(topInputWidth(cross), 20);
  const m = new DLRM(cross, 1);
  assert.equal(
    m.namedParameters().map(([n, p]) => `${n} (${p.shape.join(", ")})`),
    [
      "bot_l.0.weight (5, 3)",
      "bot_l.0.bias (5)",
      "bot_l.2.weight (4, 5)",
      "bot_l.2.bias (4)",
      "inter_arch.crossnet.kernels.0 (12, 1)",
      "inter_arch.crossnet.kernels.1 (12, 1)",
      "inter_arch.crossnet.bias.0 (12, 1)",
      "inter_arch.crossnet.bias.1 (12, 1)",
      "inter_arch.deep.0.weight (8, 12)",
      "inter_arch.deep.0.bias (8)",
      "top_l.0.weight (1, 20)",
      "top_l.0.bias (1)",
      "emb_l.0.weight (6, 4)",
      "emb_l.1.weight (9, 4)",
    ],
  );
});

test("config: the cross fields' errors name the file and the field", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { interaction: "dcn", top_mlp: [16, 1] },
      /m\.json: field "top_mlp" must start with the interaction width 12 \(dcn, N = \(2 tables \+ 1\) × dim 4\)/,
    ],
    [
      { interaction: "dot", dcn_num_layers: 2, top_mlp: [10, 1] },
      /"dcn_num_layers" goes with "interaction": "dcn" or "cross", not "dot"/,
    ],
    [
      { interaction: "cross", dcn_low_rank_dim: 2, deep_mlp: [12, 3], top_mlp: [15, 1] },
      /"dcn_low_rank_dim" goes with "interaction": "dcn"/,
    ],
    [
      { interaction: "cross", top_mlp: [15, 1] },
      /"deep_mlp" must be a list of at least 2 positive integers, the first N = 12/,
    ],
    [
      { interaction: "cross", deep_mlp: [10, 3], top_mlp: [13, 1] },
      /"deep_mlp" must start with N = \(2 tables \+ 1\) × dim 4 = 12/,
    ],
    [
      { interaction: "dcn", dcn_low_rank_dim: 0, top_mlp: [12, 1] },
      /"dcn_low_rank_dim" must be a positive integer, got 0/,
    ],
    [
      { interaction: "dcn", interaction_itself: true, top_mlp: [12, 1] },
      /"interaction_itself" is for the dot interaction, not "dcn"/,
    ],
  ];
  for (const [fields, message] of cases) assertThrows(() => parseConfig({ ...BASE, ...fields }, "m.json"), message);
});

test("dlrm train --interaction dcn on 1 and 2 workers: the same run, recorded in the checkpoint, resumed with its flags", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const common = ["--data", "random", "--data-size", "256", "--batch-size", "32", "--interaction", "dcn"];
    const flags = [...common, "--dcn-num-layers", "2", "--dcn-low-rank-dim", "8", "--steps", "4"];
    const one = join(dir, "one.safetensors");
    const two = join(dir, "two.safetensors");
    const r1 = await runCli(["train", ...flags, "--workers", "1", "--save", one]);
    assert.is(r1.code, 0, r1.stderr);
    const r2 = await runCli(["train", ...flags, "--workers", "2", "--save", two]);
    assert.is(r2.code, 0, r2.stderr);
    const config = checkpointConfig(readCheckpointIndex(one));
    const N = (config.table_sizes.length + 1) * config.embedding_dim;
    assert.equal([config.interaction, config.dcn_num_layers, config.dcn_low_rank_dim], ["dcn", 2, 8]);
    assert.is(config.top_mlp[0], N);
    const a = readSafetensors(one).tensors.get("inter_arch.crossnet.W_kernels.1");
    const b = readSafetensors(two).tensors.get("inter_arch.crossnet.W_kernels.1");
    assert.equal(a?.shape, [N, 8]);
    const [x, y] = [a?.data as Float32Array, b?.data as Float32Array];
    assert.ok(
      x.every((v, i) => Math.abs(v - y[i]) <= 1e-6 + 1e-5 * Math.abs(v)),
      "one worker and two train the same cross layers",
    );
    const [l1, l2] = [lastJson(r1.stdout).train_loss as number, lastJson(r2.stdout).train_loss as number];
    assert.ok(Math.abs(l1 - l2) <= 1e-6, `train_loss ${l1} on one worker, ${l2} on two`);
    const resumed = await runCli(["train", "--resume", one, "--steps", "6", "--workers", "1"]);
    assert.is(resumed.code, 0, resumed.stderr);
    const changed = await runCli(["train", "--resume", one, "--steps", "6", "--dcn-low-rank-dim", "4"]);
    assert.is(changed.code, 2, changed.stderr);
  } finally {
    cleanup();
  }
});

test("dlrm train --interaction cross: the deep MLP from --deep-mlp, else the top MLP's hidden widths; 1 and 2 workers agree", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, "c.safetensors");
    const common = ["--data", "random", "--data-size", "64", "--batch-size", "32", "--steps", "1", "--workers", "1"];
    const r = await runCli(["train", ...common, "--interaction", "cross", "--deep-mlp", "7-5", "--save", out]);
    assert.is(r.code, 0, r.stderr);
    const c = checkpointConfig(readCheckpointIndex(out));
    const N = (c.table_sizes.length + 1) * c.embedding_dim;
    assert.equal(c.deep_mlp, [N, 7, 5]);
    assert.is(c.top_mlp[0], N + 5);
    const d = await runCli(["train", ...common, "--interaction", "cross", "--save", out]);
    assert.is(d.code, 0, d.stderr);
    const top = checkpointConfig(readCheckpointIndex(out)).top_mlp;
    assert.equal(checkpointConfig(readCheckpointIndex(out)).deep_mlp, [N, ...top.slice(1, -1)]);
    // two workers train the same cross layers and deep MLP as one
    const two = join(dir, "c2.safetensors");
    const w2 = common.map((a, i) => (common[i - 1] === "--workers" ? "2" : a));
    const e = await runCli(["train", ...w2, "--interaction", "cross", "--save", two]);
    assert.is(e.code, 0, e.stderr);
    for (const name of ["inter_arch.crossnet.kernels.2", "inter_arch.crossnet.bias.0", "inter_arch.deep.0.weight"]) {
      const [x, y] = [out, two].map((p) => readSafetensors(p).tensors.get(name)?.data as Float32Array);
      assert.ok(
        x.every((v, i) => Math.abs(v - y[i]) <= 1e-6 + 1e-5 * Math.abs(v)),
        `${name}: one worker and two agree`,
      );
    }
  } finally {
    cleanup();
  }
});

test("a cross model's checkpoint without its config: the config read from its shapes; convert --to torchrec refuses it", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const cross = parseConfig({
      ...BASE,
      interaction: "cross",
      dcn_num_layers: 2,
      deep_mlp: [12, 8, 3],
      top_mlp: [15, 1],
    });
    const dcn = parseConfig({
      ...BASE,
      interaction: "dcn",
      dcn_num_layers: 4,
      dcn_low_rank_dim: 5,
      top_mlp: [12, 6, 1],
    });
    for (const c of [cross, dcn]) {
      const path = join(dir, `${c.interaction}.safetensors`);
      await saveCheckpoint(path, new DLRM(c, 3)); // no dlrm_config metadata
      assert.equal(checkpointConfig(readCheckpointIndex(path)), c);
    }
    const r = await runCli(["convert", join(dir, "cross.safetensors"), join(dir, "o.safetensors"), "--to", "torchrec"]);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /this model uses cross/);
  } finally {
    cleanup();
  }
});

test("dlrm train: interaction flags that do not fit are usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [["--interaction", "fm"], /--interaction must be dot, cat, dcn or cross, got "fm"/],
    [["--dcn-low-rank-dim", "4"], /--dcn-low-rank-dim goes with --interaction dcn, not dot/],
    [["--interaction", "dcn", "--deep-mlp", "4"], /--deep-mlp goes with --interaction cross, not dcn/],
    [["--interaction", "cross", "--deep-mlp", "4-x"], /--deep-mlp must be positive widths joined by "-"/],
  ];
  for (const [flags, message] of cases) {
    const r = await runCli(["train", "--data", "random", "--data-size", "64", "--steps", "1", ...flags]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});

test.run();
