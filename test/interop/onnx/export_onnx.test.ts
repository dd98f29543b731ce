// `dlrm export`: the ONNX model it writes, run in ONNX Runtime (onnxruntime-node, a dev
// dependency), gives the predictions `dlrm predict` gives for the same checkpoint and data:
// on the golden cases (variable bags with empty ones), and on a Kaggle-shaped model (13
// dense features, 26 tables capped at 1000 rows, the reference's Kaggle MLPs) with dot, dot
// with self-interaction and cat, fixed-size (one-hot) and variable bags; per-sample weights,
// learned weighted pooling (v_W_l) and mean pooling; tables as external data. Features the export cannot express, and usage
// errors, give one-line errors.
//
// Tolerance: ONNX Runtime's MatMul/Gemm sum in another order than our kernels (and the dot
// interaction goes through a (B, F, F) product instead of a direct dot), so float32 rounding
// differs: |ort − ours| <= 1e-5 + 1e-4·|ours| on probabilities.
//
// Glossary: B batch, E embedding dim, L lookups per bag, N samples.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { runCli, tempDir } from "../../helpers/cli.ts";
import { GOLDEN, goldenCases } from "../../helpers/golden.ts";
import { readBatchFile, writeBatchFile } from "../../../src/data/batch_file.ts";
import { offsetsFromLengths, type Dataset } from "../../../src/data/dataset.ts";
import { randomDataset } from "../../../src/data/random.ts";
import { saveCheckpoint } from "../../../src/dlrm/checkpoint.ts";
import { checkpointFormat } from "../../../src/interop/checkpoint_file.ts";
import { parseConfig, type DLRMConfig } from "../../../src/dlrm/config.ts";
import { criteoModel } from "../../../src/data/sources/builtin_models.ts";
import { exportOnnx, externalTables } from "../../../src/interop/onnx/export_onnx.ts";
import { DLRM } from "../../../src/dlrm/model.ts";
import { readSafetensors, writeSafetensors } from "../../../src/io/safetensors.ts";
import { interactionWidth } from "../../../src/ops/interaction.ts";
import { assertClose } from "../../../src/testing/index.ts";

const TOL = { atol: 1e-5, rtol: 1e-4 };

/** ONNX Runtime's predictions for samples [start, end) of data, fed as the export's inputs (bagSize null: indices + offsets). */
async function ortPredict(
  session: ort.InferenceSession,
  data: Dataset,
  start: number,
  end: number,
  bagSize: number | null,
  weights: boolean,
): Promise<Float32Array> {
  const B = end - start;
  const Dd = data.denseFeatures;
  const feeds: Record<string, ort.Tensor> = {
    dense: new ort.Tensor("float32", data.dense.slice(start * Dd, end * Dd), [B, Dd]),
  };
  data.sparse.forEach((f, t) => {
    const first = f.offsets[start] as number;
    const last = f.offsets[end] as number;
    const shape = bagSize === null ? [last - first] : [B, bagSize];
    feeds[`indices_${t}`] = new ort.Tensor("int64", BigInt64Array.from(f.indices.subarray(first, last), BigInt), shape);
    if (bagSize === null)
      feeds[`offsets_${t}`] = new ort.Tensor(
        "int64",
        BigInt64Array.from(f.offsets.subarray(start, end), (o) => BigInt(o - first)),
        [B],
      );
    if (weights)
      feeds[`weights_${t}`] = new ort.Tensor("float32", (f.weights as Float32Array).slice(first, last), shape);
  });
  const out = await session.run(feeds);
  const pred = out["pred"] as ort.Tensor;
  assert.equal(pred.dims, [B]);
  return pred.data as Float32Array;
}

/** `dlrm predict` on the CLI: the predictions for every sample of a batch file. */
async function cliPredict(dir: string, checkpoint: string, model: string, data: string): Promise<Float32Array> {
  const out = join(dir, "pred.safetensors");
  const r = await runCli(["predict", "--checkpoint", checkpoint, "--model", model, "--data", data, "--out", out]);
  assert.is(r.code, 0, r.stderr);
  return readSafetensors(out).tensors.get("pred")?.data as Float32Array;
}

