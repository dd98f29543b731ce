import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readBatchFile, writeBatchFile } from "../../src/data/batch_file.ts";
import type { Dataset, SparseFeature } from "../../src/data/dataset.ts";
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from "../../src/io/safetensors.ts";
import { assertThrows } from "../../src/testing/index.ts";
import { GOLDEN } from "../helpers/golden.ts";
import { datasetArb, prefixSums, sameDataset } from "../helpers/datasets.ts";

// Glossary: N samples, Dd dense features, F tables, L_t lookups of table t.

const dir = mkdtempSync(join(tmpdir(), "dlrm-batch-"));
let fileNo = 0;
const freshPath = (): string => join(dir, `b${fileNo++}.safetensors`);

/** A small dataset written out by hand: N = 3, Dd = 2, two tables, table 1 weighted. */
function handDataset(): Dataset {
  const lengths0 = Int32Array.from([2, 0, 1]);
  const lengths1 = Int32Array.from([1, 1, 1]);
  return {
    n: 3,
    denseFeatures: 2,
    dense: Float32Array.from([0.5, 1, -2, 3.25, 0, 7]),
    labels: Float32Array.from([1, 0, 1]),
    sparse: [
      { lengths: lengths0, offsets: Int32Array.from([0, 2, 2, 3]), indices: Int32Array.from([4, 0, 9]), weights: null },
      {
        lengths: lengths1,
        offsets: Int32Array.from([0, 1, 2, 3]),
        indices: Int32Array.from([2, 2, 100000]),
        weights: Float32Array.from([0.5, 2, -1]),
      },
    ],
  };
}

