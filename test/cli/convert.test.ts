// `dlrm convert --to torchrec|reference`: the pair permutation against hand-derived cases; a
// converted model gives, under an independent TypeScript forward of TorchRec's DLRM written
// here (triu_indices order, logits), the probabilities our model gives; the naive rename
// without the permutation does not; reference -> torchrec -> reference is the same file, bit
// for bit (F32 and F16), and torchrec -> reference -> torchrec the same tensors; what TorchRec
// cannot hold, and bad command lines, are named.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { batchOf } from "../../src/data/batch.ts";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { randomDataset } from "../../src/data/random.ts";
import { saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { parseConfig, type DLRMConfig } from "../../src/dlrm/config.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { pairPermutation } from "../../src/interop/torchrec.ts";
import { float32ToBfloat16 } from "../../src/kernels/half.ts";
import { readSafetensors, toFloat32, writeSafetensors, type SafetensorsTensor } from "../../src/io/safetensors.ts";
import { noGrad } from "../../src/autograd/tape.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

const TABLE = "sparse_arch.embedding_bag_collection.embedding_bags.";

test("pairPermutation: hand-derived for F = 1, 2 (the orders agree) and 3", () => {
  assert.equal(Array.from(pairPermutation(1)), [0]);
  // N = 3: reference (1,0) (2,0) (2,1); TorchRec (0,1) (0,2) (1,2): the same pairs in the same order.
  assert.equal(Array.from(pairPermutation(2)), [0, 1, 2]);
  // N = 4: reference (1,0)0 (2,0)1 (2,1)2 (3,0)3 (3,1)4 (3,2)5; TorchRec (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) -> p = 0 1 3 2 4 5.
  assert.equal(Array.from(pairPermutation(3)), [0, 1, 3, 2, 4, 5]);
  for (const F of [4, 7, 12]) {
    const perm = Array.from(pairPermutation(F)).sort((a, b) => a - b);
    assert.equal(
      perm,
      Array.from({ length: ((F + 1) * F) / 2 }, (_, i) => i),
      `F = ${F}: a permutation`,
    );
  }
});

function config(
  E: number,
  tables: number[],
  top: number[],
  interaction: "dot" | "cat" = "dot",
  self = false,
): DLRMConfig {
  const N = tables.length + 1;
  const W = interaction === "cat" ? E * N : E + (self ? (N * (N + 1)) / 2 : (N * (N - 1)) / 2);
  return parseConfig(
    {
      dense_features: 3,
      bottom_mlp: [3, 5, E],
      embedding_dim: E,
      table_sizes: tables,
      interaction,
      interaction_itself: self,
      top_mlp: [W, ...top],
    },
    "test",
  );
}

/** A model whose parameters are uniform in (-1, 1), so that the pairs matter for the output. */
function model(c: DLRMConfig, seed: number): DLRM {
  const m = new DLRM(c, seed);
  let s = seed * 7919 + 1;
  for (const [, p] of m.namedParameters()) {
    const d = p.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      d[i] = (s / 2147483648) * 2 - 1;
    }
  }
  return m;
}

