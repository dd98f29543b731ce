// Evaluation in `dlrm train`: --test-freq prints an eval line every N steps and the final
// one is always the last line of stdout (never printed twice); the log holds the same
// events; and the final metrics are those of the saved model's predictions, recomputed here
// naively (AUC by counting pairs, logloss, accuracy, NE and calibration by their
// definitions), in the eval line and in the --log's; a one-class eval set prints NE and
// calibration as null with a note; predict
// without --model uses the config the checkpoint records; an ensemble's final metrics are
// those of its members' mean prediction.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";

const TINY = {
  dense_features: 3,
  bottom_mlp: [3, 4, 2],
  embedding_dim: 2,
  table_sizes: [5, 7],
  top_mlp: [5, 4, 1],
  batch_size: 4,
  steps: 5,
  lr: 0.1,
};

function setup(): { dir: string; cleanup: () => void; model: string; train: string; evalData: string } {
  const t = tempDir();
  const model = join(t.dir, "model.json");
  writeFileSync(model, JSON.stringify(TINY));
  const gen = (n: number, seed: number): ReturnType<typeof randomDataset> =>
    randomDataset({
      n,
      denseFeatures: 3,
      tableSizes: [5, 7],
      numIndicesPerLookup: 2,
      numIndicesPerLookupFixed: false,
      seed,
    });
  const train = join(t.dir, "train.safetensors");
  const evalData = join(t.dir, "eval.safetensors");
  writeBatchFile(train, gen(40, 1));
  writeBatchFile(evalData, gen(30, 2));
  return { ...t, model, train, evalData };
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** AUC by its definition: P(score of a positive > score of a negative), ties count half. */
function naiveAuc(pred: readonly number[], y: readonly number[]): number {
  let wins = 0;
  let pairs = 0;
  y.forEach((yi, i) =>
    y.forEach((yj, j) => {
      if (yi !== 1 || yj !== 0) return;
      pairs++;
      wins += (pred[i] as number) > (pred[j] as number) ? 1 : pred[i] === pred[j] ? 0.5 : 0;
    }),
  );
  return wins / pairs;
}

test("--test-freq: an eval line every N steps, the final one last and once", async () => {
  const s = setup();
  try {
    const log = join(s.dir, "log.jsonl");
    let r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.train,
      "--eval-data",
      s.evalData,
      "--test-freq",
      "2",
      "--log",
      log,
    ]);
    assert.is(r.code, 0, r.stderr);
    let lines = jsonLines(r.stdout);
    assert.equal(
      lines.map((l) => l.step),
      [2, 4, 5],
    );
    assert.ok(
      lines.every((l) => l.event === "eval" && ["auc", "logloss", "accuracy"].every((k) => typeof l[k] === "number")),
    );
    assert.ok("train_loss" in (lines[2] as object));
    const events = jsonLines(readFileSync(log, "utf8")).filter((l) => l.event === "eval");
    assert.equal(
      events.map((l) => l.step),
      [2, 4, 5],
    );

    // A period that divides the steps: the last step's eval is printed once, as the final line.
    r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.train,
      "--eval-data",
      s.evalData,
      "--steps",
      "4",
      "--test-freq",
      "2",
    ]);
    lines = jsonLines(r.stdout);
    assert.equal(
      lines.map((l) => l.step),
      [2, 4],
    );
    assert.ok("train_loss" in (lines[1] as object));
  } finally {
    s.cleanup();
  }
});