/** The tensors of a valid batch file (N = 2, one table), to be spoiled by each rejection test. */
function validTensors(): Record<string, SafetensorsTensor> {
  return {
    dense: { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    labels: { dtype: "F32", shape: [2], data: Float32Array.from([0, 1]) },
    "lengths.0": { dtype: "I32", shape: [2], data: Int32Array.from([1, 2]) },
    "indices.0": { dtype: "I64", shape: [3], data: BigInt64Array.from([5n, 0n, 1n]) },
    "weights.0": { dtype: "F32", shape: [3], data: Float32Array.from([1, 1, 0.5]) },
  };
}

/** readBatchFile of the valid tensors with some replaced (undefined removes one). */
function readSpoiled(changes: Record<string, SafetensorsTensor | undefined>): () => unknown {
  const tensors: Record<string, SafetensorsTensor> = validTensors();
  for (const [name, t] of Object.entries(changes)) {
    if (t === undefined) delete tensors[name];
    else tensors[name] = t;
  }
  const path = freshPath();
  writeSafetensors(path, tensors);
  return () => readBatchFile(path);
}

// ---------------------------------------------------------------------------------------
// Round trips

test("round trip of a hand-made dataset with I32 indices and weights; the file holds the README's tensors", () => {
  const path = freshPath();
  const d = handDataset();
  writeBatchFile(path, d);
  sameDataset(readBatchFile(path), d);
  const raw = readSafetensors(path);
  assert.equal(
    [...raw.tensors.keys()],
    ["dense", "labels", "lengths.0", "indices.0", "lengths.1", "indices.1", "weights.1"],
  );
  assert.equal(
    [...raw.tensors.values()].map((t) => `${t.dtype} ${t.shape.join("x")}`),
    ["F32 3x2", "F32 3", "I32 3", "I32 3", "I32 3", "I32 3", "F32 3"],
  );
});

test("round trip with I64 indices and metadata: indices stored as I64, read back as int32", () => {
  const path = freshPath();
  const d = handDataset();
  writeBatchFile(path, d, { indexDtype: "I64", metadata: { source: "hand" } });
  sameDataset(readBatchFile(path), d);
  const raw = readSafetensors(path);
  assert.is(raw.tensors.get("indices.1")?.dtype, "I64");
  assert.equal(Array.from(raw.tensors.get("indices.1")?.data as BigInt64Array), [2n, 2n, 100000n]);
  assert.is(raw.tensors.get("lengths.1")?.dtype, "I32");
  assert.equal(raw.metadata, { source: "hand" });
});

test("round trip of random datasets (empty bags, N = 0, no tables, with and without weights, I32 and I64)", () => {
  fc.assert(
    fc.property(datasetArb, fc.constantFrom<"I32" | "I64">("I32", "I64"), (d, indexDtype) => {
      const path = freshPath();
      writeBatchFile(path, d, { indexDtype });
      sameDataset(readBatchFile(path), d);
    }),
    { seed: 4242, numRuns: 40 },
  );
});

test("accepts F64 dense and labels, I64 lengths, and ignores tensors outside the format", () => {
  const read = readSpoiled({
    dense: { dtype: "F64", shape: [2, 3], data: Float64Array.from([0.1, 2, 3, 4, 5, 6]) },
    labels: { dtype: "F64", shape: [2], data: Float64Array.from([1, 0]) },
    "lengths.0": { dtype: "I64", shape: [2], data: BigInt64Array.from([1n, 2n]) },
    "offsets.0": { dtype: "I32", shape: [1], data: Int32Array.from([7]) },
    extra: { dtype: "F32", shape: [0], data: new Float32Array(0) },
  });
  const d = read() as Dataset;
  assert.is(d.dense[0], Math.fround(0.1)); // F64 rounded to float32, exactly
  assert.equal(Array.from(d.labels), [1, 0]);
  assert.equal(Array.from(d.sparse[0]?.offsets ?? []), [0, 1, 3]);
  assert.equal(Array.from(d.sparse[0]?.indices ?? []), [5, 0, 1]);
  assert.equal(Array.from(d.sparse[0]?.weights ?? []), [1, 1, 0.5]);
});

// ---------------------------------------------------------------------------------------
// The golden batches

const goldenDir = `${GOLDEN}small/`;
const haveGolden = existsSync(goldenDir);
if (!haveGolden) console.log(`skipping the golden test: ${goldenDir} is missing`);

(haveGolden ? test : test.skip)(
  "golden small batches.safetensors: N = 48, 4 tables, lengths sum to the indices lengths",
  () => {
    const config = JSON.parse(readFileSync(join(goldenDir, "config.json"), "utf8"));
    const d = readBatchFile(join(goldenDir, "batches.safetensors"));
    assert.is(d.n, 48);
    assert.is(d.n, config.steps * config.batch_size);
    assert.is(d.denseFeatures, config.dense_features);
    assert.is(d.sparse.length, 4);
    assert.is(d.sparse.length, config.table_sizes.length);
    for (const y of d.labels) assert.ok(y === 0 || y === 1, `label ${y}`);
    d.sparse.forEach((f, t) => {
      let sum = 0;
      for (const l of f.lengths) {
        assert.ok(l >= config.bag_size[0] && l <= config.bag_size[1], `table ${t}: bag of ${l}`);
        sum += l;
      }
      assert.is(f.indices.length, sum, `table ${t}`);
      assert.is(f.offsets[d.n], sum);
      for (const r of f.indices) assert.ok(r >= 0 && r < config.table_sizes[t], `table ${t}: index ${r}`);
      assert.is(f.weights, null); // the small case has no per-sample weights
    });
  },
);

// ---------------------------------------------------------------------------------------
// Rejections: each names the file and the tensor

const file = (): RegExp => new RegExp(`^${dir.replace(/[.]/g, "\\.")}/b\\d+\\.safetensors: `);
const msg = (rest: string): RegExp => new RegExp(file().source + rest);

test("rejects a missing or wrongly shaped dense, or labels of the wrong length", () => {
  assertThrows(readSpoiled({ dense: undefined }), msg(`dense: missing`));
  assertThrows(
    readSpoiled({ dense: { dtype: "F32", shape: [6], data: new Float32Array(6) } }),
    msg(`dense: must be 2-D \\(N, Dd\\), got shape \\(6,\\)`),
  );
  assertThrows(
    readSpoiled({ dense: { dtype: "I32", shape: [2, 3], data: new Int32Array(6) } }),
    msg(`dense: expected a float tensor \\(F32, F64, F16 or BF16\\), got I32`),
  );
  assertThrows(
    readSpoiled({ labels: { dtype: "F32", shape: [3], data: new Float32Array(3) } }),
    msg(`labels: has 3 values but dense has 2 rows`),
  );
  assertThrows(
    readSpoiled({ labels: { dtype: "F32", shape: [2, 1], data: new Float32Array(2) } }),
    msg(`labels: must be 1-D, got shape \\(2, 1\\)`),
  );
});

test("rejects lengths of the wrong count, negative, or not summing to the indices length", () => {
  assertThrows(
    readSpoiled({ "lengths.0": { dtype: "I32", shape: [3], data: Int32Array.from([1, 1, 1]) } }),
    msg(`lengths\\.0: has 3 values but dense has 2 rows`),
  );
  assertThrows(
    readSpoiled({ "lengths.0": { dtype: "I32", shape: [2], data: Int32Array.from([4, -1]) } }),
    msg(`lengths\\.0: sample 1 has a negative bag length -1`),
  );
  assertThrows(
    readSpoiled({ "lengths.0": { dtype: "I32", shape: [2], data: Int32Array.from([2, 2]) } }),
    msg(`indices\\.0: has 3 values but lengths\\.0 sum to 4`),
  );
  assertThrows(
    readSpoiled({ "lengths.0": { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) } }),
    msg(`lengths\\.0: expected an integer tensor`),
  );
});

