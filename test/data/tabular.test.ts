// A user's own data through a schema: every value of small files checked against what the
// schema says by hand (transforms, defaults of empty cells, vocabularies with min_count and
// the shared other row, hash buckets, bags), the three split rules, CSV/TSV/JSON lines giving
// the same samples, the chunking not mattering (fast-check), and every malformed input an
// error naming file:line, the column and the value, or skipped and counted.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/cli.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { scanTabular, tabularChunks, type TabularOptions } from "../../src/data/tabular.ts";
import { parseSchema, type TabularSchema } from "../../src/data/tabular_schema.ts";
import { hashBucket } from "../../src/data/vocabulary.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const { dir, cleanup } = tempDir();
let fileNo = 0;
function file(text: string, ext = "csv"): string {
  const p = join(dir, `f${fileNo++}.${ext}`);
  writeFileSync(p, text);
  return p;
}

/** Both passes; the chunks of each split joined (per-sample values, for comparing by hand). */
async function run(files: string[], schema: TabularSchema, o: TabularOptions = {}) {
  const stats = await scanTabular(files, nodeDataFiles, schema, o);
  const out = { train: [] as Dataset[], eval: [] as Dataset[] };
  for await (const c of tabularChunks(files, nodeDataFiles, schema, stats, o)) out[c.split].push(c.data);
  return { stats, train: samples(out.train), eval: samples(out.eval) };
}

interface Sample {
  label: number;
  dense: number[];
  bags: number[][];
}
function samples(chunks: Dataset[]): Sample[] {
  const out: Sample[] = [];
  for (const d of chunks) {
    for (let i = 0; i < d.n; i++) {
      out.push({
        label: d.labels[i] as number,
        dense: Array.from(d.dense.subarray(i * d.denseFeatures, (i + 1) * d.denseFeatures)),
        bags: d.sparse.map((f) => Array.from(f.indices.subarray(f.offsets[i], f.offsets[i + 1]))),
      });
    }
  }
  return out;
}

const f32 = (x: number): number => Math.fround(x);

/** Awaits `f`, which must throw an error whose message matches. */
async function rejects(f: () => Promise<unknown>, check: RegExp | ((e: Error) => boolean)): Promise<void> {
  try {
    await f();
  } catch (e) {
    const err = e as Error;
    const ok = check instanceof RegExp ? check.test(err.message) : check(err);
    assert.ok(ok, `unexpected error: ${err.message}`);
    return;
  }
  assert.unreachable("no error was thrown");
}

const BASIC = parseSchema(
  {
    label: "clicked",
    dense: [
      { column: "age", transform: "log1p" },
      { column: "year", transform: "standardize", default: 2000 },
      { column: "price", default: -1 },
    ],
    categorical: [
      { column: "user" },
      { column: "item", min_count: 2 },
      { column: "zip", hash_buckets: 7 },
      { column: "genres", separator: "|" },
      { column: "color", default: "none" },
    ],
    split: { column: "split", eval: ["test"] },
  },
  "schema.json",
);

// BOM, CRLF, quoted commas and newlines, empty cells, columns in another order and unused ones.
const BASIC_CSV =
  "\uFEFFsplit,clicked,user,item,age,year,price,zip,genres,color,note\r\n" +
  'train,1,u1,i1,3,1990,2.5,10001,"A|B",red,"a, quoted\r\nnote"\r\n' +
  "train,0,u2,i1,,2010,,10002,,,\r\n" +
  'train,1,"u,1",i2,0,,7,10001,B,red,\r\n' +
  "test,0,u1,i3,1,1990,0,99999,C|A,blue,\r\n";

test("a CSV through the schema: transforms, defaults, vocabularies, bags, hashing, the split", async () => {
  const p = file(BASIC_CSV);
  const { stats, train, eval: ev } = await run([p], BASIC);
  assert.is(stats.trainRows, 3);
  assert.is(stats.evalRows, 1);
  // year over the training rows: 1990, 2010 and the default 2000
  const { mean, std } = stats.dense[1] as { mean: number; std: number };
  assert.ok(Math.abs(mean - 2000) < 1e-9 && Math.abs(std - Math.sqrt(200 / 3)) < 1e-9, `${mean} ${std}`);
  // user: u1, u2, "u,1" (order of first appearance) + other; item: i1 only (i2 once) + other;
  // zip: 7 buckets; genres: A, B (C only in eval) + other; color: red, none + other
  assert.equal(stats.tableSizes, [4, 2, 7, 3, 3]);
  const z = (s: string): number => hashBucket(s, 7);
  assert.equal(train, [
    {
      label: 1,
      dense: [f32(Math.log1p(3)), f32((1990 - mean) / std), 2.5],
      bags: [[0], [0], [z("10001")], [0, 1], [0]],
    },
    { label: 0, dense: [0, f32((2010 - mean) / std), -1], bags: [[1], [0], [z("10002")], [], [1]] },
    { label: 1, dense: [0, f32((2000 - mean) / std), 7], bags: [[2], [1], [z("10001")], [1], [0]] },
  ]);
  assert.equal(ev, [
    { label: 0, dense: [f32(Math.log1p(1)), f32((1990 - mean) / std), 0], bags: [[0], [1], [z("99999")], [2, 0], [2]] },
  ]);
});

