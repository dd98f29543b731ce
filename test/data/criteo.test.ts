// Criteo reader: every transformation checked against an independent parse of the raw lines
// (the test splits each line itself and computes log(x + 1), hex → int, modulo and the
// first-appearance numbering with plain Maps), plus dictionary reuse, the Kaggle split,
// negative sub-sampling, malformed lines, and the streaming line reader underneath.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { criteoSplit, kaggleDays, readCriteo, type CriteoOptions } from "../../src/data/criteo.ts";
import { criteoTableSizes, loadDictionary } from "../../src/data/criteo_dictionary.ts";
import { saveDictionary } from "../../src/data/criteo_dictionary_writer.ts";
import { readLineBatches, splitLines } from "../../src/data/lines.ts";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.ts";
import type { Dataset } from "../../src/data/dataset.ts";
import { assertClose } from "../../src/testing/index.ts";
import { DATA } from "../helpers/golden.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const SAMPLE = `${DATA}criteo-sample/train.txt`;
const haveSample = existsSync(SAMPLE);
if (!haveSample) {
  console.log(
    `criteo tests: skipping the real-data tests, ${SAMPLE} is absent (the Criteo Kaggle data is published by Criteo AI Lab; see ../shared/data/README.md)`,
  );
}
const withSample = haveSample ? test : test.skip;
const sampleLines = (): string[] => splitLines(readFileSync(SAMPLE, "latin1"));

const tmp = mkdtempSync(join(tmpdir(), "dlrm-criteo-test-"));
let tmpCount = 0;
function tmpFile(text: string): string {
  const p = join(tmp, `f${tmpCount++}.txt`);
  writeFileSync(p, text);
  return p;
}

interface Expected {
  labels: number[];
  dense: number[]; // (N·13,) float64
  indices: number[][]; // 26 × (N,)
  raw: number[][]; // 26 × distinct raw values in first-appearance order
}

/** The reference's transformations, written out naively on split lines. */
function expectedFrom(lines: string[], R = 0): Expected {
  const maps = Array.from({ length: 26 }, () => new Map<number, number>());
  const e: Expected = { labels: [], dense: [], indices: maps.map(() => []), raw: maps.map(() => []) };
  for (const line of lines) {
    const f = line.split("\t");
    assert.is(f.length, 40);
    e.labels.push(Number(f[0]));
    for (let j = 1; j <= 13; j++) {
      const x = f[j] === "" ? 0 : parseInt(f[j] as string, 10);
      e.dense.push(Math.log(Math.max(0, x) + 1));
    }
    for (let j = 0; j < 26; j++) {
      const s = f[14 + j] as string;
      let v = s === "" ? 0 : parseInt(s, 16);
      if (R > 0) v %= R;
      const m = maps[j] as Map<number, number>;
      if (!m.has(v)) {
        m.set(v, m.size);
        (e.raw[j] as number[]).push(v);
      }
      (e.indices[j] as number[]).push(m.get(v) as number);
    }
  }
  return e;
}

function checkAgainst(d: Dataset, e: Expected): void {
  assert.is(d.n, e.labels.length);
  assert.is(d.denseFeatures, 13);
  assert.equal(Array.from(d.labels), e.labels);
  // float32 storage of log(x + 1): relative rounding ≤ 2^-24 ≈ 6e-8, so rtol 1e-7.
  assertClose(d.dense, e.dense, { atol: 1e-12, rtol: 1e-7 }, "dense");
  assert.is(d.sparse.length, 26);
  d.sparse.forEach((f, t) => {
    assert.equal(Array.from(f.indices), e.indices[t], `table ${t} indices`);
    assert.ok(
      f.lengths.every((l) => l === 1),
      `table ${t}: every bag has one lookup`,
    );
    assert.equal(
      Array.from(f.offsets),
      Array.from({ length: d.n + 1 }, (_, i) => i),
    );
    assert.is(f.weights, null);
  });
}

// ---------------------------------------------------------------------------------------
// The sample file

withSample(
  "the 200 sample rows match an independent parse (labels, log(x+1), hex ids numbered by first appearance)",
  async () => {
    const r = await readCriteo([SAMPLE], nodeDataFiles);
    assert.is(r.lines, 200);
    assert.is(r.skipped, 0);
    checkAgainst(r.data, expectedFrom(sampleLines()));
    // ../shared/data/README.md: 49 of the 200 rows are clicks.
    assert.is(
      r.data.labels.reduce((s, y) => s + y, 0),
      49,
    );
  },
);