/** TorchRec's DLRM forward (torchrec/models/dlrm.py), in float64, from a file under its names: logits (N,). */
function torchrecLogits(tensors: Map<string, SafetensorsTensor>, tableNames: string[], data: Dataset): number[] {
  const get = (name: string): { v: Float32Array; shape: number[] } => {
    const t = tensors.get(name);
    if (t === undefined) throw new Error(`no ${name}`);
    return { v: toFloat32(t, name), shape: t.shape };
  };
  const linear = (name: string, x: number[], relu: boolean): number[] => {
    const w = get(`${name}.weight`);
    const b = get(`${name}.bias`).v;
    const [out, inp] = w.shape as [number, number];
    return Array.from({ length: out }, (_, o) => {
      let acc = b[o] as number;
      for (let i = 0; i < inp; i++) acc += (w.v[o * inp + i] as number) * (x[i] as number);
      return relu ? Math.max(0, acc) : acc;
    });
  };
  const logits: number[] = [];
  for (let n = 0; n < data.n; n++) {
    // DenseArch: an MLP with ReLU after every layer.
    let x = Array.from(data.dense.subarray(n * data.denseFeatures, (n + 1) * data.denseFeatures));
    for (let i = 0; tensors.has(`dense_arch.model._mlp.${i}._linear.weight`); i++)
      x = linear(`dense_arch.model._mlp.${i}._linear`, x, true);
    // SparseArch: sum pooling of each table's bag.
    const pooled = tableNames.map((name, t) => {
      const w = get(`${TABLE}${name}.weight`);
      const E = w.shape[1] as number;
      const s = data.sparse[t] as Dataset["sparse"][number];
      const sum = new Array<number>(E).fill(0);
      for (let k = s.offsets[n] as number; k < (s.offsets[n + 1] as number); k++)
        for (let e = 0; e < E; e++) sum[e] += w.v[(s.indices[k] as number) * E + e] as number;
      return sum;
    });
    // InteractionArch: combined = [dense, sparse...]; the pairs of triu_indices(N, N, offset=1), row by row.
    const combined = [x, ...pooled];
    const inter = [...x];
    for (let a = 0; a < combined.length; a++) {
      for (let b = a + 1; b < combined.length; b++)
        inter.push(
          (combined[a] as number[]).reduce((acc, v, e) => acc + v * ((combined[b] as number[])[e] as number), 0),
        );
    }
    // OverArch: MLP (ReLU) then a plain Linear: a logit.
    let z = inter;
    for (let i = 0; tensors.has(`over_arch.model.0._mlp.${i}._linear.weight`); i++)
      z = linear(`over_arch.model.0._mlp.${i}._linear`, z, true);
    logits.push(linear("over_arch.model.1", z, false)[0] as number);
  }
  return logits;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

async function convert(args: string[]): Promise<string> {
  const r = await runCli(["convert", ...args]);
  assert.is(r.code, 0, `dlrm convert ${args.join(" ")}: ${r.stderr}`);
  return r.stderr;
}

test("reference -> torchrec: TorchRec's forward of the converted file gives our probabilities (F = 4, E = 4); without the permutation it does not", async () => {
  const t = tempDir();
  try {
    const c = config(4, [9, 5, 7, 6], [6, 3, 1]);
    const m = model(c, 3);
    const ref = join(t.dir, "ref.safetensors");
    const tr = join(t.dir, "tr.safetensors");
    await saveCheckpoint(ref, m);
    const note = await convert([ref, tr, "--to", "torchrec"]);
    assert.match(note, /TorchRec's DLRM outputs logits \(no sigmoid\)/);
    const data = randomDataset({
      n: 25,
      denseFeatures: 3,
      tableSizes: c.table_sizes,
      numIndicesPerLookup: 3,
      numIndicesPerLookupFixed: false,
      seed: 8,
    });
    const ours = noGrad(() => Array.from(m.forward(batchOf(data, 0, data.n)).data));
    const names = ["t_cat_0", "t_cat_1", "t_cat_2", "t_cat_3"];
    const tensors = readSafetensors(tr).tensors;
    const theirs = torchrecLogits(tensors, names, data).map(sigmoid);
    // Tolerance: float32 arithmetic (ours) against float64 (the test's), on outputs of order 1.
    ours.forEach((p, i) =>
      assert.ok(Math.abs(p - (theirs[i] as number)) < 2e-5, `sample ${i}: ours ${p}, TorchRec's ${theirs[i]}`),
    );

    // The same file with the reference's columns left in place: the pairs land on the wrong weights.
    const naive = new Map(tensors);
    naive.set(
      "over_arch.model.0._mlp.0._linear.weight",
      readSafetensors(ref).tensors.get("top_l.0.weight") as SafetensorsTensor,
    );
    const wrong = torchrecLogits(naive, names, data).map(sigmoid);
    assert.ok(
      Math.max(...ours.map((p, i) => Math.abs(p - (wrong[i] as number)))) > 1e-2,
      "the permutation matters at F = 4",
    );
  } finally {
    t.cleanup();
  }
});

test("reference -> torchrec -> reference is the same file, bit for bit, for F32 and F16; torchrec -> reference -> torchrec the same tensors", async () => {
  const t = tempDir();
  try {
    const c = config(4, [4, 6, 5, 8, 2], [7, 1]);
    const m = model(c, 5);
    for (const dtype of ["F32", "F16"] as const) {
      const ref = join(t.dir, `ref-${dtype}.safetensors`);
      const tr = join(t.dir, `tr-${dtype}.safetensors`);
      const back = join(t.dir, `back-${dtype}.safetensors`);
      await saveCheckpoint(ref, m, {}, null, null, dtype);
      await convert([ref, tr, "--to", "torchrec"]);
      assert.is(readSafetensors(tr).tensors.get(`${TABLE}t_cat_4.weight`)?.dtype, dtype, "the dtype is kept");
      await convert([tr, back, "--to", "reference"]);
      assert.ok(readFileSync(back).equals(readFileSync(ref)), `${dtype}: the same bytes`);
      const again = join(t.dir, `again-${dtype}.safetensors`);
      await convert([back, again, "--to", "torchrec"]);
      assert.ok(readFileSync(again).equals(readFileSync(tr)), `${dtype}: torchrec -> reference -> torchrec`);
    }
  } finally {
    t.cleanup();
  }
});

test("--dtype bf16 rounds the parameters on the way (ties to even); a model with optimizer state and a recorded config", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "run.safetensors");
    const r = await runCli([
      "train",
      "--data",
      "random",
      "--data-size",
      "60",
      "--batch-size",
      "20",
      "--steps",
      "2",
      "--optimizer",
      "adagrad",
      "--workers",
      "1",
      "--save",
      ckpt,
    ]);
    assert.is(r.code, 0, r.stderr);
    const tr = join(t.dir, "tr.safetensors");
    const note = await convert([ckpt, tr, "--to", "torchrec", "--dtype", "bf16"]);
    assert.match(note, /optimizer state tensors and the run position are not carried over/);
    const src = readSafetensors(ckpt);
    const out = readSafetensors(tr);
    assert.ok("dlrm_config" in out.metadata && !("dlrm_run" in out.metadata), "the config is kept, the run dropped");
    assert.not.ok([...out.tensors.keys()].some((n) => n.startsWith("optimizer.")));
    const w = src.tensors.get("emb_l.3.weight")?.data as Float32Array;
    assert.equal(
      Array.from(out.tensors.get(`${TABLE}t_cat_3.weight`)?.data as Uint16Array),
      Array.from(w, float32ToBfloat16),
    );
    // Back to reference names: predict reads it with the recorded config.
    const back = join(t.dir, "back.safetensors");
    await convert([tr, back, "--to", "reference"]);
    assert.is(readSafetensors(back).tensors.get("top_l.0.weight")?.dtype, "BF16");
    // Same names, another dtype: optimizer state and run kept.
    const f16 = join(t.dir, "f16.safetensors");
    await convert([ckpt, f16, "--to", "reference", "--dtype", "f16"]);
    const g = readSafetensors(f16);
    assert.is(g.tensors.get("bot_l.0.weight")?.dtype, "F16");
    assert.is(g.tensors.get("optimizer.state.emb_l.0.weight.sum")?.dtype, "F32");
    assert.ok("dlrm_run" in g.metadata);
  } finally {
    t.cleanup();
  }
});

