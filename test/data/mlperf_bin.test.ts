// The MLPerf .bin format against the reference's own reader: test/fixtures/mlperf_bin/make.py
// checked `dlrm preprocess criteo --out sample.bin` against its own reading of sample.txt and
// recorded what facebookresearch/dlrm's CriteoBinDataset makes of the file (with and without
// --max-ind-range). Here: our writer still gives those bytes, our reader gives the reference's
// samples, and malformed files are errors naming the file and the sample.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { sameRows } from "../helpers/datasets.ts";
import { criteoToMlperfBin } from "../../src/data/criteo_mlperf.ts";
import { MlperfBinFile, MlperfBinSource } from "../../src/data/mlperf_bin.ts";
import { writeMlperfBin } from "../../src/data/mlperf_bin_writer.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const FIX = "test/fixtures/mlperf_bin";
const { dir, cleanup } = tempDir();

test("dlrm preprocess criteo --out x.bin writes the fixture's bytes", async () => {
  const out = join(dir, "sample.bin");
  const r = await runCli(["preprocess", "criteo", `${FIX}/sample.txt`, "--out", out]);
  assert.is(r.code, 0, r.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(`${FIX}/sample.bin`)));
});

for (const R of [0, 7]) {
  test(`our reader gives what the reference's CriteoBinDataset gives (max_ind_range ${R || "none"})`, () => {
    const ref = readSafetensors(`${FIX}/reference.safetensors`).tensors;
    const file = new MlperfBinFile(`${FIX}/sample.bin`, nodeDataFiles, { maxIndRange: R });
    const d = file.read(0, file.n);
    file.close();
    assert.is(d.n, 50);
    assert.equal(Array.from(d.labels), Array.from(ref.get(`labels.${R}`)?.data as Float32Array));
    // log(float32(x) + 1) in float32, as torch.log computes it: within one float32 rounding
    const want = ref.get(`dense.${R}`)?.data as Float32Array;
    for (let j = 0; j < want.length; j++) {
      const w = want[j] as number;
      assert.ok(Math.abs((d.dense[j] as number) - w) <= 2 ** -23 * Math.abs(w), `dense ${j}: ${d.dense[j]} vs ${w}`);
    }
    const ids = ref.get(`ids.${R}`)?.data as Int32Array; // (26, 50): x_cat transposed
    d.sparse.forEach((f, t) => assert.equal(Array.from(f.indices), Array.from(ids.subarray(t * 50, (t + 1) * 50))));
    // the reference's lS_o gives every sample one lookup per table, as our lengths of ones
    assert.ok(d.sparse.every((f) => f.lengths.every((l) => l === 1)));
  });
}

test("rows are read by position: any range equals the same rows of the whole", () => {
  const file = new MlperfBinFile(`${FIX}/sample.bin`, nodeDataFiles);
  const whole = file.raw(0, file.n);
  fc.assert(
    fc.property(fc.nat(50), fc.nat(50), (a, b) => {
      const [s, e] = a <= b ? [a, b] : [b, a];
      assert.equal(Array.from(file.raw(s, e)), Array.from(whole.subarray(s * 40, e * 40)));
    }),
  );
  assert.throws(() => file.raw(10, 51), /samples \[10, 51\) are outside its 50/);
  file.close();
});

test("malformed files: a partial sample, a label of 2, a negative id or dense value", async () => {
  const partial = join(dir, "partial.bin");
  writeFileSync(partial, Buffer.alloc(161));
  assert.throws(
    () => new MlperfBinFile(partial, nodeDataFiles),
    /partial\.bin: 161 bytes is not a whole number of 160-byte samples/,
  );
  const row = (label: number, dense: number, id: number): Int32Array => {
    const r = new Int32Array(40);
    r[0] = label;
    r[1] = dense;
    r[14] = id;
    return r;
  };
  for (const [r, message] of [
    [row(2, 0, 0), /sample 1: label must be 0 or 1, got 2/],
    [row(1, -5, 0), /sample 1: dense feature 0 is -5/],
    [row(1, 0, -1), /sample 1: categorical feature 0 has a negative id -1/],
  ] as const) {
    const p = join(dir, "bad.bin");
    writeFileSync(p, Buffer.concat([Buffer.from(row(0, 1, 1).buffer), Buffer.from(r.buffer)]));
    const f = new MlperfBinFile(p, nodeDataFiles);
    assert.throws(() => f.read(0, 2), message);
    f.close();
  }
});