/** Export through the CLI, run the model in ONNX Runtime on all samples in two batches of different sizes, compare with dlrm predict. */
async function checkAgainstPredict(
  dir: string,
  checkpoint: string,
  model: string,
  dataPath: string,
  bagSize: number | null,
  what: string,
  extra: string[] = [],
): Promise<void> {
  const onnx = join(dir, "model.onnx");
  const r = await runCli([
    "export",
    "--checkpoint",
    checkpoint,
    "--model",
    model,
    "--out",
    onnx,
    ...(bagSize === null ? [] : ["--bag-size", String(bagSize)]),
    ...extra,
  ]);
  assert.is(r.code, 0, r.stderr);
  const expected = await cliPredict(dir, checkpoint, model, dataPath);
  const data = readBatchFile(dataPath);
  const config = parseConfig(JSON.parse(readFileSync(model, "utf8")));
  const session = await ort.InferenceSession.create(onnx);
  try {
    const cut = Math.floor((2 * data.n) / 3);
    const first = await ortPredict(session, data, 0, cut, bagSize, config.per_sample_weights);
    const second = await ortPredict(session, data, cut, data.n, bagSize, config.per_sample_weights);
    const actual = Float32Array.of(...first, ...second);
    assertClose(actual, expected, TOL, what);
    // The comparison means something only if the model's predictions vary between samples.
    assert.ok(
      Math.max(...expected) - Math.min(...expected) > 1e-3,
      `${what}: predictions barely vary (${Math.min(...expected)}..${Math.max(...expected)})`,
    );
  } finally {
    await session.release();
  }
}

/** A model's config file and a checkpoint of its initial parameters for seed, in dir. */
async function modelFiles(
  dir: string,
  config: DLRMConfig,
  seed: number,
  checkpointName = "ckpt.safetensors",
  edit: (m: DLRM) => void = () => {},
): Promise<{ model: string; checkpoint: string }> {
  const model = join(dir, "model.json");
  writeFileSync(model, JSON.stringify(config));
  const checkpoint = join(dir, checkpointName);
  const m = new DLRM(config, seed);
  edit(m);
  await saveCheckpoint(checkpoint, m);
  return { model, checkpoint };
}

const CASES = goldenCases(test, "ONNX export golden");

test("golden cases: ONNX Runtime on the export = dlrm predict (and PyTorch's pred.0)", async () => {
  for (const name of CASES) {
    const t = tempDir();
    try {
      const caseDir = `${GOLDEN}${name}/`;
      await checkAgainstPredict(
        t.dir,
        `${caseDir}init.safetensors`,
        `${caseDir}config.json`,
        `${caseDir}batches.safetensors`,
        null,
        `golden ${name}`,
      );
      const config = parseConfig(JSON.parse(readFileSync(`${caseDir}config.json`, "utf8")));
      const session = await ort.InferenceSession.create(join(t.dir, "model.onnx"));
      const pred0 = readSafetensors(`${caseDir}expected.safetensors`).tensors.get("pred.0")?.data as Float32Array;
      // The golden README's rule of a match.
      assertClose(
        await ortPredict(
          session,
          readBatchFile(`${caseDir}batches.safetensors`),
          0,
          config.batch_size,
          null,
          config.per_sample_weights,
        ),
        pred0,
        { atol: 1e-4, rtol: 1e-3 },
        `golden ${name} pred.0`,
      );
      await session.release();
    } finally {
      t.cleanup();
    }
  }
});

/** The reference's Kaggle model with each table capped at 1000 rows, with the given interaction. */
function kaggleConfig(interaction: "dot" | "cat", self: boolean): DLRMConfig {
  const KAGGLE = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652,
    2173, 4, 7046547, 18, 15, 286181, 105, 142572,
  ];
  const base = criteoModel(
    KAGGLE.map((n) => Math.min(n, 1000)),
    13,
  ).config;
  const top = [
    interactionWidth(base.embedding_dim, base.table_sizes.length, interaction, self),
    ...base.top_mlp.slice(1),
  ];
  return parseConfig({ ...base, interaction, interaction_itself: self, top_mlp: top });
}