test("TorchRec files: table order by trailing number (t_cat_10 after t_cat_9), or --table-names; DLRMTrain's model. prefix", async () => {
  const t = tempDir();
  try {
    const c = config(
      2,
      Array.from({ length: 11 }, (_, i) => i + 2),
      [4, 1],
    );
    const ref = join(t.dir, "ref.safetensors");
    await saveCheckpoint(ref, model(c, 2));
    const tr = join(t.dir, "tr.safetensors");
    await convert([ref, tr, "--to", "torchrec"]);
    // Rewritten with the tensors in alphabetical order (as PyTorch's safetensors writer orders them) and a model. prefix.
    const file = readSafetensors(tr);
    const sorted = new Map([...file.tensors].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [`model.${k}`, v]));
    const alpha = join(t.dir, "alpha.safetensors");
    writeSafetensors(alpha, sorted);
    const back = join(t.dir, "back.safetensors");
    await convert([alpha, back, "--to", "reference"]);
    assert.is(readSafetensors(back).tensors.get("emb_l.10.weight")?.shape[0], 12, "t_cat_10 is table 10");
    const a = readSafetensors(back).tensors;
    for (const [name, x] of readSafetensors(ref).tensors)
      assert.equal(Array.from(a.get(name)?.data as Float32Array), Array.from(x.data as Float32Array), name);

    // Names without a common numbered pattern: --table-names gives the order, both ways.
    const names = ["user", "item", "cat", "zip", "b", "c", "d", "e", "f", "g", "h"];
    const named = join(t.dir, "named.safetensors");
    await convert([ref, named, "--to", "torchrec", "--table-names", names.join(",")]);
    assert.ok(readSafetensors(named).tensors.has(`${TABLE}zip.weight`));
    let r = await runCli(["convert", named, join(t.dir, "x.safetensors"), "--to", "reference"]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /cannot tell the order of the tables from their names \(.*\); give --table-names in the order of the model's features/,
    );
    const back2 = join(t.dir, "back2.safetensors");
    await convert([named, back2, "--to", "reference", "--table-names", names.join(",")]);
    assert.ok(readFileSync(back2).equals(readFileSync(ref)), "the same file");
    r = await runCli([
      "convert",
      named,
      join(t.dir, "x.safetensors"),
      "--to",
      "reference",
      "--table-names",
      "user,item",
    ]);
    assert.match(r.stderr, /--table-names must list the file's tables once each .*; missing cat, zip/);
  } finally {
    t.cleanup();
  }
});