withSample("rows 1 and 2 of the sample, by hand", async () => {
  const { data, dictionary } = await readCriteo([SAMPLE], nodeDataFiles);
  // Line 2: "0, '', -1, 19, 35, 30251, 247, 1, 35, 160, '', 1, '', 35": missing → 0, -1 → 0.
  const row2 = [
    0,
    0,
    Math.log(20),
    Math.log(36),
    Math.log(30252),
    Math.log(248),
    Math.log(2),
    Math.log(36),
    Math.log(161),
    0,
    Math.log(2),
    0,
    Math.log(36),
  ];
  assertClose(data.dense.subarray(13, 26), row2, { atol: 1e-12, rtol: 1e-7 }, "line 2 dense"); // float32 rounding
  // Line 1 C1 = 05db9164 is the first value of C1; line 2 C1 = 68fd1e64 is the second.
  assert.is(data.sparse[0]?.indices[0], 0);
  assert.is(data.sparse[0]?.indices[1], 1);
  assert.is(dictionary.features[0]?.get(0x05db9164), 0);
  assert.is(dictionary.features[0]?.get(0x68fd1e64), 1);
  // Line 1 C5 and line 2 C5 are both 25c83c98: the same id. Line 1 C19 (table 18) is missing: raw 0.
  assert.is(data.sparse[4]?.indices[1], data.sparse[4]?.indices[0]);
  assert.is(dictionary.features[18]?.get(0), data.sparse[18]?.indices[0]);
});

withSample(
  "the dictionary numbers each feature contiguously in order of first appearance; table sizes add the unknown row",
  async () => {
    const { data, dictionary } = await readCriteo([SAMPLE], nodeDataFiles);
    const sizes = criteoTableSizes(dictionary);
    data.sparse.forEach((f, t) => {
      const size = dictionary.features[t]?.size as number;
      assert.is(sizes[t], size + 1);
      let nextNew = 0; // ids must appear as 0, 1, 2, … for the first time
      for (const id of f.indices) {
        assert.ok(id <= nextNew, `table ${t}: id ${id} appears before id ${nextNew}`);
        if (id === nextNew) nextNew++;
      }
      assert.is(nextNew, size, `table ${t}: every id 0 .. size-1 is used`);
    });
    // Raw values in id order = first-appearance order computed independently.
    const e = expectedFrom(sampleLines());
    dictionary.features.forEach((m, t) => assert.equal(Array.from(m.rawValues()), e.raw[t]));
  },
);

withSample("maxIndRange R takes raw values modulo R before numbering", async () => {
  for (const R of [7, 1000]) {
    const r = await readCriteo([SAMPLE], nodeDataFiles, { maxIndRange: R });
    const e = expectedFrom(sampleLines(), R);
    checkAgainst(r.data, e);
    assert.is(r.dictionary.maxIndRange, R);
    r.dictionary.features.forEach((m) => assert.ok(m.size <= R));
    r.dictionary.features.forEach((m, t) => assert.equal(Array.from(m.rawValues()), e.raw[t]));
  }
});

withSample(
  "eval data through a given dictionary: known values keep their ids, unseen ones go to the unknown row",
  async () => {
    const lines = sampleLines();
    const trainFile = tmpFile(lines.slice(0, 100).join("\n") + "\n");
    const evalFile = tmpFile(lines.slice(100).join("\n") + "\n");
    const train = await readCriteo([trainFile], nodeDataFiles);
    const sizesBefore = train.dictionary.features.map((m) => m.size);
    const ev = await readCriteo([evalFile], nodeDataFiles, { dictionary: train.dictionary });
    assert.is(ev.dictionary, train.dictionary);
    assert.equal(
      ev.dictionary.features.map((m) => m.size),
      sizesBefore,
      "the dictionary is not extended",
    );

    // Independently: ids from the first 100 lines; an eval value unseen there → that table's size.
    const e = expectedFrom(lines.slice(0, 100));
    const known = e.raw.map((raws) => new Map(raws.map((v, i) => [v, i])));
    let unknownCount = 0;
    lines.slice(100).forEach((line, i) => {
      const f = line.split("\t");
      for (let t = 0; t < 26; t++) {
        const s = f[14 + t] as string;
        const v = s === "" ? 0 : parseInt(s, 16);
        const id = known[t]?.get(v);
        const expected = id ?? (sizesBefore[t] as number);
        if (id === undefined) unknownCount++;
        assert.is(ev.data.sparse[t]?.indices[i], expected, `eval line ${i + 1}, C${t + 1}`);
      }
    });
    assert.ok(unknownCount > 0, "the second half has values the first half lacks");
  },
);