for (const [interaction, self] of [
  ["dot", false],
  ["dot", true],
  ["cat", false],
] as const) {
  const variant = `${interaction}${self ? " with self-interaction" : ""}`;
  test(`Kaggle-shaped model (${variant}): fixed one-hot bags and variable bags, ONNX Runtime = dlrm predict`, async () => {
    const t = tempDir();
    try {
      const config = kaggleConfig(interaction, self);
      const { model, checkpoint } = await modelFiles(t.dir, config, 7);
      for (const [bagSize, k] of [
        [1, 1],
        [null, 4],
      ] as const) {
        const dataPath = join(t.dir, "data.safetensors");
        writeBatchFile(
          dataPath,
          randomDataset({
            n: 60,
            denseFeatures: 13,
            tableSizes: config.table_sizes,
            numIndicesPerLookup: k,
            numIndicesPerLookupFixed: bagSize !== null,
            seed: 3,
          }),
        );
        await checkAgainstPredict(
          t.dir,
          checkpoint,
          model,
          dataPath,
          bagSize,
          `Kaggle-shaped ${variant}, ${bagSize === null ? "variable" : "fixed"} bags`,
        );
      }
    } finally {
      t.cleanup();
    }
  });
}

test("cross networks: the DCN-v2 fixture (ONNX Runtime = dlrm predict = PyTorch's pred.0) and a DCN with its deep MLP", async () => {
  const t = tempDir();
  try {
    const dcn = new URL("../../fixtures/dcn/dcn_v2/", import.meta.url).pathname;
    const data = `${dcn}batches.safetensors`;
    await checkAgainstPredict(t.dir, `${dcn}init.safetensors`, `${dcn}config.json`, data, null, "DCN-v2 fixture");
    const session = await ort.InferenceSession.create(join(t.dir, "model.onnx"));
    const pred0 = readSafetensors(`${dcn}expected.safetensors`).tensors.get("pred.0")?.data as Float32Array;
    const got = await ortPredict(session, readBatchFile(data), 0, pred0.length, null, false);
    assertClose(got, pred0, { atol: 1e-4, rtol: 1e-3 }, "DCN-v2 fixture pred.0");
    await session.release();

    const N = 4 * 4;
    const cross = parseConfig({
      ...SMALL,
      interaction: "cross",
      dcn_num_layers: 2,
      deep_mlp: [N, 7, 5],
      top_mlp: [N + 5, 6, 1],
    });
    const { model, checkpoint } = await modelFiles(t.dir, cross, 11, "cross.safetensors", (m) => {
      for (const [name, p] of m.namedParameters())
        // the cross biases start at zero: draw them away
        if (name.startsWith("inter_arch.crossnet.bias.")) p.data.forEach((_, i) => (p.data[i] = 0.1 * (i % 5) - 0.2));
    });
    const dataPath = join(t.dir, "cross_data.safetensors");
    writeBatchFile(
      dataPath,
      randomDataset({
        n: 40,
        denseFeatures: 3,
        tableSizes: cross.table_sizes,
        numIndicesPerLookup: 3,
        numIndicesPerLookupFixed: false,
        seed: 5,
      }),
    );
    await checkAgainstPredict(t.dir, checkpoint, model, dataPath, null, "DCN (cross) with its deep MLP");
  } finally {
    t.cleanup();
  }
});

const SMALL = {
  dense_features: 3,
  bottom_mlp: [3, 8, 4],
  embedding_dim: 4,
  table_sizes: [9, 30, 5],
  top_mlp: [10, 6, 1],
};

/** A copy of data in which every third sample's bags are empty. */
function withEmptyBags(d: Dataset): Dataset {
  const sparse = d.sparse.map((f) => {
    const indices: number[] = [];
    const weights: number[] = [];
    const lengths = new Int32Array(d.n);
    for (let i = 0; i < d.n; i++) {
      if (i % 3 === 1) continue;
      for (let l = f.offsets[i] as number; l < (f.offsets[i + 1] as number); l++) {
        indices.push(f.indices[l] as number);
        if (f.weights !== null) weights.push(f.weights[l] as number);
      }
      lengths[i] = f.lengths[i] as number;
    }
    return {
      lengths,
      offsets: offsetsFromLengths(lengths),
      indices: Int32Array.from(indices),
      weights: f.weights === null ? null : Float32Array.from(weights),
    };
  });
  return { ...d, sparse };
}

