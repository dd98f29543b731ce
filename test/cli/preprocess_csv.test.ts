// `dlrm preprocess csv` then `dlrm train --data <out>` with no other flag: the files it
// writes (training rows, evaluation rows, vocabulary), the model it derives, the checks that
// tie the pair together, usage errors, and MovieLens-100K joined into one CSV (when
// ../shared/data is present) training to the AUC of the movielens: source.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { lastJson, openFds, runCli, tempDir } from "../helpers/cli.ts";
import { DATA, SHARED } from "../helpers/golden.ts";
import { readmeBlocks, shellCommands, shellWords } from "../helpers/readme.ts";
import { readSafetensorsIndex } from "../../src/io/safetensors.ts";
import { readBatchFile } from "../../src/data/batch_file.ts";

const { dir, cleanup } = tempDir();
const csv = join(dir, "clicks.csv");
const schema = join(dir, "schema.json");
// 300 rows: clicks follow the item (odd items are clicked), so a trained model ranks above chance.
const rows = Array.from({ length: 300 }, (_, i) => {
  const item = (i * 7) % 11;
  return `${item % 2},u${i % 13},i${item},"${i % 4 === 0 ? "" : "A|B"}",${i % 50},${i % 5 === 0 ? "test" : "train"}`;
});
writeFileSync(csv, `clicked,user,item,tags,age,split\r\n${rows.join("\r\n")}\r\n`);
writeFileSync(
  schema,
  JSON.stringify({
    label: "clicked",
    dense: [{ column: "age", transform: "log1p" }],
    categorical: [{ column: "user" }, { column: "item", min_count: 2 }, { column: "tags", separator: "|" }],
    split: { column: "split", eval: ["test"] },
  }),
);
const out = join(dir, "clicks.safetensors");

test("preprocess csv writes the training rows, the evaluation rows and the vocabulary", async () => {
  const r = await runCli(["preprocess", "csv", csv, "--schema", schema, "--out", out]);
  assert.is(r.code, 0, r.stderr);
  const summary = lastJson(r.stdout);
  assert.equal(summary.train_rows, 240);
  assert.equal(summary.eval_rows, 60);
  assert.equal(summary.table_sizes, [14, 12, 3]); // 13 users, 11 items, tags A and B; each + the other row
  const train = readBatchFile(out);
  const ev = readBatchFile(join(dir, "clicks.eval.safetensors"));
  assert.is(train.n, 240);
  assert.is(ev.n, 60);
  assert.equal(Array.from(train.sparse[2]?.lengths.subarray(0, 4) ?? []), [2, 2, 2, 0]); // rows 1–4: row 4 has an empty cell, an empty bag
  const vocab = JSON.parse(readFileSync(join(dir, "clicks.vocab.json"), "utf8")) as { tables: { values?: string[] }[] };
  assert.equal(vocab.tables[2]?.values, ["A", "B"]);
});

test("train reads the model and the evaluation rows from the file: no other flag", async () => {
  const r = await runCli(["train", "--data", out, "--workers", "1"]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /dlrm train: 240 samples, 3 tables, 4 steps of 128, adagrad lr 0.05/);
  const last = lastJson(r.stdout);
  assert.is(last.n, 60);
  assert.ok((last.auc as number) > 0.6, String(last.auc));
});

test("a --model whose tables differ names the column; an evaluation file of another run is refused", async () => {
  const config = JSON.parse(readSafetensorsIndex(out).metadata.model as string) as { table_sizes: number[] };
  config.table_sizes[1] = 5;
  const cfg = join(dir, "m.json");
  writeFileSync(cfg, JSON.stringify(config));
  const before = openFds();
  const r = await runCli(["train", "--data", out, "--model", cfg, "--steps", "1", "--workers", "1"]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /m\.json: table 1 \(item\) has 5 rows but .*clicks\.safetensors defines 12/);
  // The training file and its evaluation file were open when the tables were compared: a run
  // that stops there closes them (not the garbage collector).
  assert.equal(openFds(), before);

  const other = join(dir, "other.safetensors");
  assert.is((await runCli(["preprocess", "csv", csv, "--schema", schema, "--out", other])).code, 0);
  const mixed = join(dir, "mixed.safetensors");
  copyFileSync(out, mixed);
  copyFileSync(join(dir, "other.eval.safetensors"), join(dir, "clicks.eval.safetensors"));
  const m = await runCli(["train", "--data", out, "--steps", "1", "--workers", "1"]);
  assert.is(m.code, 1);
  assert.match(m.stderr, /clicks\.eval\.safetensors were not written together/);
});