test("what TorchRec's DLRM cannot hold, and bad command lines, are named", async () => {
  const t = tempDir();
  try {
    const cases: [DLRMConfig, RegExp][] = [
      [
        config(2, [3, 3], [4, 1], "cat"),
        /TorchRec's DLRM has the dot interaction without self-interaction, and DLRM_DCN the dcn one; this model uses cat/,
      ],
      [config(2, [3, 3], [4, 1], "dot", true), /this model uses dot with self-interaction/],
      [config(2, [3, 3], [1]), /TorchRec's OverArch needs at least two layers; this top MLP has 1/],
    ];
    for (const [c, message] of cases) {
      const ref = join(t.dir, "m.safetensors");
      const modelPath = join(t.dir, "m.json");
      writeFileSync(modelPath, JSON.stringify(c));
      await saveCheckpoint(ref, model(c, 1), { dlrm_config: JSON.stringify(c) });
      const r = await runCli(["convert", ref, join(t.dir, "o.safetensors"), "--to", "torchrec"]);
      assert.is(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    const ref = join(t.dir, "m.safetensors");
    const usage: [string[], RegExp][] = [
      [[ref, join(t.dir, "o.safetensors")], /--to reference\|torchrec is required/],
      [
        [ref, ref, "--to", "torchrec"],
        /convert: <out> .* is the same file as <in> .*: writing it would destroy an input/,
      ],
      [[ref, "--to", "torchrec"], /give the input and the output file/],
      [[ref, join(t.dir, "o.safetensors"), "--to", "onnx"], /--to must be reference or torchrec, got "onnx"/],
      [[ref, join(t.dir, "o.safetensors"), "--to", "torchrec", "--dtype", "f64"], /--dtype must be f32, f16 or bf16/],
      [
        [ref, join(t.dir, "o.safetensors"), "--to", "torchrec", "--table-names", "a,,b"],
        /--table-names has an empty name/,
      ],
    ];
    for (const [args, message] of usage) {
      const r = await runCli(["convert", ...args]);
      assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    // A TorchRec file given to predict: the message says to convert it.
    const c = config(2, [3, 4, 5, 2], [4, 1]);
    const plain = join(t.dir, "plain.safetensors");
    await saveCheckpoint(plain, model(c, 1));
    const tr = join(t.dir, "tr.safetensors");
    await convert([plain, tr, "--to", "torchrec"]);
    const data = join(t.dir, "d.safetensors");
    writeBatchFile(
      data,
      randomDataset({
        n: 3,
        denseFeatures: 3,
        tableSizes: c.table_sizes,
        numIndicesPerLookup: 1,
        numIndicesPerLookupFixed: true,
        seed: 1,
      }),
    );
    const r = await runCli(["predict", "--checkpoint", tr, "--data", data, "--out", join(t.dir, "p.safetensors")]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /tensor "sparse_arch\.embedding_bag_collection\.embedding_bags\.t_cat_0\.weight" is a TorchRec name: convert the file first with `dlrm convert <in> <out> --to reference`/,
    );
  } finally {
    t.cleanup();
  }
});

test.run();
