// `dlrm train --data criteo:…` and `dlrm preprocess criteo` on the 200-row Criteo sample:
// the reference's split (counted by hand), sub-sampling, --max-ind-range, the preprocessed
// file checked against an independent parse of the raw lines, the preprocess → train round
// trip, a dictionary reused for eval data, several files, bad lines, and usage errors.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { DATA } from "../helpers/golden.ts";

const SAMPLE = `${DATA}criteo-sample/train.txt`;
const haveSample = existsSync(SAMPLE);
if (!haveSample) {
  console.log(
    `cli criteo tests: skipping the real-data tests, ${SAMPLE} is absent (the Criteo Kaggle data is published by Criteo AI Lab; see ../shared/data/README.md)`,
  );
}
const withSample = haveSample ? test : test.skip;
const sampleLines = (): string[] =>
  readFileSync(SAMPLE, "latin1")
    .split("\n")
    .filter((l) => l !== "");

/** The reference's numbering, naively: per feature, raw (hex → int, mod R) values get ids in
 *  order of first appearance; with `known`, unseen values get the unknown row (known size). */
function numberIds(
  lines: string[],
  R = 0,
  known?: Map<number, number>[],
): { ids: number[][]; maps: Map<number, number>[] } {
  const maps = known ?? Array.from({ length: 26 }, () => new Map<number, number>());
  const ids: number[][] = maps.map(() => []);
  for (const line of lines) {
    const f = line.split("\t");
    for (let t = 0; t < 26; t++) {
      const text = f[14 + t] as string;
      let v = text === "" ? 0 : parseInt(text, 16);
      if (R > 0) v %= R;
      const m = maps[t] as Map<number, number>;
      let id = m.get(v);
      if (id === undefined) {
        if (known !== undefined) id = m.size;
        else m.set(v, (id = m.size));
      }
      (ids[t] as number[]).push(id);
    }
  }
  return { ids, maps };
}

/** "dlrm train: N samples, …" on stderr. */
function trainSamples(stderr: string): number {
  const m = /dlrm train: (\d+) samples/.exec(stderr);
  assert.ok(m !== null, stderr);
  return Number(m[1]);
}

withSample(
  "criteo:<file> trains on the first 6 of 7 day-splits and evaluates on the first half of the last",
  async () => {
    // 200 rows: 200 = 7·28 + 4, so the days hold 29, 29, 29, 29, 28, 28, 28 rows;
    // train = 4·29 + 2·28 = 172, test = the first 14 of the last 28.
    const r = await runCli(["train", "--data", `criteo:${SAMPLE}`, "--steps", "2", "--batch-size", "16"]);
    assert.is(r.code, 0, r.stderr);
    assert.is(trainSamples(r.stderr), 172);
    const ev = lastJson(r.stdout);
    assert.is(ev.event, "eval");
    assert.is(ev.n, 14);
    assert.match(r.stderr, /26 tables/);
  },
);

withSample(
  "--data-sub-sample-rate 1 drops every negative line of every day before the split, as the reference",
  async () => {
    // The reference cuts the 200 lines into days of 29, 29, 29, 29, 28, 28, 28 first, then drops
    // negatives within each day: train = the positives of lines 0–171, test = the first half
    // (rounded up) of the positives of lines 172–199.
    const positives = (from: number, to: number): number =>
      sampleLines()
        .slice(from, to)
        .filter((l) => l.startsWith("1\t")).length;
    const r = await runCli([
      "train",
      "--data",
      `criteo:${SAMPLE}`,
      "--steps",
      "1",
      "--batch-size",
      "8",
      "--data-sub-sample-rate",
      "1",
    ]);
    assert.is(r.code, 0, r.stderr);
    assert.is(trainSamples(r.stderr), positives(0, 172));
    assert.is(lastJson(r.stdout).n, Math.ceil(positives(172, 200) / 2));
  },
);