test("TSV and JSON lines give the same samples as the CSV", async () => {
  const csv = await run([file(BASIC_CSV)], BASIC);
  const tsvText = BASIC_CSV.replaceAll('"a, quoted\r\nnote"', "note")
    .replaceAll('"u,1"', '"u,1"')
    .replaceAll(",", "\t")
    .replaceAll('"u\t1"', '"u,1"');
  const tsv = await run([file(tsvText, "tsv")], BASIC);
  assert.equal(tsv, csv);
  const jsonl = [
    {
      split: "train",
      clicked: 1,
      user: "u1",
      item: "i1",
      age: 3,
      year: 1990,
      price: 2.5,
      zip: 10001,
      genres: ["A", "B"],
      color: "red",
    },
    { split: "train", clicked: false, user: "u2", item: "i1", year: 2010, zip: "10002", genres: null },
    { split: "train", clicked: "1", user: "u,1", item: "i2", age: 0, price: 7, zip: 10001, genres: "B", color: "red" },
    {
      split: "test",
      clicked: 0,
      user: "u1",
      item: "i3",
      age: 1,
      year: "1990",
      price: 0,
      zip: 99999,
      genres: ["C", "A"],
      color: "blue",
    },
  ];
  const j = await run([file(`\uFEFF${jsonl.map((o) => JSON.stringify(o)).join("\r\n")}\r\n\r\n`, "jsonl")], BASIC);
  assert.equal(j, csv);
});

test("several files are read in order; the chunking changes nothing (fast-check)", async () => {
  const rows = Array.from(
    { length: 40 },
    (_, i) =>
      `${i % 5 === 0 ? "test" : "train"},${i % 2},u${i % 7},i${i % 3},${i},${1990 + (i % 9)},${i / 4},${i * 13},${"ABC"[i % 3]}|D,c${i % 4},"n,${i}"`,
  );
  const head = "split,clicked,user,item,age,year,price,zip,genres,color,note\n";
  const files = [file(head + rows.slice(0, 25).join("\n")), file(head + rows.slice(25).join("\r\n") + "\r\n")];
  const whole = await run(files, BASIC);
  assert.is(whole.train.length + whole.eval.length, 40);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 41 }),
      fc.integer({ min: 1, max: 300 }),
      async (chunkRows, chunkBytes) => {
        assert.equal(await run(files, BASIC, { chunkRows, chunkBytes }), whole);
      },
    ),
    { numRuns: 40 },
  );
});

test("a header without a schema column is an error naming the column", async () => {
  const p = file("split,clicked,user,age,year,price,zip,genres,color\ntrain,1,u,1,1,1,1,A,red\n");
  await rejects(
    () => scanTabular([p], nodeDataFiles, BASIC),
    (e: Error) => e.message.includes(`${p}:1: the header has no column "item"`),
  );
  await rejects(() => scanTabular([file("")], nodeDataFiles, BASIC), /empty: a CSV\/TSV file starts with a header row/);
});

const HEAD = "split,clicked,user,item,age,year,price,zip,genres,color\n";
const GOOD = "train,1,u,i,1,1,1,1,A,red\n";

for (const [what, line, message] of [
  ["a ragged row", "train,1,u,i,1,1,1,1,A\n", "has 9 fields, the header has 10"],
  ["a row with an extra field", "train,1,u,i,1,1,1,1,A,red,x\n", "has 11 fields, the header has 10"],
  ["a dense value that is no number", "train,1,u,i,12a,1,1,1,A,red\n", 'column "age": not a number: "12a"'],
  ["log1p of a value ≤ -1", "train,1,u,i,-1,1,1,1,A,red\n", 'column "age": log1p needs a value above -1, got "-1"'],
  [
    "a label out of [0, 1]",
    "train,4,u,i,1,1,1,1,A,red\n",
    'column "clicked" (the label): must be a number in [0, 1] (or true/false), got "4"',
  ],
  ["an empty label", "train,,u,i,1,1,1,1,A,red\n", 'column "clicked" (the label): empty'],
  ["text after a closing quote", 'train,1,"u"x,i,1,1,1,1,A,red\n', "text after the closing quote of field 3"],
] as const) {
  test(`bad line, ${what}: an error naming file:line and the value, or skipped and counted`, async () => {
    const p = file(HEAD + GOOD + line + GOOD);
    await rejects(
      () => scanTabular([p], nodeDataFiles, BASIC),
      (e: Error) => e.message.startsWith(`${p}:3: ${message}`),
    );
    const { stats, train } = await run([p], BASIC, { onBadLine: "skip" });
    assert.is(stats.skipped, 1);
    assert.is(train.length, 2);
  });
}

test("an unclosed quote runs to the end: one bad record naming the line it starts on", async () => {
  const p = file(`${HEAD}${GOOD}train,1,"u,i,1,1,1,1,A,red\n${GOOD}${GOOD}`);
  await rejects(
    () => scanTabular([p], nodeDataFiles, BASIC),
    (e: Error) => e.message.startsWith(`${p}:3: a quoted field is never closed`),
  );
  const { stats, train } = await run([p], BASIC, { onBadLine: "skip" });
  assert.is(stats.skipped, 1);
  assert.is(train.length, 1);
});