test("the final metrics are the saved model's metrics on the eval data (recomputed naively)", async () => {
  const s = setup();
  try {
    const ckpt = join(s.dir, "ckpt.safetensors");
    const preds = join(s.dir, "pred.safetensors");
    const r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.train,
      "--eval-data",
      s.evalData,
      "--steps",
      "7",
      "--save",
      ckpt,
      "--log",
      join(s.dir, "log.jsonl"),
    ]);
    assert.is(r.code, 0, r.stderr);
    const final = jsonLines(r.stdout).pop() as Record<string, number>;
    const logged = jsonLines(readFileSync(join(s.dir, "log.jsonl"), "utf8")).pop() as Record<string, number>;
    const p = await runCli(["predict", "--model", s.model, "--checkpoint", ckpt, "--data", s.evalData, "--out", preds]);
    assert.is(p.code, 0, p.stderr);
    const pred = Array.from(readSafetensors(preds).tensors.get("pred")?.data ?? [], Number);
    // Without --model, predict takes the config the checkpoint records: the same predictions.
    const preds2 = join(s.dir, "pred2.safetensors");
    assert.is((await runCli(["predict", "--checkpoint", ckpt, "--data", s.evalData, "--out", preds2])).code, 0);
    assert.equal(Array.from(readSafetensors(preds2).tensors.get("pred")?.data ?? [], Number), pred);
    const y = Array.from(readBatchFile(s.evalData).labels);
    const eps = 2 ** -23;
    const logloss =
      -y.reduce((acc, yi, i) => {
        const q = Math.min(1 - eps, Math.max(eps, pred[i] as number));
        return acc + (yi === 1 ? Math.log(q) : Math.log(1 - q));
      }, 0) / y.length;
    const accuracy = y.filter((yi, i) => Math.round(pred[i] as number) === yi).length / y.length;
    // Same float32 predictions on both sides; the sums differ only in float64 order: 1e-12.
    assert.ok(Math.abs(final.auc - naiveAuc(pred, y)) < 1e-12, `auc ${final.auc} vs ${naiveAuc(pred, y)}`);
    assert.ok(Math.abs(final.logloss - logloss) < 1e-12, `logloss ${final.logloss} vs ${logloss}`);
    assert.ok(Math.abs(final.accuracy - accuracy) < 1e-12, `accuracy ${final.accuracy} vs ${accuracy}`);
    assert.is(final.n, 30);
    // NE: logloss over the entropy of the eval set's base rate; calibration: mean prediction over base rate.
    const rate = y.reduce((a, b) => a + b, 0) / y.length;
    assert.ok(rate > 0 && rate < 1, `the eval set has both classes (base rate ${rate})`);
    const ne = logloss / -(rate * Math.log(rate) + (1 - rate) * Math.log(1 - rate));
    const calibration = pred.reduce((a, b) => a + b, 0) / y.length / rate;
    for (const [where, line] of [
      ["eval line", final],
      ["--log eval line", logged],
    ] as const) {
      assert.ok(Math.abs(line.ne - ne) < 1e-12, `${where}: ne ${line.ne} vs ${ne}`);
      assert.ok(
        Math.abs(line.calibration - calibration) < 1e-12,
        `${where}: calibration ${line.calibration} vs ${calibration}`,
      );
    }
    // predict --metrics without --out: the same metrics, printed, and no file written.
    const m = await runCli(["predict", "--checkpoint", ckpt, "--data", s.evalData, "--metrics"]);
    assert.is(m.code, 0, m.stderr);
    const printed = jsonLines(m.stdout).pop() as Record<string, number>;
    assert.ok(Math.abs(printed.auc - naiveAuc(pred, y)) < 1e-12, `predict --metrics auc ${printed.auc}`);
    assert.ok(Math.abs(printed.logloss - logloss) < 1e-12, `predict --metrics logloss ${printed.logloss}`);
    assert.ok(Math.abs(printed.ne - ne) < 1e-12, `predict --metrics ne ${printed.ne}`);
    assert.ok(
      Math.abs(printed.calibration - calibration) < 1e-12,
      `predict --metrics calibration ${printed.calibration}`,
    );
    // A set of negatives only: NE and calibration are undefined, printed as null, with a note on stderr.
    const negatives = join(s.dir, "negatives.safetensors");
    const evalSet = readBatchFile(s.evalData);
    writeBatchFile(negatives, { ...evalSet, labels: new Float32Array(evalSet.n) });
    const one = await runCli(["predict", "--checkpoint", ckpt, "--data", negatives, "--metrics"]);
    assert.is(one.code, 0, one.stderr);
    const oneLine = jsonLines(one.stdout).pop() as Record<string, unknown>;
    assert.equal([oneLine.auc, oneLine.ne, oneLine.calibration], [null, null, null]);
    assert.match(one.stderr, /the labels are all 0 \(base rate 0\): AUC, NE and calibration are undefined \(null\)/);
    assert.not.match(m.stderr, /wrote/);
    // Data predict does not score as it is: one line naming it.
    for (const data of ["random", "criteo:x.txt"]) {
      const e = await runCli(["predict", "--checkpoint", ckpt, "--data", data, "--metrics"]);
      assert.is(e.code, 2, e.stderr);
      assert.match(
        e.stderr,
        new RegExp(
          `^dlrm: predict: --data ${data.replace(".", "\\.")} is not scored as it is: predict scores a batch file`,
        ),
      );
    }
  } finally {
    s.cleanup();
  }
});