test("an integer past int32 is a bad line naming file:line, or skipped and counted", async () => {
  const line = (i1: string): string => ["1", i1, ...Array(12).fill("1"), ...Array(26).fill("a")].join("\t");
  const p = join(dir, "big.txt");
  writeFileSync(p, `${line("5")}\n${line("2147483648")}\n${line("7")}\n`);
  let message = "";
  try {
    await criteoToMlperfBin([p], nodeDataFiles, join(dir, "big.bin"));
  } catch (e) {
    message = (e as Error).message;
  }
  assert.is(message, `criteo: ${p}:2: field I1 is 2147483648, more than the int32 of the MLPerf .bin format holds`);
  const r = await criteoToMlperfBin([p], nodeDataFiles, join(dir, "big.bin"), { onBadLine: "skip" });
  assert.equal([r.rows, r.skipped], [2, 1]);
});

test("dlrm train --data x.bin: the dictionary's table sizes; without it, the largest ids + 1", async () => {
  const out = join(dir, "t.bin");
  assert.is((await runCli(["preprocess", "criteo", `${FIX}/sample.txt`, "--out", out])).code, 0);
  const a = await runCli(["train", "--data", out, "--steps", "2", "--workers", "1", "--print-sharding-plan"]);
  assert.is(a.code, 0, a.stderr);
  const bare = join(dir, "bare.bin");
  writeFileSync(bare, readFileSync(out));
  const b = await runCli(["train", "--data", bare, "--steps", "2", "--workers", "1", "--max-ind-range", "7"]);
  assert.is(b.code, 0, b.stderr);
  const f = new MlperfBinFile(bare, nodeDataFiles, { maxIndRange: 7 });
  assert.ok(f.tableSizes().every((s) => s <= 7));
  f.close();
  const c = await runCli(["train", "--data", out, "--steps", "2", "--data-sub-sample-rate", "0.5"]);
  assert.is(c.code, 2);
  assert.match(c.stderr, /--data-sub-sample-rate applies while raw Criteo lines are numbered/);
});

test("--max-ind-range R: values modulo R before numbering, so no table passes R rows", async () => {
  const out = join(dir, "r.bin");
  const r = await runCli(["preprocess", "criteo", `${FIX}/sample.txt`, "--out", out, "--max-ind-range", "3"]);
  assert.is(r.code, 0, r.stderr);
  const sizes = JSON.parse(r.stdout.trim()).table_sizes as number[];
  assert.ok(
    sizes.every((s) => s <= 3 + 1),
    JSON.stringify(sizes),
  ); // at most R values + the unknown row
  const f = new MlperfBinFile(out, nodeDataFiles);
  assert.ok(f.tableSizes().every((s, t) => s <= (sizes[t] as number) - 1));
  f.close();
});

test("writeMlperfBin then MlperfBinFile.raw: the same int32 (fast-check)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { minLength: 40, maxLength: 40 }), { maxLength: 20 }),
      async (rows) => {
        const p = join(dir, "rt.bin");
        await writeMlperfBin(p, async (append) => {
          for (const r of rows) append(r[0] as number, r.slice(1, 14), r.slice(14));
        });
        const f = new MlperfBinFile(p, nodeDataFiles);
        assert.equal(Array.from(f.raw(0, f.n)), rows.flat());
        f.close();
      },
    ),
    { numRuns: 30 },
  );
});

test("MlperfBinSource: step s is batch s mod K of the rows, read by position (fast-check)", async () => {
  const whole = new MlperfBinFile(`${FIX}/sample.bin`, nodeDataFiles, { maxIndRange: 7 });
  const all = whole.read(0, whole.n);
  whole.close();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.nat(20), fc.nat(50), async (B, step, from) => {
      const src = new MlperfBinSource(`${FIX}/sample.bin`, nodeDataFiles, { maxIndRange: 7, rows: [from, 50] });
      const n = 50 - from;
      if (n === 0) {
        let message = "";
        await src.batch(step, B).catch((e: Error) => (message = e.message));
        await src.close();
        assert.match(message, /the data has no samples/);
        return;
      }
      const K = Math.ceil(n / B);
      const start = from + (step % K) * B;
      const end = Math.min(50, start + B);
      const got = await src.batch(step, B);
      await src.close();
      sameRows(got, all, start, end);
    }),
    { numRuns: 60 },
  );
});

test.after(cleanup);
test.run();