withSample(
  "sub-sampling is preprocessing's: the same rows either way, and train refuses to sub-sample a preprocessed file again",
  async () => {
    const t = tempDir();
    try {
      const out = join(t.dir, "s.safetensors");
      const p = await runCli([
        "preprocess",
        "criteo",
        SAMPLE,
        "--out",
        out,
        "--data-sub-sample-rate",
        "0.5",
        "--seed",
        "9",
      ]);
      assert.is(p.code, 0, p.stderr);
      const direct = await runCli([
        "train",
        "--data",
        `criteo:${SAMPLE}`,
        "--steps",
        "1",
        "--batch-size",
        "8",
        "--data-sub-sample-rate",
        "0.5",
        "--seed",
        "9",
      ]);
      const pre = await runCli(["train", "--data", out, "--steps", "1", "--batch-size", "8", "--seed", "9"]);
      assert.is(direct.code, 0, direct.stderr);
      assert.is(pre.code, 0, pre.stderr);
      assert.is(trainSamples(pre.stderr), trainSamples(direct.stderr));
      assert.is(lastJson(pre.stdout).n, lastJson(direct.stdout).n);
      const again = await runCli(["train", "--data", out, "--steps", "1", "--data-sub-sample-rate", "0.25"]);
      assert.is(again.code, 2);
      assert.match(
        again.stderr,
        /--data-sub-sample-rate 0\.25 differs from the 0\.5 that .* was preprocessed with; .* dlrm preprocess criteo --data-sub-sample-rate p/,
      );
    } finally {
      t.cleanup();
    }
  },
);

withSample(
  "preprocess writes every row in file order, as the reference transforms it, and the dictionary beside it",
  async () => {
    const t = tempDir();
    try {
      const out = join(t.dir, "s.safetensors");
      const R = 7;
      const r = await runCli(["preprocess", "criteo", SAMPLE, "--out", out, "--max-ind-range", String(R)]);
      assert.is(r.code, 0, r.stderr);
      const lines = sampleLines();
      const { ids, maps } = numberIds(lines, R);
      const d = readBatchFile(out);
      assert.is(d.n, 200);
      assert.equal(
        Array.from(d.labels),
        lines.map((l) => Number(l.split("\t")[0])),
      );
      // dense = log(max(x, 0) + 1) of each integer field, empty = 0; float32 rounding: rtol 1e-6.
      lines.forEach((line, i) => {
        const f = line.split("\t");
        for (let j = 0; j < 13; j++) {
          const x = f[1 + j] === "" ? 0 : Math.max(0, parseInt(f[1 + j] as string, 10));
          const want = Math.log(x + 1);
          const got = d.dense[i * 13 + j] as number;
          assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(1, want), `row ${i} I${j + 1}: ${got} vs ${want}`);
        }
      });
      ids.forEach((want, t2) => assert.equal(Array.from(d.sparse[t2]?.indices ?? []), want, `C${t2 + 1}`));
      const dict = readSafetensors(join(t.dir, "s.dict.safetensors"));
      maps.forEach((m, t2) =>
        assert.equal(
          Array.from(dict.tensors.get(`C${t2 + 1}`)?.data ?? [], Number),
          [...m.keys()],
          `dictionary C${t2 + 1}`,
        ),
      );
      const summary = lastJson(r.stdout);
      assert.is(summary.rows, 200);
      assert.equal(
        summary.table_sizes,
        maps.map((m) => m.size + 1),
      ); // + the unknown row
      assert.ok((summary.table_sizes as number[]).every((s) => s <= R + 1));
    } finally {
      t.cleanup();
    }
  },
);