withSample("a dictionary built with one maxIndRange refuses another", async () => {
  const { dictionary } = await readCriteo([SAMPLE], nodeDataFiles, { maxIndRange: 1000 });
  try {
    await readCriteo([SAMPLE], nodeDataFiles, { dictionary, maxIndRange: 999 });
    assert.unreachable("should have thrown");
  } catch (e) {
    assert.match(String(e), /dictionary was built with maxIndRange 1000, but 999 was given/);
  }
  // Without maxIndRange, the dictionary's own is used.
  const again = await readCriteo([SAMPLE], nodeDataFiles, { dictionary });
  checkAgainst(again.data, expectedFrom(sampleLines(), 1000));
});

withSample(
  "saveDictionary / loadDictionary: a safetensors file of raw values per feature that maps eval data the same way",
  async () => {
    const { dictionary } = await readCriteo([SAMPLE], nodeDataFiles, { maxIndRange: 5000 });
    const path = join(tmp, "dict.safetensors");
    saveDictionary(path, dictionary);
    const file = readSafetensors(path);
    assert.is(file.metadata["max_ind_range"], "5000");
    const e = expectedFrom(sampleLines(), 5000);
    for (let t = 0; t < 26; t++) {
      const tensor = file.tensors.get(`C${t + 1}`);
      assert.ok(tensor !== undefined && tensor.dtype === "I64");
      assert.equal(Array.from(tensor.data as BigInt64Array, Number), e.raw[t]);
    }
    const loaded = loadDictionary(path, nodeDataFiles);
    assert.is(loaded.maxIndRange, 5000);
    assert.equal(criteoTableSizes(loaded), criteoTableSizes(dictionary));
    const a = await readCriteo([SAMPLE], nodeDataFiles, { dictionary });
    const b = await readCriteo([SAMPLE], nodeDataFiles, { dictionary: loaded });
    b.data.sparse.forEach((f, t) => assert.equal(Array.from(f.indices), Array.from(a.data.sparse[t]?.indices ?? [])));
  },
);

test("loadDictionary refuses other files and duplicate values, naming the file", () => {
  const other = join(tmp, "other.safetensors");
  writeSafetensors(other, { x: { dtype: "F32", shape: [1], data: new Float32Array([1]) } });
  assert.throws(() => loadDictionary(other, nodeDataFiles), /other\.safetensors: not a Criteo dictionary/);
  const dup = join(tmp, "dup.safetensors");
  const tensors: Record<string, { dtype: "I64"; shape: number[]; data: BigInt64Array }> = {};
  for (let t = 1; t <= 26; t++)
    tensors[`C${t}`] = { dtype: "I64", shape: [2], data: new BigInt64Array([5n, t === 3 ? 5n : 6n]) };
  writeSafetensors(dup, tensors, { format: "dlrm-ts criteo dictionary", max_ind_range: "0" });
  assert.throws(() => loadDictionary(dup, nodeDataFiles), /dup\.safetensors: C3: value 5 at position 1 appears twice/);
});

// ---------------------------------------------------------------------------------------
// Splits and sub-sampling

const kaggleSplits = (n: number) => criteoSplit(kaggleDays(n));

test("criteoSplit of kaggleDays: the reference's 7 days, train = 6, the last halved into test then validation", () => {
  // REFERENCE.md 1G: 45,840,617 rows → train 39,291,958, test 3,274,330, val 3,274,329.
  assert.equal(kaggleSplits(45840617), { train: [0, 39291958], test: [39291958, 42566288], val: [42566288, 45840617] });
  // 200 = 4·29 + 3·28: train 4·29 + 2·28 = 172, the last 28 → 14 + 14.
  assert.equal(kaggleSplits(200), { train: [0, 172], test: [172, 186], val: [186, 200] });
  // 13 = 6·2 + 1: train 12, the last day of 1 → test 1, val 0.
  assert.equal(kaggleSplits(13), { train: [0, 12], test: [12, 13], val: [13, 13] });
  assert.equal(kaggleSplits(0), { train: [0, 0], test: [0, 0], val: [0, 0] });
  assert.throws(() => kaggleDays(-1), /kaggleDays: n must be a non-negative integer/);
});

