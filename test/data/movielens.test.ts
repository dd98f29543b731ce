// MovieLens-100K reader: sample counts, labels, table sizes and individual samples checked
// against the raw files (the test reads u.user, u.item and the split files itself), the
// genre bags, Latin-1 titles, ids seen only in the test split, and malformed input.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMovieLens, type MovieLensData } from "../../src/data/movielens.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { assertClose, assertThrows } from "../../src/testing/index.ts";
import { DATA } from "../helpers/golden.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const DIR = `${DATA}ml-100k/`;
const haveData = existsSync(join(DIR, "u1.base"));
if (!haveData) {
  console.log(
    `movielens tests: skipping the real-data tests, ${DIR} is absent (MovieLens 100K is available from grouplens.org; see ../shared/data/README.md)`,
  );
}
const withData = haveData ? test : test.skip;

// Parsed once for the whole file (80k + 20k ratings).
let cached: MovieLensData | null = null;
const ml = (): MovieLensData => (cached ??= readMovieLens(DIR, "u1", nodeDataFiles));
const rawLines = (name: string): string[] =>
  readFileSync(join(DIR, name), "latin1")
    .split("\n")
    .filter((l) => l !== "");

/** The expected features of a rating line, computed from the raw files in the simplest way. */
function expectedSample(ratingLine: string, trainLines: string[]) {
  const [u, i, r, t] = ratingLine.split("\t").map(Number) as [number, number, number, number];
  const user = rawLines("u.user")[u - 1]?.split("|") as string[];
  const item = rawLines("u.item")[i - 1]?.split("|") as string[];
  assert.is(Number(user[0]), u, "u.user line u holds user u");
  assert.is(Number(item[0]), i, "u.item line i holds item i");
  const age = Number(user[1]);
  const ageBucket = age < 18 ? 0 : age < 25 ? 1 : age < 35 ? 2 : age < 45 ? 3 : age < 50 ? 4 : age < 56 ? 5 : 6;
  const occupations = rawLines("u.occupation"); // 21 names, already in alphabetical order
  const zipFirst = (user[4] as string)[0] as string;
  const year = (item[2] as string) === "" ? NaN : Number((item[2] as string).slice(-4));
  // Buckets: 0 unknown, 1 before 1940, 2..6 the 1940s..1980s, 7.. one per year from 1990.
  const yearBucket = Number.isNaN(year)
    ? 0
    : year < 1940
      ? 1
      : year < 1990
        ? 2 + Math.floor((year - 1940) / 10)
        : 7 + (year - 1990);
  const genres = item.slice(5).flatMap((flag, g) => (flag === "1" ? [g] : []));
  // Dense scaling: age over u.user 7..73, year over u.item 1922..1998, time over the train file.
  const ages = rawLines("u.user").map((l) => Number(l.split("|")[1]));
  const times = trainLines.map((l) => Number(l.split("\t")[3]));
  const [minT, maxT] = [Math.min(...times), Math.max(...times)];
  return {
    label: r >= 4 ? 1 : 0,
    ids: [
      u - 1,
      i - 1,
      user[2] === "M" ? 0 : 1,
      ageBucket,
      occupations.indexOf(user[3] as string),
      /\d/.test(zipFirst) ? Number(zipFirst) : 10,
      yearBucket,
    ],
    genres,
    dense: [
      (age - Math.min(...ages)) / (Math.max(...ages) - Math.min(...ages)),
      (year - 1922) / (1998 - 1922),
      (t - minT) / (maxT - minT),
    ],
  };
}

function sampleOf(d: Dataset, n: number) {
  const g = d.sparse[7];
  return {
    label: d.labels[n],
    ids: d.sparse.slice(0, 7).map((f) => f.indices[f.offsets[n] as number]),
    genres: Array.from(g?.indices.subarray(g.offsets[n], g.offsets[n + 1]) ?? []),
    dense: Array.from(d.dense.subarray(n * 3, n * 3 + 3)),
  };
}

withData("u1: 80,000 training and 20,000 test samples, labels = rating ≥ 4 line by line", () => {
  const { train, test: ev } = ml();
  for (const [d, name] of [
    [train, "u1.base"],
    [ev, "u1.test"],
  ] as const) {
    const lines = rawLines(name);
    assert.is(d.n, lines.length);
    const expected = lines.map((l) => (Number(l.split("\t")[2]) >= 4 ? 1 : 0));
    assert.equal(Array.from(d.labels), expected, name);
  }
  assert.is(train.n, 80000);
  assert.is(ev.n, 20000);
  // u1.base ratings: 27,396 fours and 16,744 fives (counted with cut | sort | uniq -c).
  assert.is(
    train.labels.reduce((s, y) => s + y, 0),
    27396 + 16744,
  );
});