withSample(
  "train on the preprocessed file equals train on criteo:<file>: same split, same losses, same metrics",
  async () => {
    const t = tempDir();
    try {
      const out = join(t.dir, "s.safetensors");
      assert.is((await runCli(["preprocess", "criteo", SAMPLE, "--out", out])).code, 0);
      const logA = join(t.dir, "a.jsonl");
      const logB = join(t.dir, "b.jsonl");
      const a = await runCli([
        "train",
        "--data",
        `criteo:${SAMPLE}`,
        "--steps",
        "3",
        "--batch-size",
        "16",
        "--log",
        logA,
      ]);
      const b = await runCli(["train", "--data", out, "--steps", "3", "--batch-size", "16", "--log", logB]);
      assert.is(a.code, 0, a.stderr);
      assert.is(b.code, 0, b.stderr);
      assert.is(trainSamples(b.stderr), 172);
      const withoutTimes = (log: string): string => log.replace(/,"t_ms":[0-9.]+/g, ""); // when each step ended differs, nothing else
      assert.is(withoutTimes(readFileSync(logA, "utf8")), withoutTimes(readFileSync(logB, "utf8")));
      assert.is(a.stdout, b.stdout);
      // With --eval-data both still train on the first 6 day-splits, and evaluate on all 200 rows.
      const c = await runCli([
        "train",
        "--data",
        `criteo:${SAMPLE}`,
        "--eval-data",
        `criteo:${SAMPLE}`,
        "--steps",
        "2",
        "--batch-size",
        "16",
      ]);
      const e = await runCli(["train", "--data", out, "--eval-data", out, "--steps", "2", "--batch-size", "16"]);
      assert.is(trainSamples(c.stderr), 172);
      assert.is(lastJson(c.stdout).n, 200);
      assert.is(c.stdout, e.stdout);
    } finally {
      t.cleanup();
    }
  },
);

withSample(
  "a reused dictionary maps eval data as training mapped it; unseen values go to the unknown row",
  async () => {
    const t = tempDir();
    try {
      const lines = sampleLines();
      const trainTxt = join(t.dir, "train.txt");
      const evalTxt = join(t.dir, "eval.txt");
      writeFileSync(trainTxt, lines.slice(0, 150).join("\n") + "\n");
      writeFileSync(evalTxt, lines.slice(150).join("\n") + "\n");
      const trainOut = join(t.dir, "train.safetensors");
      const evalOut = join(t.dir, "eval.safetensors");
      assert.is((await runCli(["preprocess", "criteo", trainTxt, "--out", trainOut])).code, 0);
      const r = await runCli([
        "preprocess",
        "criteo",
        evalTxt,
        "--out",
        evalOut,
        "--dictionary",
        join(t.dir, "train.dict.safetensors"),
      ]);
      assert.is(r.code, 0, r.stderr);
      const { maps } = numberIds(lines.slice(0, 150));
      const { ids } = numberIds(lines.slice(150), 0, maps);
      const d = readBatchFile(evalOut);
      ids.forEach((want, t2) => assert.equal(Array.from(d.sparse[t2]?.indices ?? []), want, `C${t2 + 1}`));
      assert.ok(
        ids.some((col, t2) => col.includes((maps[t2] as Map<number, number>).size)),
        "some eval value is unseen in training",
      );
      // The same mapping when training reads the raw eval file through the training dictionary:
      // the metrics on the preprocessed eval file and on criteo:eval.txt agree.
      const viaFile = await runCli([
        "train",
        "--data",
        trainOut,
        "--eval-data",
        evalOut,
        "--steps",
        "2",
        "--batch-size",
        "16",
      ]);
      const viaRaw = await runCli([
        "train",
        "--data",
        trainOut,
        "--eval-data",
        `criteo:${evalTxt}`,
        "--steps",
        "2",
        "--batch-size",
        "16",
      ]);
      assert.is(viaFile.code, 0, viaFile.stderr);
      assert.is(viaFile.stdout, viaRaw.stdout);
    } finally {
      t.cleanup();
    }
  },
);