test("per-sample weights, learned weighted pooling and mean pooling, variable bags with empty ones and fixed bags: ONNX Runtime = dlrm predict", async () => {
  const t = tempDir();
  try {
    for (const [pooling, weights, learned] of [
      ["mean", false, false],
      ["sum", true, false],
      ["mean", true, false],
      ["sum", false, true],
      ["mean", true, true],
    ] as const) {
      const config = parseConfig({
        ...SMALL,
        pooling,
        per_sample_weights: weights,
        ...(learned ? { weighted_pooling: "learned" } : {}),
      });
      const { model, checkpoint } = await modelFiles(t.dir, config, 11, "ckpt.safetensors", (m) => {
        // Learned weights start at one (no weighting): make them differ per row, so that a graph
        // that dropped them would predict otherwise.
        for (const [name, p] of m.namedParameters())
          if (name.startsWith("v_W_l.")) p.data.forEach((_, r, w) => (w[r] = 0.25 + ((r * 37) % 11) / 5));
      });
      const dataPath = join(t.dir, "data.safetensors");
      const gen = (fixed: boolean): Dataset =>
        randomDataset({
          n: 30,
          denseFeatures: 3,
          tableSizes: SMALL.table_sizes,
          numIndicesPerLookup: 3,
          numIndicesPerLookupFixed: fixed,
          seed: 5,
          perSampleWeights: weights,
        });
      const what = `${pooling}${weights ? ", weights" : ""}${learned ? ", learned pooling" : ""}`;
      writeBatchFile(dataPath, withEmptyBags(gen(false)));
      await checkAgainstPredict(t.dir, checkpoint, model, dataPath, null, `${what}, variable bags`);
      writeBatchFile(dataPath, gen(true));
      await checkAgainstPredict(t.dir, checkpoint, model, dataPath, 3, `${what}, fixed bags of 3`);
    }
  } finally {
    t.cleanup();
  }
});

test("--external-over: tables past it go to <out>.data at 4096-aligned offsets; ONNX Runtime reads them and predicts the same", async () => {
  const t = tempDir();
  try {
    const { model, checkpoint } = await modelFiles(t.dir, parseConfig(SMALL), 2);
    const dataPath = join(t.dir, "data.safetensors");
    writeBatchFile(
      dataPath,
      randomDataset({
        n: 20,
        denseFeatures: 3,
        tableSizes: SMALL.table_sizes,
        numIndicesPerLookup: 2,
        numIndicesPerLookupFixed: false,
        seed: 1,
      }),
    );
    // Tables of 9·4·4 = 144, 480 and 80 bytes: over 100 are tables 0 and 1.
    const r = await runCli([
      "export",
      "--checkpoint",
      checkpoint,
      "--model",
      model,
      "--out",
      join(t.dir, "model.onnx"),
      "--external-over",
      "100",
    ]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /tables 0, 1 \(4576 bytes\) in .*model\.onnx\.data/);
    assert.is(statSync(join(t.dir, "model.onnx.data")).size, 4096 + 480);
    await checkAgainstPredict(t.dir, checkpoint, model, dataPath, null, "external tables", ["--external-over", "100"]);
  } finally {
    t.cleanup();
  }
});

test("external data: tables over 2 GiB, then the largest until the rest fits protobuf's 2 GiB limit", () => {
  const cfg = (tables: number[]): DLRMConfig =>
    parseConfig({
      ...SMALL,
      embedding_dim: 4,
      bottom_mlp: [3, 8, 4],
      table_sizes: tables,
      top_mlp: [interactionWidth(4, tables.length, "dot", false), 1],
    });
  const GiB = 2 ** 30;
  const rows = (bytes: number): number => bytes / 16; // E = 4 floats per row
  assert.equal([...externalTables(cfg([rows(GiB), rows(GiB / 2)]), 2 * GiB)], []);
  assert.equal([...externalTables(cfg([rows(GiB), rows(2 * GiB + 16), rows(GiB / 2)]), 2 * GiB)], [1]);
  // 1.5 + 1 GiB inline would pass 2 GiB: the largest goes out.
  assert.equal([...externalTables(cfg([rows(GiB), rows(1.5 * GiB), 10]), 2 * GiB)], [1]);
  assert.equal([...externalTables(cfg([rows(GiB), rows(GiB), rows(GiB)]), 2 * GiB)].length, 2);
});