withData("table sizes and names come from the files", () => {
  const d = ml();
  // 943 users and 1682 items (u.info), 2 genders, 7 age groups, 21 occupations (u.occupation),
  // 10 zip digits + non-numeric, 16 year buckets (unknown, <1940, 5 decades, 1990..1998), 19 genres (u.genre).
  assert.equal(d.tableSizes, [943, 1682, 2, 7, 21, 11, 16, 19]);
  assert.equal(d.tableNames, ["user", "item", "gender", "age", "occupation", "zip", "release_year", "genres"]);
  assert.equal(d.denseNames, ["age", "release_year", "timestamp"]);
  assert.is(d.train.denseFeatures, 3);
  for (const data of [d.train, d.test]) {
    data.sparse.forEach((f, t) => {
      for (const id of f.indices) assert.ok(id >= 0 && id < (d.tableSizes[t] as number), `${d.tableNames[t]} id ${id}`);
    });
  }
});

withData("individual samples match the raw lines (ids, genres, dense features)", () => {
  const { train, test: ev } = ml();
  const base = rawLines("u1.base");
  const testLines = rawLines("u1.test");
  const picks: [Dataset, string[], number][] = [
    [train, base, 0],
    [train, base, 1],
    [train, base, 12345],
    [train, base, 54321],
    [train, base, 79999],
    [ev, testLines, 0],
    [ev, testLines, 777],
    [ev, testLines, 19999],
  ];
  for (const [d, lines, n] of picks) {
    const e = expectedSample(lines[n] as string, base);
    const got = sampleOf(d, n);
    assert.is(got.label, e.label, `sample ${n} label`);
    assert.equal(got.ids, e.ids, `sample ${n} ids`);
    assert.equal(got.genres, e.genres, `sample ${n} genres`);
    assertClose(got.dense, e.dense, { atol: 1e-6, rtol: 1e-6 }, `sample ${n} dense`); // float32 storage of values in [0, 1]
  }
});

withData("genres form one bag per sample: Toy Story is Animation, Children's, Comedy", () => {
  const { train } = ml();
  const g = train.sparse[7];
  assert.ok(g !== undefined);
  const items = rawLines("u.item");
  const flags = items.map(
    (l) =>
      l
        .split("|")
        .slice(5)
        .filter((f) => f === "1").length,
  );
  const base = rawLines("u1.base");
  let total = 0;
  base.forEach((l, n) => {
    const item = Number(l.split("\t")[1]);
    assert.is(g.lengths[n], flags[item - 1], `sample ${n}`);
    total += flags[item - 1] as number;
  });
  assert.is(g.indices.length, total);
  // Line 1 of u1.base is user 1 rating item 1 (Toy Story): genres 3, 4, 5 in u.genre.
  assert.equal(Array.from(g.indices.subarray(g.offsets[0], g.offsets[1])), [3, 4, 5]);
  // The single-lookup tables have bag length 1 everywhere.
  for (const f of train.sparse.slice(0, 7)) assert.ok(f.lengths.every((l) => l === 1));
});

withData("Latin-1 titles do not break parsing (Misérables, Les (1995), item 543)", () => {
  const line = rawLines("u.item")[542] as string;
  assert.ok(line.startsWith("543|Mis\u00e9rables, Les (1995)|"), "u.item is read as Latin-1 here");
  const { train } = ml();
  const base = rawLines("u1.base");
  const n = base.findIndex((l) => l.split("\t")[1] === "543");
  assert.ok(n >= 0);
  const got = sampleOf(train, n);
  assert.is(got.ids[1], 542);
  assert.is(got.ids[6], 7 + (1995 - 1990));
  assert.equal(got.genres, [8, 12]); // Drama, Musical
  // And every item line still has its 24 fields.
  assert.is(rawLines("u.item").filter((l) => l.split("|").length === 24).length, 1682);
});

withData("users and items seen only in the test split have their own rows", () => {
  const { test: ev } = ml();
  const baseItems = new Set(rawLines("u1.base").map((l) => l.split("\t")[1]));
  const testLines = rawLines("u1.test");
  let onlyInTest = 0;
  testLines.forEach((l, n) => {
    const item = l.split("\t")[1] as string;
    if (baseItems.has(item)) return;
    onlyInTest++;
    assert.is(ev.sparse[1]?.indices[n], Number(item) - 1);
  });
  assert.ok(onlyInTest > 0, "u1.test has items that u1.base lacks");
});

