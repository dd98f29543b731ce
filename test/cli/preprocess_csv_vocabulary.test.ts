// `dlrm preprocess csv --vocabulary x.vocab.json`: other rows (an evaluation file with new
// users, values below min_count, no split column) numbered with the training run's ids and
// scaled with its statistics — checked against the vocabulary file read here — with the
// training run's table sizes and model, so a checkpoint trained on x scores them; and a
// vocabulary that does not fit the schema, or given to criteo, is a usage error.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";
import { readSafetensorsIndex } from "../../src/io/safetensors.ts";
import { readBatchFile } from "../../src/data/batch_file.ts";

const { dir, cleanup } = tempDir();
const header = "clicked,user,item,tags,age,year";
const row = (i: number, users: number): string =>
  `${((i * 7) % 11) % 2},u${i % users},i${(i * 7) % 11},"${i % 4 === 0 ? "" : i % 3 === 0 ? "A|C" : "A|B"}",${i % 50},${1990 + (i % 30)}`;
const trainCsv = join(dir, "train.csv");
const evalCsv = join(dir, "eval.csv");
writeFileSync(trainCsv, `${header}\n${Array.from({ length: 200 }, (_, i) => row(i, 13)).join("\n")}\n`);
// Users u13–u19 and more items are new: the other row.
writeFileSync(evalCsv, `${header}\n${Array.from({ length: 40 }, (_, i) => row(3 * i + 1, 20)).join("\n")}\n`);
const schemaOf = (tagsMinCount: number): string => {
  const p = join(dir, `schema${tagsMinCount}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      label: "clicked",
      dense: [
        { column: "age", transform: "log1p" },
        { column: "year", transform: "standardize" },
      ],
      categorical: [
        { column: "user" },
        { column: "item", hash_buckets: 5 },
        { column: "tags", separator: "|", min_count: tagsMinCount },
      ],
    }),
  );
  return p;
};
const schema = schemaOf(60); // "C" is in fewer than 60 training rows: the other row

interface VocabFile {
  dense: { mean: number; std: number }[];
  tables: { values?: string[]; other_row?: number; rows: number }[];
}

test("eval rows numbered and scaled with the training vocabulary; the same tables and model", async () => {
  const x = join(dir, "x.safetensors");
  const y = join(dir, "y.safetensors");
  const a = await runCli(["preprocess", "csv", trainCsv, "--schema", schema, "--out", x]);
  assert.is(a.code, 0, a.stderr);
  const vocabPath = join(dir, "x.vocab.json");
  const b = await runCli(["preprocess", "csv", evalCsv, "--schema", schema, "--out", y, "--vocabulary", vocabPath]);
  assert.is(b.code, 0, b.stderr);
  assert.equal(lastJson(b.stdout).table_sizes, lastJson(a.stdout).table_sizes);
  assert.equal(
    JSON.parse(readFileSync(join(dir, "y.vocab.json"), "utf8")),
    JSON.parse(readFileSync(vocabPath, "utf8")),
  );
  assert.is(readSafetensorsIndex(y).metadata["model"], readSafetensorsIndex(x).metadata["model"]);

  const vocab = JSON.parse(readFileSync(vocabPath, "utf8")) as VocabFile;
  const users = vocab.tables[0]?.values as string[];
  const tags = vocab.tables[2]?.values as string[];
  assert.equal(tags, ["A", "B"], '"C" below min_count has no id of its own');
  const idOf = (values: string[], v: string): number => (values.includes(v) ? values.indexOf(v) : values.length);
  const d = readBatchFile(y);
  assert.is(d.n, 40);
  const { mean, std } = vocab.dense[1] as { mean: number; std: number };
  const lines = readFileSync(evalCsv, "utf8").trim().split("\n").slice(1);
  const tagIds: number[] = [];
  lines.forEach((line, i) => {
    const [, user, , tagCell, age, year] = line.split(",") as string[];
    assert.is(d.sparse[0]?.indices[i], idOf(users, user as string), `row ${i}: user ${user}`);
    for (const t of (tagCell as string)
      .replaceAll('"', "")
      .split("|")
      .filter((s) => s !== ""))
      tagIds.push(idOf(tags, t));
    assert.ok(Math.abs((d.dense[2 * i] as number) - Math.log1p(Number(age))) < 1e-6, `row ${i}: age`);
    assert.ok(Math.abs((d.dense[2 * i + 1] as number) - (Number(year) - mean) / std) < 1e-5, `row ${i}: year`);
  });
  assert.equal(Array.from(d.sparse[2]?.indices ?? []), tagIds);
  assert.ok(
    users.length === 13 && Array.from(d.sparse[0]?.indices ?? []).includes(13),
    "new users go to the other row",
  );

  // A checkpoint trained on x scores y.
  const ckpt = join(dir, "m.safetensors");
  const t = await runCli(["train", "--data", x, "--steps", "3", "--workers", "1", "--save", ckpt]);
  assert.is(t.code, 0, t.stderr);
  const p = await runCli(["predict", "--checkpoint", ckpt, "--data", y, "--metrics"]);
  assert.is(p.code, 0, p.stderr);
  assert.is(lastJson(p.stdout).event, "predict");
});

test("a vocabulary that does not fit the schema, or given to criteo, is a usage error naming the column", async () => {
  const vocabPath = join(dir, "x.vocab.json");
  const other = join(dir, "other.json");
  writeFileSync(
    other,
    JSON.stringify({
      label: "clicked",
      dense: [
        { column: "age", transform: "log1p" },
        { column: "year", transform: "standardize" },
      ],
      categorical: [{ column: "user" }, { column: "item" }, { column: "tags", separator: "|" }],
    }),
  );
  const cases: [string[], RegExp][] = [
    [
      ["preprocess", "csv", evalCsv, "--schema", other, "--out", join(dir, "z.safetensors"), "--vocabulary", vocabPath],
      /--vocabulary .*x\.vocab\.json: tables\[1\] \("item"\): "values" must be a list of strings/,
    ],
    [
      ["preprocess", "csv", evalCsv, "--schema", schema, "--out", join(dir, "z.safetensors"), "--vocabulary", schema],
      /--vocabulary .*schema60\.json: not a vocabulary of dlrm preprocess csv/,
    ],
    [
      ["preprocess", "criteo", evalCsv, "--out", join(dir, "z.safetensors"), "--vocabulary", vocabPath],
      /--vocabulary applies to csv data, not to criteo/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test.after(cleanup);

test.run();