test("a checkpoint with features the export cannot express: a one-line error naming the feature", async () => {
  const t = tempDir();
  try {
    const config = parseConfig(SMALL);
    const { model, checkpoint: plain } = await modelFiles(t.dir, config, 1, "plain.safetensors");
    const tensors = readSafetensors(plain).tensors;
    const out = join(t.dir, "model.onnx");

    const qr = join(t.dir, "qr.safetensors");
    const qrTensors = new Map(tensors);
    qrTensors.delete("emb_l.1.weight");
    qrTensors.set("emb_l.1.weight_q", { dtype: "F32", shape: [8, 4], data: new Float32Array(32) });
    qrTensors.set("emb_l.1.weight_r", { dtype: "F32", shape: [4, 4], data: new Float32Array(16) });
    writeSafetensors(qr, qrTensors);
    let r = await runCli(["export", "--checkpoint", qr, "--model", model, "--out", out]);
    assert.is(r.code, 1);
    assert.is(
      r.stderr,
      `dlrm: export: ${qr}: quotient-remainder embeddings (table 1, "emb_l.1.weight_q") cannot be exported to ONNX (plain tables only)\n`,
    );

    const md = join(t.dir, "md.safetensors");
    const mdTensors = new Map(tensors);
    mdTensors.delete("emb_l.0.weight");
    mdTensors.set("emb_l.0.embs.weight", { dtype: "F32", shape: [9, 2], data: new Float32Array(18) });
    mdTensors.set("emb_l.0.proj.weight", { dtype: "F32", shape: [4, 2], data: new Float32Array(8) });
    writeSafetensors(md, mdTensors);
    r = await runCli(["export", "--checkpoint", md, "--model", model, "--out", out]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /^dlrm: export: .*: mixed-dimension embeddings \(table 0, "emb_l\.0\.embs\.weight"\) cannot be exported to ONNX/,
    );
    assert.is(r.stderr.split("\n").length, 2);
    assert.not.ok(existsSync(out));

    // A config field the exporter has not decided about (a feature added to the model later).
    const later = { ...config, qr_flag: true };
    assert.throws(
      () => exportOnnx(later, plain, out, { bagSize: null, externalOver: 2 ** 31 }),
      /export: the model's "qr_flag" is a feature the ONNX export does not express/,
    );
  } finally {
    t.cleanup();
  }
});

test("a .pt checkpoint exports as its safetensors twin does, byte for byte", async () => {
  const t = tempDir();
  try {
    const config = parseConfig(SMALL);
    const m = new DLRM(config, 4);
    const opts = { bagSize: null, externalOver: 2 ** 31 };
    const files = ["m.pt", "m.safetensors"].map((name) => join(t.dir, name));
    for (const f of files) await saveCheckpoint(f, m, {}, null, null, "F32", checkpointFormat(f));
    files.forEach((f, i) => exportOnnx(config, f, join(t.dir, `m${i}.onnx`), opts));
    assert.ok(readFileSync(join(t.dir, "m0.onnx")).equals(readFileSync(join(t.dir, "m1.onnx"))));
  } finally {
    t.cleanup();
  }
});

test("dlrm export: usage errors exit 2 with the flag named, an output in a missing folder too", async () => {
  const t = tempDir();
  try {
    const ckpt = join(t.dir, "ckpt.safetensors");
    const cases: [string[], RegExp][] = [
      [["export", "--out", join(t.dir, "m.onnx")], /export: --checkpoint is required/],
      [["export", "--checkpoint", ckpt], /export: --out is required/],
      [
        ["export", "--checkpoint", ckpt, "--out", ckpt],
        /export: --out .*ckpt\.safetensors is the same file as --checkpoint .*: writing it would destroy an input/,
      ],
      [
        ["export", "--checkpoint", ckpt, "--out", join(t.dir, "m.onnx"), "--bag-size", "0"],
        /export: --bag-size must be a positive integer, got 0/,
      ],
      [
        ["export", "--checkpoint", ckpt, "--out", join(t.dir, "m.onnx"), "--external-over", "-1"],
        /export: --external-over must be a non-negative number of bytes/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.is(r.code, 2, args.join(" "));
      assert.match(r.stderr, message);
    }
    // An output folder that does not exist: refused before the work (src/cli/paths.ts), one line naming the output.
    const { model, checkpoint } = await modelFiles(t.dir, parseConfig(SMALL), 1);
    const missing = join(t.dir, "no-such-folder", "m.onnx");
    const r = await runCli(["export", "--checkpoint", checkpoint, "--model", model, "--out", missing]);
    assert.is(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(
        `^dlrm: export: --out ${missing.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the folder .* does not exist\n$`,
      ),
    );
    const help = await runCli(["export", "--help"]);
    assert.is(help.code, 0);
    assert.match(help.stdout, /--bag-size <L>/);
  } finally {
    t.cleanup();
  }
});

test.run();