test("criteoSplit of kaggleDays agrees with a naive np.array_split emulation for any n", () => {
  // np.array_split(range(n), k): the first n mod k parts get one element more.
  const arraySplit = (start: number, n: number, k: number): [number, number][] => {
    const parts: [number, number][] = [];
    let at = start;
    for (let i = 0; i < k; i++) {
      const len = Math.floor(n / k) + (i < n % k ? 1 : 0);
      parts.push([at, at + len]);
      at += len;
    }
    return parts;
  };
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), (n) => {
      const days = arraySplit(0, n, 7);
      const last = days[6] as [number, number];
      const [test, val] = arraySplit(last[0], last[1] - last[0], 2) as [[number, number], [number, number]];
      assert.equal(kaggleSplits(n), { train: [0, last[0]], test, val });
    }),
    { seed: 11, numRuns: 100 },
  );
});

withSample("sub-sampling drops only negatives, keeps order, and numbers only the kept rows", async () => {
  const full = (await readCriteo([SAMPLE], nodeDataFiles)).data;
  const positives = Array.from(full.labels).filter((y) => y === 1).length;
  const all = await readCriteo([SAMPLE], nodeDataFiles, { subSampleRate: 1 });
  assert.is(all.data.n, positives, "p = 1 drops every negative");
  assert.ok(all.data.labels.every((y) => y === 1));
  const none = await readCriteo([SAMPLE], nodeDataFiles, { subSampleRate: 0, seed: 5 });
  assert.is(none.data.n, 200);

  const half = await readCriteo([SAMPLE], nodeDataFiles, { subSampleRate: 0.5, seed: 5 });
  const kept = half.data;
  assert.is(Array.from(kept.labels).filter((y) => y === 1).length, positives, "every positive is kept");
  const negatives = 200 - positives;
  const keptNeg = kept.n - positives;
  // Binomial(151, 0.5): mean 75.5, sd 6.1; ±5 sd.
  assert.ok(Math.abs(keptNeg - negatives / 2) < 31, `kept ${keptNeg} of ${negatives} negatives`);
  // The kept rows are full rows in file order: match each kept dense row to the next equal full row.
  let j = 0;
  for (let i = 0; i < kept.n; i++) {
    while (j < full.n && !sameRow(full, j, kept, i)) {
      assert.is(full.labels[j], 0, `full row ${j} was dropped but is a positive`);
      j++;
    }
    assert.ok(j < full.n, `kept row ${i} is not a full row in order`);
    j++;
  }
  // The dictionary holds the values of the kept rows only, numbered by first appearance among them.
  for (let t = 0; t < 26; t++) {
    const raw = half.dictionary.features[t]?.rawValues() as Uint32Array;
    const values = Array.from(kept.sparse[t]?.indices ?? [], (id) => raw[id] as number);
    const firstSeen = new Map<number, number>();
    for (const v of values) if (!firstSeen.has(v)) firstSeen.set(v, firstSeen.size);
    assert.is(raw.length, firstSeen.size, `table ${t}: the dictionary holds values of dropped rows`);
    assert.equal(
      Array.from(kept.sparse[t]?.indices ?? []),
      values.map((v) => firstSeen.get(v)),
      `table ${t}`,
    );
  }
});