test("--on-bad-line skip: bad rows are counted in the summary, the rest written", async () => {
  const bad = join(dir, "bad.csv");
  writeFileSync(bad, `clicked,user,item,tags,age,split\n1,u,i,A,3,train\n1,u,i,A\n7,u,i,A,3,train\n0,v,i,B,5,train\n`);
  const o = join(dir, "bad.safetensors");
  const e = await runCli(["preprocess", "csv", bad, "--schema", schema, "--out", o]);
  assert.is(e.code, 1);
  assert.match(e.stderr, /bad\.csv:3: has 4 fields, the header has 6/);
  const r = await runCli(["preprocess", "csv", bad, "--schema", schema, "--out", o, "--on-bad-line", "skip"]);
  assert.is(r.code, 0, r.stderr);
  const summary = lastJson(r.stdout);
  assert.equal([summary.train_rows, summary.eval_rows, summary.skipped_lines], [2, 0, 2]);
  assert.is(readBatchFile(o).n, 2);
});

test("usage errors: no schema, a criteo flag, a bad schema, a file of no known format", async () => {
  const o = join(dir, "u.safetensors");
  const cases: [string[], RegExp][] = [
    [["preprocess", "csv", csv, "--out", o], /--schema/],
    [
      ["preprocess", "csv", csv, "--schema", schema, "--out", o, "--max-ind-range", "9"],
      /--max-ind-range applies to criteo data, not to csv/,
    ],
    [["preprocess", "criteo", csv, "--schema", schema, "--out", o], /--schema applies to csv data/],
    [
      ["preprocess", "csv", join(dir, "clicks.txt"), "--schema", schema, "--out", o],
      /clicks\.txt: the file's ending says no format/,
    ],
  ];
  const badSchema = join(dir, "bad.json");
  writeFileSync(
    badSchema,
    JSON.stringify({
      label: "clicked",
      dense: [{ column: "age", transform: "log" }],
      categorical: [{ column: "user" }],
    }),
  );
  cases.push([
    ["preprocess", "csv", csv, "--schema", badSchema, "--out", o],
    /bad\.json: dense\[0\]\.transform: must be log1p, standardize or none/,
  ]);
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test("README: the schema it shows is bench/movielens_csv/schema.json, which its commands use", () => {
  const shown = readmeBlocks("The `dlrm` command").find((b) => b.lang === "json" && b.code.includes('"label"'));
  assert.ok(shown !== undefined, "README shows the own-CSV schema");
  assert.equal(JSON.parse(shown.code), JSON.parse(readFileSync("bench/movielens_csv/schema.json", "utf8")));
});

const ML = `${DATA}ml-100k`;
const haveMl = existsSync(join(ML, "u1.base"));
if (!haveMl)
  console.log(
    `cli preprocess csv: skipping the README's MovieLens CSV run, ${ML} is absent (see ../shared/data/README.md)`,
  );
(haveMl ? test : test.skip)(
  "README: MovieLens-100K u1 as one CSV, run as written, trains to the movielens: source's AUC",
  () => {
    const block = readmeBlocks("The `dlrm` command").find((b) => b.lang === "sh" && b.code.includes("preprocess csv"));
    assert.ok(block !== undefined, "README has the own-CSV sh block");
    // A folder laid out like the checkout's parent, so ../shared resolves and outputs stay out of the checkout.
    const root = new URL("../..", import.meta.url).pathname;
    const cwd = join(dir, "readme", "checkout");
    mkdirSync(cwd, { recursive: true });
    symlinkSync(SHARED, join(dir, "readme", "shared"));
    for (const name of ["bench", "node_modules"]) symlinkSync(join(root, name), join(cwd, name));
    let last = "";
    for (const cmd of shellCommands(block.code)) {
      const words = shellWords(cmd);
      const args =
        words[0] === "node"
          ? words.slice(1)
          : cmd.startsWith("npm run -s dlrm -- ")
            ? [join(root, "bin", "dlrm.js"), ...words.slice(5)]
            : null;
      assert.ok(args !== null, `a command the test does not know how to run: ${cmd}`);
      last = execFileSync(process.execPath, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    }
    const lines = readFileSync(join(cwd, "ratings.csv"), "utf8").split("\r\n");
    assert.is(lines.length, 100002); // header, 100,000 ratings, the last line ending
    const auc = (JSON.parse(last.trim().split("\n").pop() as string) as { auc: number }).auc;
    // docs/results.md: the movielens: source's single model reaches 0.7891 on u1, the ensemble 0.7973
    assert.ok(auc > 0.7891 - 0.01, String(auc));
  },
);

test.after(cleanup);
test.run();
