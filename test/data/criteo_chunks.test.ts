// Criteo preprocessing in chunks (parseCriteoChunks through BatchFileWriter, what `dlrm
// preprocess criteo` does) equals one pass (parseCriteo, written whole), for any chunk size
// and any cut of the text into line batches: the same rows, ids, dictionary, days and counts,
// with sub-sampling and skipped bad lines in the mix.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import { BatchFileWriter } from "../../src/data/batch_writer.ts";
import { parseCriteo, parseCriteoChunks, type CriteoOptions, type CriteoSource } from "../../src/data/criteo_parse.ts";
import type { LineChunk } from "../../src/data/lines.ts";
import { sameDataset } from "../helpers/datasets.ts";

const dir = mkdtempSync(join(tmpdir(), "dlrm-criteo-chunks-"));
let fileNo = 0;

/** A Criteo line: label, 13 integers (some empty or negative), 26 hex values from a small pool (some empty); or a bad line. */
const lineArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(
        fc.constantFrom("0", "1"),
        fc.array(fc.oneof(fc.constant(""), fc.integer({ min: -3, max: 1000 }).map(String)), {
          minLength: 13,
          maxLength: 13,
        }),
        fc.array(fc.oneof(fc.constant(""), fc.constantFrom("a1", "ffffffff", "00000000", "7", "68fd1e64", "b2")), {
          minLength: 26,
          maxLength: 26,
        }),
      )
      .map(([label, ints, cats]) => [label, ...ints, ...cats].join("\t")),
  },
  { weight: 1, arbitrary: fc.constantFrom("2\tbad", "", "1\t" + "x\t".repeat(38) + "x") },
);

/** Lines cut into chunks of whole lines at the given line counts (cycled), as the file reader gives them. */
function source(lines: string[], cuts: number[]): CriteoSource {
  return {
    name: "gen.txt",
    bytes: lines.length,
    *batches(): Generator<LineChunk> {
      let k = 0;
      for (let c = 0; k < lines.length; c++) {
        const end = Math.min(lines.length, k + (cuts[c % cuts.length] as number));
        yield {
          bytes: Buffer.from(
            lines
              .slice(k, end)
              .map((l) => `${l}\n`)
              .join(""),
            "latin1",
          ),
          bytesRead: end,
        };
        k = end;
      }
    },
  };
}

test("chunks of any size, through the writer, equal one pass: rows, ids, dictionary, days, counts", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(lineArb, { minLength: 0, maxLength: 60 }),
      fc.integer({ min: 1, max: 70 }),
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 4 }),
      fc.record({
        subSampleRate: fc.constantFrom(0, 0.5),
        maxIndRange: fc.constantFrom(0, 5),
        seed: fc.integer({ min: 0, max: 9 }),
      }),
      async (lines, chunkRows, cuts, o) => {
        const opts: CriteoOptions = { ...o, onBadLine: "skip" };
        const one = await parseCriteo([source(lines, [1000])], opts);
        const path = join(dir, `c${fileNo++}.safetensors`);
        const w = new BatchFileWriter(path, { denseFeatures: 13, tables: 26 }, { blockRows: 8 });
        const r = await parseCriteoChunks(
          [source(lines, cuts)],
          opts,
          (c) => {
            assert.ok(c.n >= 1 && c.n <= chunkRows, `a chunk of ${c.n} rows`);
            w.append(c);
          },
          chunkRows,
        );
        w.finish();
        const whole = join(dir, `c${fileNo++}.safetensors`);
        writeBatchFile(whole, one.data);
        sameDataset(readBatchFile(path), readBatchFile(whole));
        assert.is(r.rows, one.data.n);
        assert.equal(r.dayRows, one.dayRows);
        assert.equal([r.lines, r.skipped], [one.lines, one.skipped]);
        assert.equal(
          r.dictionary.features.map((m) => Array.from(m.rawValues())),
          one.dictionary.features.map((m) => Array.from(m.rawValues())),
        );
      },
    ),
    { seed: 31, numRuns: 60 },
  );
});

test("a chunk size that is not a positive integer is an error", async () => {
  try {
    await parseCriteoChunks([source([], [1])], {}, () => undefined, 0);
    assert.unreachable("no error");
  } catch (e) {
    assert.match((e as Error).message, /chunkRows must be a positive integer, got 0/);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