test("sub-sampling before numbering, by hand: a value seen only in dropped negatives gets no row; days are cut from all lines", async () => {
  // 14 lines = Kaggle's 7 days of 2 lines. C1 of each line, label first; every other field empty (raw 0).
  // With p = 1 every negative is dropped, before its values are numbered.
  const c1 = ["a", "b", "b", "c", "d", "a", "e", "e", "f", "b", "c", "c", "10", "a"];
  const labels = [0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0];
  const text =
    c1.map((v, i) => [String(labels[i]), ...Array(13).fill(""), v, ...Array(25).fill("")].join("\t")).join("\n") + "\n";
  const r = await readCriteo([tmpFile(text)], nodeDataFiles, { subSampleRate: 1, seed: 3 });
  // Kept (positives), in order: lines 1 b, 2 b, 5 a, 8 f, 9 b, 11 c, 12 10. First appearance: b 0, a 1, f 2, c 3, 10 4.
  // "d" and "e" occur only in negatives: no id, so C1 has 5 values and 6 rows (with the unknown row).
  assert.equal(Array.from(r.data.sparse[0]?.indices ?? []), [0, 0, 1, 2, 0, 3, 4]);
  assert.equal(Array.from(r.dictionary.features[0]?.rawValues() ?? []), [0xb, 0xa, 0xf, 0xc, 0x10]);
  assert.is(criteoTableSizes(r.dictionary)[0], 6);
  // Days of 2 lines each: kept lines {1} {2} {5} {} {8,9} {11} {12} → 1, 1, 1, 0, 2, 1, 1.
  assert.equal(r.dayRows, [1, 1, 1, 0, 2, 1, 1]);
  // Without sub-sampling, days of a single file are kaggleDays of its lines; several files are one day each.
  const whole = await readCriteo([tmpFile(text)], nodeDataFiles);
  assert.equal(whole.dayRows, [2, 2, 2, 2, 2, 2, 2]);
  const two = await readCriteo([tmpFile(text), tmpFile(text)], nodeDataFiles, { subSampleRate: 1, seed: 3 });
  assert.equal(two.dayRows, [7, 7]);
});

