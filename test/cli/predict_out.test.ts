// Issue 24 item 13: `dlrm predict --out` writes what its extension says (.safetensors, .csv,
// .jsonl) and refuses any other before any work; an evaluation on a handful of samples warns
// that its metrics are loose (dlrm train's eval, dlrm predict --metrics).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { Rng } from "../../src/tensor/rng.ts";

/** n lines of Criteo's TSV layout: a label, 13 integers, 26 hex categories (few distinct values). */
function criteoTsv(n: number, seed: number): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const ints = Array.from({ length: 13 }, () => String(Math.floor(rng.uniform() * 20)));
    const cats = Array.from({ length: 26 }, () => (Math.floor(rng.uniform() * 5) + 0xa0).toString(16).padStart(8, "0"));
    lines.push([rng.uniform() < 0.3 ? "1" : "0", ...ints, ...cats].join("\t"));
  }
  return `${lines.join("\n")}\n`;
}

test("predict --out: .safetensors, .csv and .jsonl hold the same predictions; other extensions are refused first", async () => {
  const t = tempDir();
  try {
    const tsv = join(t.dir, "day.txt");
    writeFileSync(tsv, criteoTsv(60, 1));
    const batches = join(t.dir, "b.safetensors");
    const model = join(t.dir, "m.safetensors");
    for (const args of [
      ["preprocess", "criteo", tsv, "--out", batches],
      ["train", "--data", batches, "--steps", "2", "--batch-size", "16", "--workers", "1", "--save", model],
    ]) {
      const r = await runCli(args);
      assert.is(r.code, 0, r.stderr);
    }
    const predict = (out: string) =>
      runCli(["predict", "--checkpoint", model, "--data", batches, "--out", join(t.dir, out)]);
    for (const out of ["p.safetensors", "p.csv", "p.jsonl"]) assert.is((await predict(out)).code, 0, out);
    const pred = Array.from(readSafetensors(join(t.dir, "p.safetensors")).tensors.get("pred")?.data as Float32Array);
    const labels = Array.from(readSafetensors(batches).tensors.get("labels")?.data as Float32Array);
    assert.is(pred.length, 60);
    const csv = readFileSync(join(t.dir, "p.csv"), "utf8").trim().split("\n");
    assert.is(csv[0], "pred,label");
    assert.equal(
      csv.slice(1).map((l) => Math.fround(Number(l.split(",")[0]))),
      pred,
    );
    assert.equal(
      csv.slice(1).map((l) => Number(l.split(",")[1])),
      labels,
    );
    const jsonl = readFileSync(join(t.dir, "p.jsonl"), "utf8").trim().split("\n");
    assert.equal(
      jsonl.map((l) => Math.fround((JSON.parse(l) as { pred: number }).pred)),
      pred,
    );
    for (const out of ["p.txt", "p"]) {
      const r = await predict(out);
      assert.is(r.code, 2, out);
      assert.match(r.stderr, /^dlrm: predict: --out .*: write predictions to \.safetensors, \.csv or \.jsonl \(got "/);
      assert.not.ok(existsSync(join(t.dir, out)));
    }
    // a tiny evaluation is said to be loose, by predict --metrics and by train's eval
    const m = await runCli(["predict", "--checkpoint", model, "--data", batches, "--metrics"]);
    assert.is(m.code, 0, m.stderr);
    assert.match(m.stderr, /^dlrm predict: warning: the evaluation set has only 60 samples \(fewer than 1000\)/m);
    const tr = await runCli([
      "train",
      "--data",
      `criteo:${tsv}`,
      "--steps",
      "1",
      "--batch-size",
      "8",
      "--workers",
      "1",
    ]);
    assert.is(tr.code, 0, tr.stderr);
    assert.match(tr.stderr, /^dlrm train: warning: the evaluation set has only \d+ samples/m);
  } finally {
    t.cleanup();
  }
});

test.run();