withData("dense features are scaled to about [0, 1]; the unknown release year gets the mean of the known", () => {
  const { train, test: ev } = ml();
  for (let k = 0; k < train.dense.length; k++) {
    const v = train.dense[k] as number;
    assert.ok(v >= 0 && v <= 1, `train dense ${k} = ${v}`);
  }
  for (const v of ev.dense) assert.ok(v >= -0.01 && v <= 1.01, `test dense ${v}`); // time is scaled by the train span
  // Item 267 has no release date: year bucket 0, dense year = mean of the scaled known years.
  const years = rawLines("u.item")
    .map((l) => l.split("|")[2] as string)
    .filter((s) => s !== "")
    .map((s) => (Number(s.slice(-4)) - 1922) / 76);
  const mean = years.reduce((s, y) => s + y, 0) / years.length;
  const n = rawLines("u1.base").findIndex((l) => l.split("\t")[1] === "267");
  if (n >= 0) {
    assert.is(train.sparse[6]?.indices[n], 0);
    assertClose([train.dense[n * 3 + 1] as number], [mean], { atol: 1e-6, rtol: 0 }, "unknown year"); // float32 storage
  } else {
    const m = rawLines("u1.test").findIndex((l) => l.split("\t")[1] === "267");
    assert.ok(m >= 0, "item 267 is rated somewhere");
    assert.is(ev.sparse[6]?.indices[m], 0);
    assertClose([ev.dense[m * 3 + 1] as number], [mean], { atol: 1e-6, rtol: 0 }, "unknown year"); // float32 storage
  }
});

// ---------------------------------------------------------------------------------------
// Malformed input, on small hand-made folders

const tmp = mkdtempSync(join(tmpdir(), "dlrm-movielens-test-"));
const GENRES0 = Array(19).fill("0");
function folder(files: Record<string, string>): string {
  const d = join(tmp, `d${Object.keys(files).join("").length}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d);
  const defaults: Record<string, string> = {
    "u.user": "1|24|M|technician|85711\n2|53|F|other|V3N4P\n",
    "u.item": `1|A (1995)|01-Jan-1995||http://x|${[...GENRES0.slice(0, 18), "1"].join("|")}\n2|B|||http://y|${GENRES0.join("|")}\n`,
    "s.base": "1\t1\t5\t100\n2\t2\t3\t200\n",
    "s.test": "2\t1\t4\t150\n",
  };
  for (const [name, text] of Object.entries({ ...defaults, ...files })) writeFileSync(join(d, name), text, "latin1");
  return d;
}

test("a tiny hand-made folder reads as expected", () => {
  const d = readMovieLens(folder({}), "s", nodeDataFiles);
  assert.equal(d.tableSizes, [2, 2, 2, 7, 2, 11, 1 + 1 + 5 + 6, 19]); // years 1990..1995
  assert.equal(Array.from(d.train.labels), [1, 0]);
  assert.equal(Array.from(d.test.labels), [1]);
  // Test sample: user 2 (F, 53 → bucket 5, "other" is occupation 0 of [other, technician], zip V… → 10), item 1 (1995, genre 18).
  assert.equal(
    d.test.sparse.slice(0, 7).map((f) => f.indices[0]),
    [1, 0, 1, 5, 0, 10, 7 + 5],
  );
  assert.equal(Array.from(d.test.sparse[7]?.indices ?? []), [18]);
  assert.equal(Array.from(d.train.sparse[7]?.lengths ?? []), [1, 0], "item 2 has no genre: an empty bag");
  // age (53 - 24) / 29 = 1, year: only 1995 known → 0, time (150 - 100) / 100 = 0.5.
  assertClose(d.test.dense, [1, 0, 0.5], { atol: 1e-7, rtol: 0 }); // float32 of exact values
});

test("malformed files are errors naming file:line", () => {
  assertThrows(
    () => readMovieLens(folder({ "u.user": "1|24|M|technician|85711\n2|53|X|other|1\n" }), "s", nodeDataFiles),
    /u\.user:2: gender must be M or F, got "X"/,
  );
  assertThrows(
    () => readMovieLens(folder({ "u.user": "1|24|M|technician\n" }), "s", nodeDataFiles),
    /u\.user:1: expected 5 \|-separated fields/,
  );
  assertThrows(
    () => readMovieLens(folder({ "u.item": `1|A|1995||u|${GENRES0.join("|")}\n` }), "s", nodeDataFiles),
    /u\.item:1: release date is not like 01-Jan-1995: "1995"/,
  );
  assertThrows(
    () => readMovieLens(folder({ "u.item": `1|A|||u|${[...GENRES0.slice(1), "2"].join("|")}\n` }), "s", nodeDataFiles),
    /u\.item:1: genre flag 19 must be 0 or 1/,
  );
  assertThrows(
    () => readMovieLens(folder({ "s.test": "2\t1\t4\t150\n2\t9\t4\t150\n" }), "s", nodeDataFiles),
    /s\.test:2: item "9" is not in u\.item/,
  );
  assertThrows(
    () => readMovieLens(folder({ "s.base": "1\t1\t6\t100\n" }), "s", nodeDataFiles),
    /s\.base:1: rating must be an integer from 1 to 5, got "6"/,
  );
  assertThrows(
    () => readMovieLens(folder({ "s.base": "1\t1\t5\n" }), "s", nodeDataFiles),
    /s\.base:1: expected 4 tab-separated fields/,
  );
  assertThrows(
    () => readMovieLens(folder({}), "nope", nodeDataFiles),
    /cannot read .*nope\.base \(split "nope" needs nope\.base and nope\.test\)/,
  );
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
