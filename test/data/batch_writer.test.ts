import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { BatchFileWriter, BLOCK_OFFSETS, BLOCK_ROWS_KEY } from "../../src/data/batch_writer.ts";
import { sliceDataset, type Dataset } from "../../src/data/dataset.ts";
import { readSafetensors, type SafetensorsTensor } from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { datasetArb, prefixSums, sameDataset } from "../helpers/datasets.ts";

// Glossary: N samples, F tables, G block rows, L_t lookups of table t.

const dir = mkdtempSync(join(tmpdir(), "dlrm-writer-"));
let fileNo = 0;
const freshPath = (): string => join(dir, `w${fileNo++}.safetensors`);

/** The chunks of d cut at the given fractions of N (sorted, deduplicated; empty chunks too). */
function chunksOf(d: Dataset, cuts: number[]): Dataset[] {
  const at = [0, ...cuts.map((c) => Math.floor(c * d.n)).sort((a, b) => a - b), d.n];
  return at.slice(1).map((end, i) => sliceDataset(d, at[i] as number, end));
}

function writeChunks(path: string, d: Dataset, cuts: number[], G: number, indexDtype: "I32" | "I64" = "I32"): void {
  const w = new BatchFileWriter(
    path,
    { denseFeatures: d.denseFeatures, tables: d.sparse.length },
    { blockRows: G, indexDtype },
  );
  for (const c of chunksOf(d, cuts)) w.append(c);
  w.finish({ source: "test" });
}

test("chunks of any size make the file one pass makes, with a block index of the prefix sums at rows b·G", () => {
  fc.assert(
    fc.property(
      datasetArb,
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom<"I32" | "I64">("I32", "I64"),
      (d, cuts, G, indexDtype) => {
        const path = freshPath();
        writeChunks(path, d, cuts, G, indexDtype);
        sameDataset(readBatchFile(path), d);
        const raw = readSafetensors(path);
        assert.is(raw.metadata[BLOCK_ROWS_KEY], String(G));
        assert.is(raw.metadata["source"], "test");
        const index = raw.tensors.get(BLOCK_OFFSETS) as SafetensorsTensor;
        const blocks = Math.ceil(d.n / G);
        assert.equal(index.shape, [d.sparse.length, blocks + 1]);
        const want: bigint[] = [];
        for (const f of d.sparse) {
          const sums = prefixSums(f.lengths);
          for (let b = 0; b < blocks; b++) want.push(BigInt(sums[b * G] as number));
          want.push(BigInt(sums[d.n] as number));
        }
        assert.equal(Array.from(index.data as BigInt64Array), want);
        assert.is(raw.tensors.get("indices.0")?.dtype ?? indexDtype, indexDtype);
      },
    ),
    { seed: 2323, numRuns: 60 },
  );
  assert.equal(
    readdirSync(dir).filter((f) => f.startsWith(".")),
    [],
    "no spill file is left",
  );
});

test("a companion file is written with the batch file; abort and errors leave neither file nor spill", () => {
  const d: Dataset = {
    n: 2,
    denseFeatures: 1,
    dense: Float32Array.from([1, 2]),
    labels: Float32Array.from([0, 1]),
    sparse: [
      {
        lengths: Int32Array.from([1, 1]),
        offsets: Int32Array.from([0, 1, 2]),
        indices: Int32Array.from([3, 4]),
        weights: null,
      },
    ],
  };
  const path = freshPath();
  const dict = join(dir, "dict.safetensors");
  const w = new BatchFileWriter(path, { denseFeatures: 1, tables: 1 });
  w.append(d);
  w.finish({}, [{ path: dict, tensors: new Map([["C1", { dtype: "I32", shape: [1], data: Int32Array.from([7]) }]]) }]);
  sameDataset(readBatchFile(path), d);
  assert.equal(Array.from(readSafetensors(dict).tensors.get("C1")?.data as Int32Array), [7]);

  const never = join(dir, "never.safetensors");
  const a = new BatchFileWriter(never, { denseFeatures: 1, tables: 1 });
  a.append(d);
  a.abort();
  assertThrows(() => a.append(d), /never\.safetensors: append after the writer was aborted/);
  const b = new BatchFileWriter(never, { denseFeatures: 1, tables: 1 });
  b.append(d);
  assertThrows(
    () =>
      b.append({ ...d, sparse: [{ ...(d.sparse[0] as Dataset["sparse"][0]), weights: Float32Array.from([1, 1]) }] }),
    /never\.safetensors: chunk 1 \(rows from 2\): weights\.0: present, but the first chunk has none/,
  );
  assertThrows(
    () => b.append({ ...d, sparse: [{ ...(d.sparse[0] as Dataset["sparse"][0]), indices: Int32Array.from([3, -1]) }] }),
    /never\.safetensors: chunk 1 \(rows from 2\): indices\.0: index -1 at position 1 of the chunk is negative/,
  );
  assertThrows(() => b.append({ ...d, denseFeatures: 2 }), /chunk 1 \(rows from 2\): has 2 dense features, the file 1/);
  b.abort();
  assert.not.ok(existsSync(never));
  assert.equal(
    readdirSync(dir).filter((f) => f.startsWith(".")),
    [],
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