test("rejects negative indices, I64 indices beyond int32, float indices, and weights of the wrong length", () => {
  assertThrows(
    readSpoiled({ "indices.0": { dtype: "I32", shape: [3], data: Int32Array.from([5, -2, 1]) } }),
    msg(`indices\\.0: index -2 at position 1 is negative`),
  );
  assertThrows(
    readSpoiled({ "indices.0": { dtype: "I64", shape: [3], data: BigInt64Array.from([5n, 0n, 2n ** 32n]) } }),
    msg(`indices\\.0: value 4294967296 at position 2 does not fit in int32`),
  );
  assertThrows(
    readSpoiled({ "indices.0": { dtype: "F32", shape: [3], data: new Float32Array(3) } }),
    msg(`indices\\.0: expected an integer tensor \\(I32 or I64\\), got F32`),
  );
  assertThrows(
    readSpoiled({ "weights.0": { dtype: "F32", shape: [2], data: new Float32Array(2) } }),
    msg(`weights\\.0: has 2 values but indices\\.0 has 3`),
  );
});

test("rejects a table without lengths or indices, gaps in the table numbering, and bad table numbers", () => {
  assertThrows(readSpoiled({ "indices.0": undefined }), msg(`indices\\.0: missing`));
  assertThrows(readSpoiled({ "lengths.0": undefined }), msg(`lengths\\.0: missing`));
  const table2 = {
    "lengths.2": { dtype: "I32" as const, shape: [2], data: Int32Array.from([0, 0]) },
    "indices.2": { dtype: "I32" as const, shape: [0], data: new Int32Array(0) },
  };
  assertThrows(
    readSpoiled(table2),
    msg(`lengths\\.1: missing: tables must be numbered 0, 1, 2, \\.\\.\\. without gaps, but this file has tables 0, 2`),
  );
  assertThrows(
    readSpoiled({ "weights.01": { dtype: "F32", shape: [0], data: new Float32Array(0) } }),
    msg(`weights\\.01: table number "01" is not a non-negative integer`),
  );
});

test("writeBatchFile rejects an inconsistent dataset, naming the file and tensor, and writes nothing", () => {
  const path = join(dir, "never.safetensors");
  const d = handDataset();
  const short: Dataset = {
    ...d,
    sparse: [d.sparse[0] as SparseFeature, { ...(d.sparse[1] as SparseFeature), indices: Int32Array.from([1, 2]) }],
  };
  assertThrows(
    () => writeBatchFile(path, short),
    /never\.safetensors: indices\.1: has 2 values but lengths\.1 sum to 3/,
  );
  const negative: Dataset = {
    ...d,
    sparse: [{ ...(d.sparse[0] as SparseFeature), indices: Int32Array.from([4, -7, 9]) }],
  };
  assertThrows(
    () => writeBatchFile(path, negative),
    /never\.safetensors: indices\.0: index -7 at position 1 is negative/,
  );
  assertThrows(
    () => writeBatchFile(path, { ...d, labels: new Float32Array(2) }),
    /never\.safetensors: labels: has 2 values but the dataset has 3 samples/,
  );
  assert.not.ok(readdirSync(dir).some((f) => f.startsWith("never") || f.startsWith(".never")));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