function sameRow(a: Dataset, i: number, b: Dataset, k: number): boolean {
  if (a.labels[i] !== b.labels[k]) return false;
  for (let d = 0; d < 13; d++) if (a.dense[i * 13 + d] !== b.dense[k * 13 + d]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// Malformed lines

const GOOD = ["1", "5", "", "-2", ...Array(10).fill("3"), "0a1b2c3d", "", ...Array(24).fill("ff")].join("\t");
const variant = (field: number, value: string): string => {
  const f = GOOD.split("\t");
  f[field] = value;
  return f.join("\t");
};

async function rejects(files: string[], pattern: RegExp, opts: CriteoOptions = {}): Promise<void> {
  try {
    await readCriteo(files, nodeDataFiles, opts);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    assert.match(msg, pattern);
    return;
  }
  assert.unreachable(`did not throw (expected ${pattern})`);
}

test("a good hand-made line parses as expected", async () => {
  const { data, dictionary } = await readCriteo([tmpFile(GOOD + "\n")], nodeDataFiles);
  assert.is(data.n, 1);
  assert.is(data.labels[0], 1);
  // I1 = 5, I2 missing → 0, I3 = -2 → 0, I4..I13 = 3; float32 rounding: rtol 1e-7.
  assertClose(data.dense, [Math.log(6), 0, 0, ...Array(10).fill(Math.log(4))], { atol: 1e-12, rtol: 1e-7 });
  assert.equal(Array.from(dictionary.features[0]?.rawValues() ?? []), [0x0a1b2c3d]);
  assert.equal(Array.from(dictionary.features[1]?.rawValues() ?? []), [0], "a missing categorical is raw 0");
  assert.equal(Array.from(dictionary.features[2]?.rawValues() ?? []), [255]);
});

test("a missing categorical shares the row of an explicit 00000000, also after the modulo", async () => {
  const file = tmpFile([variant(14, ""), variant(14, "00000000"), variant(14, "0000001c")].join("\n"));
  const plain = await readCriteo([file], nodeDataFiles);
  assert.equal(Array.from(plain.data.sparse[0]?.indices ?? []), [0, 0, 1]);
  const mod = await readCriteo([file], nodeDataFiles, { maxIndRange: 7 }); // 0x1c = 28 ≡ 0 (mod 7)
  assert.equal(Array.from(mod.data.sparse[0]?.indices ?? []), [0, 0, 0]);
});

test("malformed lines are errors naming file:line and the field", async () => {
  const lines = (bad: string): string => [GOOD, GOOD, bad, GOOD].join("\n") + "\n";
  await rejects(
    [tmpFile(lines(GOOD.split("\t").slice(0, 39).join("\t")))],
    /criteo: .*f\d+\.txt:3: expected 40 tab-separated fields .*found 39/,
  );
  await rejects([tmpFile(lines(GOOD + "\textra"))], /\.txt:3: expected 40 tab-separated fields .*found 41/);
  await rejects([tmpFile(lines(variant(4, "12a")))], /\.txt:3: field I4 is not an integer: "12a"/);
  await rejects([tmpFile(lines(variant(2, "1.5")))], /\.txt:3: field I2 is not an integer: "1\.5"/);
  await rejects(
    [tmpFile(lines(variant(18, "xyz")))],
    /\.txt:3: field C5 is not a hexadecimal value of at most 8 digits: "xyz"/,
  );
  await rejects(
    [tmpFile(lines(variant(39, "123456789")))],
    /\.txt:3: field C26 is not a hexadecimal value of at most 8 digits/,
  );
  await rejects([tmpFile(lines(variant(0, "2")))], /\.txt:3: label must be 0 or 1, got "2"/);
  await rejects([tmpFile(lines(variant(0, "")))], /\.txt:3: label must be 0 or 1, got ""/);
  await rejects([tmpFile(lines(""))], /\.txt:3: empty line/);
});

test("an error in the second file names that file and its own line number", async () => {
  const a = tmpFile(`${GOOD}\n${GOOD}\n`);
  const b = tmpFile(`${GOOD}\n${variant(10, "-")}\n`);
  await rejects([a, b], new RegExp(`${b.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2: field I10 is not an integer: "-"`));
});

test('onBadLine "skip" skips and counts malformed lines and keeps the rest', async () => {
  const file = tmpFile(
    [GOOD, variant(4, "x"), variant(1, "7"), "", variant(20, "g"), variant(0, "0")].join("\r\n") + "\r\n",
  );
  const r = await readCriteo([file], nodeDataFiles, { onBadLine: "skip" });
  assert.is(r.lines, 6);
  assert.is(r.skipped, 3);
  assert.is(r.data.n, 3);
  assert.equal(Array.from(r.data.labels), [1, 1, 0]);
  assertClose(r.data.dense.subarray(13, 14), [Math.log(8)], { atol: 0, rtol: 1e-7 }, "I1 of the kept line 3"); // float32 rounding
});

test("several files read as their concatenation, with one dictionary and progress up to the total bytes", async () => {
  const lines = [GOOD, variant(14, "1"), variant(15, "2"), variant(14, "3"), variant(14, "1")];
  const a = tmpFile(lines.slice(0, 2).join("\n") + "\n");
  const b = tmpFile(lines.slice(2).join("\n")); // no final newline
  const whole = tmpFile(lines.join("\n") + "\n");
  const calls: [number, number, number][] = [];
  const two = await readCriteo([a, b], nodeDataFiles, { onProgress: (l, read, total) => calls.push([l, read, total]) });
  const one = await readCriteo([whole], nodeDataFiles);
  assert.equal(Array.from(two.data.dense), Array.from(one.data.dense));
  two.data.sparse.forEach((f, t) => assert.equal(Array.from(f.indices), Array.from(one.data.sparse[t]?.indices ?? [])));
  assert.equal(Array.from(two.data.sparse[0]?.indices ?? []), [0, 1, 0, 2, 1]);
  const total = statSync(a).size + statSync(b).size;
  assert.equal(calls[calls.length - 1], [5, total, total]);
  for (let k = 1; k < calls.length; k++) {
    assert.ok(
      (calls[k]?.[0] as number) >= (calls[k - 1]?.[0] as number) &&
        (calls[k]?.[1] as number) >= (calls[k - 1]?.[1] as number),
    );
  }
});

// ---------------------------------------------------------------------------------------
// The streaming line reader

test("readLineBatches gives the same lines as a whole-file split, across any chunk size", async () => {
  const text = "alpha\nbe\r\nγamma\n\nlast without newline";
  const path = tmpFile(text);
  const expected = ["alpha", "be", "γamma", "", "last without newline"];
  assert.equal(splitLines(text), expected);
  for (const chunkBytes of [1, 2, 3, 7, 1 << 16]) {
    const got: string[] = [];
    let bytes = 0;
    for await (const b of readLineBatches(path, nodeDataFiles, { chunkBytes, encoding: "utf8" })) {
      assert.is(b.firstLine, got.length + 1, "firstLine counts lines so far");
      got.push(...b.lines);
      bytes = b.bytesRead;
    }
    assert.equal(got, expected, `chunkBytes ${chunkBytes}`);
    assert.is(bytes, Buffer.byteLength(text));
  }
  assert.equal(splitLines("a\nb\n"), ["a", "b"], "a final newline does not make an empty last line");
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
