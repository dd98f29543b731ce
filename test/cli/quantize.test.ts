// `dlrm predict --quantize-emb-with-bit 8|4` and `dlrm convert --quantize-emb-with-bit`:
// a model trained through the CLI on synthetic data predicts, with quantized tables, what the
// library's QuantizedDLRM predicts (bit for bit) and near its float32 predictions; the table
// bytes are reported; convert writes U8 tables that predict reads back to the same bits; the
// reference's spelling (--quantize-emb-with-bit=8, 32 = float32) is accepted on predict and
// pointed there from train; flags that cannot go together are usage errors. On MovieLens
// (skipped when ../shared/data lacks it), predict --data movielens:<dir> scores the test split
// train evaluated: the float32 AUC is train's, to the last digit.
//
// Glossary: N samples.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { DLRM } from "../../src/dlrm/model.ts";
import { loadCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { checkpointConfig } from "../../src/dlrm/infer_config.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { QuantizedDLRM } from "../../src/interop/quantized/quantized.ts";
import { readSafetensors, readSafetensorsIndex } from "../../src/io/safetensors.ts";
import { heldOutSize } from "../../src/data/generated.ts";
import { syntheticData } from "../../src/dlrm/synthetic.ts";
import { translateReferenceFlags } from "../../src/cli/reference_flags.ts";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { DATA } from "../helpers/golden.ts";
import { existsSync } from "node:fs";

const t = tempDir();
const ckpt = join(t.dir, "syn.safetensors");

/** dlrm predict of a checkpoint on the synthetic held-out split, written to out, with more flags. */
function predictSynthetic(checkpoint: string, out: string, ...extra: string[]): ReturnType<typeof runCli> {
  return runCli(["predict", "--checkpoint", checkpoint, "--data", "synthetic", "--out", out, ...extra]);
}

function preds(path: string): Float32Array {
  return readSafetensors(path).tensors.get("pred")?.data as Float32Array;
}

test("setup: train a small synthetic model through the CLI", async () => {
  const r = await runCli([
    "train",
    "--data",
    "synthetic",
    "--steps",
    "40",
    "--data-size",
    "3000",
    "--workers",
    "1",
    "--save",
    ckpt,
  ]);
  assert.is(r.code, 0, r.stderr);
});

test("predict --quantize-emb-with-bit 8|4: QuantizedDLRM's predictions on the held-out split train scored, near float32's", async () => {
  const p32 = join(t.dir, "p32.safetensors");
  const f = await predictSynthetic(ckpt, p32, "--metrics");
  assert.is(f.code, 0, f.stderr);
  const float32 = preds(p32);
  assert.is(float32.length, heldOutSize(3000)); // the split dlrm train drew beside its 3000 samples
  assert.is(lastJson(f.stdout).n, float32.length);

  const config = checkpointConfig(readCheckpointIndex(ckpt));
  const model = new DLRM(config, 0);
  loadCheckpoint(ckpt, model);
  const evalSplit = syntheticData(config, { sizes: [3000, heldOutSize(3000)], seed: 123 }).splits[1];
  assert.ok(evalSplit !== undefined);
  for (const bits of [8, 4] as const) {
    const out = join(t.dir, `p${bits}.safetensors`);
    const r = await predictSynthetic(ckpt, out, "--quantize-emb-with-bit", String(bits), "--metrics");
    assert.is(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`int${bits} tables \\(fbgemm row-wise\\): .* \\(${bits === 8 ? "2.67" : "5.33"}× smaller\\)`),
    );
    const got = preds(out);
    const want = QuantizedDLRM.fromModel(model, bits).predict(evalSplit, 4096);
    assert.equal(Array.from(got), Array.from(want));
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (float32[i] as number)));
    assert.ok(worst > 0 && worst < (bits === 8 ? 1e-2 : 1e-1), `int${bits}: up to ${worst} from float32`);
    const m = lastJson(r.stdout);
    assert.ok(Math.abs((m.auc as number) - (lastJson(f.stdout).auc as number)) < 0.02, `AUC ${m.auc}`);
  }
  // 32 is float32, as in the reference
  const same = join(t.dir, "same.safetensors");
  const r = await predictSynthetic(ckpt, same, "--quantize-emb-with-bit=32");
  assert.is(r.code, 0, r.stderr);
  assert.equal(Array.from(preds(same)), Array.from(float32));
});