test("JSON lines: a line that is no JSON or no object, a list in a single-valued column", async () => {
  const ok = JSON.stringify({ split: "train", clicked: 1, user: "u", item: "i", genres: ["A"] });
  for (const [line, message] of [
    ["{broken", "not JSON"],
    ["[1, 2]", "a JSON line must be an object, got [1,2]"],
    [
      JSON.stringify({ split: "train", clicked: 1, user: ["a", "b"], item: "i" }),
      'column "user": a list in a single-valued column',
    ],
  ] as const) {
    const p = file(`${ok}\n${line}\n`, "jsonl");
    await rejects(
      () => scanTabular([p], nodeDataFiles, BASIC),
      (e: Error) => e.message.startsWith(`${p}:2: ${message}`),
    );
  }
});

test("split by hashed fraction (of a column: its rows stay together) and by cutoff", async () => {
  const lines = Array.from({ length: 2000 }, (_, i) => `1,u${i % 50},${i}`);
  const p = file(`clicked,user,t\n${lines.join("\n")}\n`);
  const base = { label: "clicked", dense: [{ column: "t" }], categorical: [{ column: "user" }] };
  const byRow = await scanTabular([p], nodeDataFiles, parseSchema({ ...base, split: { fraction: 0.2, seed: 3 } }, "s"));
  assert.ok(byRow.evalRows > 330 && byRow.evalRows < 470, String(byRow.evalRows)); // 400 ± 3.5 sd
  const byUser = await run([p], parseSchema({ ...base, split: { fraction: 0.3, column: "user" } }, "s"));
  // every user's 40 rows fall on one side
  assert.is(byUser.stats.evalRows % 40, 0);
  assert.ok(byUser.stats.evalRows > 0 && byUser.stats.trainRows > 0);
  const cut = await scanTabular(
    [p],
    nodeDataFiles,
    parseSchema({ ...base, split: { column: "t", cutoff: 1500 } }, "s"),
  );
  assert.equal([cut.trainRows, cut.evalRows], [1500, 500]);
  const dates = file("clicked,user,t,day\n1,a,1,2024-01-31\n0,b,2,2024-02-01\n1,c,3,2024-02-15\n");
  const byDate = await scanTabular(
    [dates],
    nodeDataFiles,
    parseSchema(
      {
        ...base,
        split: { column: "day", cutoff: "2024-02-01" },
      },
      "s",
    ),
  );
  assert.equal([byDate.trainRows, byDate.evalRows], [1, 2]);
  const bad = file("clicked,user,t,when\n1,a,1,5\n1,b,1,soon\n");
  await rejects(
    () => scanTabular([bad], nodeDataFiles, parseSchema({ ...base, split: { column: "when", cutoff: 3 } }, "s")),
    (e: Error) => e.message === `${bad}:3: column "when" (the split's cutoff is a number): not a number: "soon"`,
  );
});

test("schema errors name the file and the field", () => {
  const base = { label: "y", dense: [{ column: "d" }], categorical: [{ column: "c" }] };
  for (const [schema, message] of [
    [{ ...base, extra: 1 }, "s.json: schema.extra: is not a schema field"],
    [
      { ...base, dense: [{ column: "d", transform: "log" }] },
      "s.json: dense[0].transform: must be log1p, standardize or none",
    ],
    [{ ...base, dense: [] }, "s.json: dense: lists no column"],
    [{ ...base, categorical: [] }, "s.json: categorical: lists no column"],
    [
      { ...base, categorical: [{ column: "c", min_count: 2, hash_buckets: 9 }] },
      "s.json: categorical[0]: takes min_count (a vocabulary) or hash_buckets",
    ],
    [{ ...base, categorical: [{ column: "d" }] }, 's.json: categorical[0].column: "d" is already dense[0]'],
    [{ ...base, dense: [{ column: "y" }] }, 's.json: dense[0].column: "y" is the label'],
    [{ ...base, split: { column: "s" } }, 's.json: split: names its rule with "eval"'],
    [{ ...base, split: { fraction: 1.5 } }, "s.json: split.fraction: must be a number in (0, 1)"],
    [
      { ...base, categorical: [{ column: "c", hash_buckets: 0 }] },
      "s.json: categorical[0].hash_buckets: must be an integer ≥ 1",
    ],
  ] as const) {
    assert.throws(
      () => parseSchema(schema, "s.json"),
      (e: Error) => e.message.startsWith(message),
      message,
    );
  }
});

test("no training row is an error, not an empty model", async () => {
  const p = file("clicked,d,c,s\n1,1,a,test\n");
  const s = parseSchema(
    {
      label: "clicked",
      dense: [{ column: "d" }],
      categorical: [{ column: "c" }],
      split: { column: "s", eval: ["test"] },
    },
    "s",
  );
  await rejects(() => scanTabular([p], nodeDataFiles, s), /no training rows/);
});

test.after(cleanup);
test.run();