test("--ensemble 3: member files, a member's eval line each, and the mean of the members' predictions as the final metrics", async () => {
  const s = setup();
  try {
    const ckpt = join(s.dir, "ens.safetensors");
    const r = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.train,
      "--eval-data",
      s.evalData,
      "--steps",
      "7",
      "--seed",
      "5",
      "--ensemble",
      "3",
      "--save",
      ckpt,
    ]);
    assert.is(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.equal(
      lines.map((l) => l.member ?? "final"),
      [0, 1, 2, "final"],
    );
    const final = lines[3] as Record<string, number>;
    assert.is(final.ensemble, 3);
    // Each member's predictions, from its own checkpoint; their mean computed here in float64,
    // rounded to float32 as the CLI stores it.
    const memberPreds: number[][] = [];
    for (const k of [0, 1, 2]) {
      const out = join(s.dir, `pred${k}.safetensors`);
      const p = await runCli([
        "predict",
        "--checkpoint",
        join(s.dir, `ens.member${k}.safetensors`),
        "--data",
        s.evalData,
        "--out",
        out,
      ]);
      assert.is(p.code, 0, p.stderr);
      memberPreds.push(Array.from(readSafetensors(out).tensors.get("pred")?.data ?? [], Number));
    }
    const mean = (memberPreds[0] as number[]).map((_, i) =>
      Math.fround(memberPreds.reduce((a, p) => a + (p[i] as number), 0) / 3),
    );
    const y = Array.from(readBatchFile(s.evalData).labels);
    assert.ok(Math.abs(final.auc - naiveAuc(mean, y)) < 1e-12, `auc ${final.auc} vs ${naiveAuc(mean, y)}`);
    // Each member's line holds that member's metrics; member 0 is the plain run of seed 5.
    memberPreds.forEach((p, k) =>
      assert.ok(Math.abs((lines[k]?.auc as number) - naiveAuc(p, y)) < 1e-12, `member ${k}`),
    );
    const plain = await runCli([
      "train",
      "--model",
      s.model,
      "--data",
      s.train,
      "--eval-data",
      s.evalData,
      "--steps",
      "7",
      "--seed",
      "5",
    ]);
    assert.is((jsonLines(plain.stdout).pop() as Record<string, number>).auc, lines[0]?.auc);
    // predict with all three checkpoints writes the same mean.
    const all = join(s.dir, "pred_all.safetensors");
    const members = [0, 1, 2].map((k) => join(s.dir, `ens.member${k}.safetensors`)).join(",");
    assert.is((await runCli(["predict", "--checkpoint", members, "--data", s.evalData, "--out", all])).code, 0);
    assert.equal(Array.from(readSafetensors(all).tensors.get("pred")?.data ?? [], Number), mean);
  } finally {
    s.cleanup();
  }
});

test("a batch file that dlrm preprocess criteo did not write: Criteo's flags and Criteo eval data are refused before training", async () => {
  const s = setup();
  try {
    for (const [extra, pattern] of [
      [
        ["--data-sub-sample-rate", "0.5"],
        /^dlrm: train: --data-sub-sample-rate applies to Criteo data .*, not to --data .*train\.safetensors\n$/,
      ],
      [
        ["--max-ind-range", "10"],
        /^dlrm: train: --max-ind-range applies to Criteo data .*, not to --data .*train\.safetensors\n$/,
      ],
      [
        ["--eval-data", "criteo:x.txt"],
        /^dlrm: train: --eval-data criteo:x\.txt needs the dictionary of the training data/,
      ],
      [["--split", "u1"], /^dlrm: train: --split applies to movielens:<dir> data only/],
    ] as [string[], RegExp][]) {
      const r = await runCli(["train", "--model", s.model, "--data", s.train, ...extra]);
      assert.is(r.code, 2, `${extra.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.is(r.stdout, "", "nothing trained");
    }
  } finally {
    s.cleanup();
  }
});

test.run();