test("convert --quantize-emb-with-bit: U8 [R, row bytes] tables with the layout in the metadata, which predict reads to the same bits", async () => {
  for (const bits of [8, 4] as const) {
    const q = join(t.dir, `q${bits}.safetensors`);
    const c = await runCli(["convert", ckpt, q, "--quantize-emb-with-bit", String(bits)]);
    assert.is(c.code, 0, c.stderr);
    const index = readSafetensorsIndex(q);
    const E = 16;
    const table = index.entries.get("emb_l.0.weight");
    assert.equal([table?.dtype, table?.shape[1]], ["U8", bits === 8 ? E + 8 : E / 2 + 4]);
    assert.is(index.entries.get("bot_l.0.weight")?.dtype, "F32");
    assert.match(index.metadata.dlrm_quantized as string, bits === 8 ? /fbgemm_fused_rowwise_uint8/ : /uint4_fp16/);
    const out = join(t.dir, `pq${bits}.safetensors`);
    const r = await predictSynthetic(q, out);
    assert.is(r.code, 0, r.stderr);
    assert.equal(readFileSync(out), readFileSync(join(t.dir, `p${bits}.safetensors`)));
    // a quantized file is smaller than the float32 one by about its tables' ratio
    assert.ok(readFileSync(q).length < readFileSync(ckpt).length / 2);
  }
  const bad = await predictSynthetic(
    join(t.dir, "q8.safetensors"),
    join(t.dir, "x.safetensors"),
    "--quantize-emb-with-bit",
    "4",
  );
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /holds int8 tables; --quantize-emb-with-bit 4 cannot requantize them/);
  const again = await runCli([
    "convert",
    join(t.dir, "q8.safetensors"),
    join(t.dir, "qq.safetensors"),
    "--quantize-emb-with-bit",
    "8",
  ]);
  assert.is(again.code, 2);
  assert.match(again.stderr, /already holds int8 tables/);
});

test("the reference's --quantize-emb-with-bit on predict; on train it points to predict; bad values and combinations are usage errors", async () => {
  // our spelling with "=" reads alike; in a reference line the flag is passed on to predict
  const out = join(t.dir, "ref.safetensors");
  const r = await predictSynthetic(ckpt, out, "--quantize-emb-with-bit=8");
  assert.is(r.code, 0, r.stderr);
  assert.equal(readFileSync(out), readFileSync(join(t.dir, "p8.safetensors")));
  const argv = translateReferenceFlags("predict", [
    "--arch-sparse-feature-size=2",
    "--load-model",
    ckpt,
    "--quantize-emb-with-bit=4",
  ]);
  assert.ok(argv.join(" ").includes(`--quantize-emb-with-bit 4`), argv.join(" "));
  assert.ok(argv.join(" ").includes(`--checkpoint ${ckpt}`), argv.join(" "));
  const train = await runCli(["train", "--arch-mlp-bot=4-3-2", "--quantize-emb-with-bit=4"]);
  assert.is(train.code, 2);
  assert.match(train.stderr, /quantized tables are for inference: use `dlrm predict --quantize-emb-with-bit 4`/);
  for (const [args, pattern] of [
    [["--quantize-emb-with-bit", "2"], /--quantize-emb-with-bit takes 8 or 4 \(or 32: float32 tables\), got 2/],
    [["--quantize-emb-with-bit", "8", "--workers", "2"], /predict on this thread: leave out --workers 2/],
    [["--split", "u2"], /--split applies to movielens:<dir> data only, not to --data synthetic/],
  ] as const) {
    const e = await predictSynthetic(ckpt, join(t.dir, "e.safetensors"), ...args);
    assert.is(e.code, 2, e.stderr);
    assert.match(e.stderr, pattern);
  }
  const c = await runCli([
    "convert",
    ckpt,
    join(t.dir, "c.safetensors"),
    "--quantize-emb-with-bit",
    "8",
    "--to",
    "torchrec",
  ]);
  assert.is(c.code, 2);
  assert.match(c.stderr, /--quantize-emb-with-bit writes reference names; leave out --to/);
});

const ML = `${DATA}ml-100k`;
const haveMovieLens = existsSync(join(ML, "u.data"));
if (!haveMovieLens)
  console.log(`cli quantize tests: skipping the MovieLens test, ${ML} is absent (see ../shared/data/README.md)`);

(haveMovieLens ? test : test.skip)(
  "MovieLens: predict --data movielens:<dir> scores train's test split (same AUC); int8 and int4 near it",
  async () => {
    const m = join(t.dir, "ml.safetensors");
    const tr = await runCli([
      "train",
      "--data",
      `movielens:${ML}`,
      "--split",
      "u2",
      "--ensemble",
      "1",
      "--steps",
      "30",
      "--workers",
      "1", // the same thread as predict: the same float32 sums, so the same AUC to the last bit
      "--save",
      m,
    ]);
    assert.is(tr.code, 0, tr.stderr);
    const trained = lastJson(tr.stdout);
    for (const bits of [32, 8, 4]) {
      const r = await runCli([
        "predict",
        "--checkpoint",
        m,
        "--data",
        `movielens:${ML}`,
        "--split",
        "u2",
        "--out",
        join(t.dir, "mlp.safetensors"),
        "--metrics",
        "--quantize-emb-with-bit",
        String(bits),
      ]);
      assert.is(r.code, 0, r.stderr);
      const got = lastJson(r.stdout);
      assert.is(got.n, 20000);
      if (bits === 32) assert.is(got.auc, trained.auc);
      else
        assert.ok(
          Math.abs((got.auc as number) - (trained.auc as number)) < 5e-3,
          `int${bits}: AUC ${got.auc} vs ${trained.auc}`,
        );
    }
  },
);

test("cleanup", () => t.cleanup());

test.run();