withSample("several files: numbered as their concatenation; the last file is the test day", async () => {
  const t = tempDir();
  try {
    const lines = sampleLines();
    const parts = [lines.slice(0, 90), lines.slice(90, 160), lines.slice(160)];
    const files = parts.map((p, k) => {
      const f = join(t.dir, `day_${k}`);
      writeFileSync(f, p.join("\n") + "\n");
      return f;
    });
    const out = join(t.dir, "days.safetensors");
    const r = await runCli(["preprocess", "criteo", ...files, "--out", out]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(lastJson(r.stdout).day_rows, [90, 70, 40]);
    const { ids } = numberIds(lines);
    const d = readBatchFile(out);
    ids.forEach((want, t2) => assert.equal(Array.from(d.sparse[t2]?.indices ?? []), want, `C${t2 + 1}`));
    // Days 0 and 1 train (160 rows); day 2's first half (20 of 40 rows) is the test set.
    for (const data of [`criteo:${files.join(",")}`, out]) {
      const tr = await runCli(["train", "--data", data, "--steps", "1", "--batch-size", "8"]);
      assert.is(tr.code, 0, tr.stderr);
      assert.is(trainSamples(tr.stderr), 160);
      assert.is(lastJson(tr.stdout).n, 20);
    }
  } finally {
    t.cleanup();
  }
});

withSample("bad lines: an error naming file:line, or skipped and counted in the final output", async () => {
  const t = tempDir();
  try {
    const lines = sampleLines().slice(0, 30);
    const f = lines[2]?.split("\t") as string[];
    f[4] = "12a"; // I4
    lines[2] = f.join("\t");
    lines[6] = "1\t2\t3"; // too few fields
    const bad = join(t.dir, "bad.txt");
    writeFileSync(bad, lines.join("\n") + "\n");
    let r = await runCli(["train", "--data", `criteo:${bad}`, "--steps", "1", "--batch-size", "8"]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^dlrm: criteo: .*bad\.txt:3: field I4 is not an integer: "12a"\n$/);
    r = await runCli([
      "train",
      "--data",
      `criteo:${bad}`,
      "--steps",
      "1",
      "--batch-size",
      "8",
      "--on-bad-line",
      "skip",
    ]);
    assert.is(r.code, 0, r.stderr);
    assert.is(lastJson(r.stdout).skipped_lines, 2);
    r = await runCli(["preprocess", "criteo", bad, "--out", join(t.dir, "b.safetensors"), "--on-bad-line", "skip"]);
    assert.is(r.code, 0, r.stderr);
    assert.is(lastJson(r.stdout).skipped_lines, 2);
    assert.is(lastJson(r.stdout).rows, 28);
    r = await runCli(["preprocess", "criteo", bad, "--out", join(t.dir, "c.safetensors")]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /bad\.txt:3: field I4/);
    assert.not.ok(existsSync(join(t.dir, "c.safetensors")), "nothing written on error");
    assert.not.ok(existsSync(join(t.dir, "c.dict.safetensors")), "nothing written on error");
  } finally {
    t.cleanup();
  }
});

withSample("too few rows for the reference's split: an error asking for --eval-data", async () => {
  const t = tempDir();
  try {
    const five = join(t.dir, "five.txt");
    writeFileSync(five, sampleLines().slice(0, 5).join("\n") + "\n"); // 5 rows: days of 1, 1, 1, 1, 1, 0, 0
    const r = await runCli(["train", "--data", `criteo:${five}`, "--steps", "1"]);
    assert.is(r.code, 1);
    assert.match(
      r.stderr,
      /dlrm: criteo:.*five\.txt: its 5 rows leave the test split empty \(the reference's protocol\); give --eval-data\n$/,
    );
  } finally {
    t.cleanup();
  }
});

withSample("--model with a table the dictionary disagrees with: one line naming the table", async () => {
  const t = tempDir();
  try {
    const out = join(t.dir, "s.safetensors");
    const p = await runCli(["preprocess", "criteo", SAMPLE, "--out", out]);
    const sizes = [...(lastJson(p.stdout).table_sizes as number[])];
    sizes[4] = (sizes[4] as number) + 1;
    const model = join(t.dir, "m.json");
    const E = 2;
    writeFileSync(
      model,
      JSON.stringify({
        dense_features: 13,
        bottom_mlp: [13, E],
        embedding_dim: E,
        table_sizes: sizes,
        top_mlp: [E + 351, 1],
      }),
    );
    for (const data of [`criteo:${SAMPLE}`, out]) {
      const r = await runCli(["train", "--model", model, "--data", data, "--steps", "1"]);
      assert.is(r.code, 1);
      // stderr: the reading progress, then the error as its last line.
      const last = r.stderr.trim().split("\n").pop() as string;
      assert.match(
        last,
        new RegExp(
          `^dlrm: .*m\\.json: table 4 \\(C5\\) has ${sizes[4]} rows but .* defines ${(sizes[4] as number) - 1}$`,
        ),
      );
    }
  } finally {
    t.cleanup();
  }
});

test("usage errors of the data and optimizer flags: one line, exit 2", async () => {
  for (const [args, pattern] of [
    [["train", "--data", "criteo:"], /^dlrm: train: --data criteo: names no file/],
    [["train", "--data", "criteo:a,,b"], /^dlrm: train: --data criteo:a,,b has an empty file name/],
    [
      ["train", "--data", "no-such-file.safetensors"],
      /^dlrm: train: --data "no-such-file\.safetensors" is neither an existing file nor one of/,
    ],
    [["train", "--on-bad-line", "ignore"], /^dlrm: train: --on-bad-line must be error or skip, got "ignore"/],
    [["train", "--data-sub-sample-rate", "1.5"], /^dlrm: train: --data-sub-sample-rate must be in \[0, 1\], got 1\.5/],
    [["train", "--data-sub-sample-rate", "0.5"], /^dlrm: train: --data-sub-sample-rate applies to Criteo data/],
    [["train", "--max-ind-range", "-3"], /^dlrm: train: --max-ind-range must be a non-negative integer, got -3/],
    [["train", "--data", "random", "--max-ind-range", "10"], /^dlrm: train: --max-ind-range applies to Criteo data/],
    [["train", "--eval-data", "synthetic"], /^dlrm: train: --eval-data synthetic is not a thing/],
    [
      ["train", "--data", "random", "--eval-data", "criteo:x.txt"],
      /^dlrm: train: --eval-data criteo:x\.txt needs the dictionary of the training data/,
    ],
    [
      ["train", "--optimizer", "lamb"],
      /^dlrm: train: --optimizer must be sgd, adagrad, rowwise-adagrad or adam, got "lamb"/,
    ],
    [
      ["train", "--data", "random", "--optimizer", "sgd", "--adagrad-initial-accumulator", "0.1"],
      /^dlrm: train: --adagrad-initial-accumulator goes with the adagrad optimizer, not sgd/,
    ],
    [
      ["train", "--adagrad-initial-accumulator", "-1"],
      /^dlrm: train: --adagrad-initial-accumulator must be >= 0, got -1/,
    ],
    [["preprocess", "criteo", "x.txt"], /^dlrm: preprocess: --out is required/],
    [["preprocess", "movielens", "x", "--out", "y"], /^dlrm: preprocess: unknown data set "movielens"/],
    [["preprocess", "--out", "y"], /^dlrm: preprocess: name the data set and the files/],
    [["preprocess", "criteo", "--out", "y"], /^dlrm: preprocess: criteo needs at least one input file/],
    [["preprocess", "criteo", "x", "--out", "y", "--bogus"], /^dlrm: preprocess: unknown flag --bogus/],
  ] as [string[], RegExp][]) {
    const r = await runCli(args);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("preprocess --help", async () => {
  const r = await runCli(["preprocess", "--help"]);
  assert.is(r.code, 0);
  assert.match(r.stdout, /^Usage: dlrm preprocess criteo <file\.\.\.> --out <file\.safetensors>/);
  assert.match(r.stdout, /--dictionary/);
});

test.run();
