// The batch file: our preprocessed dataset format, a safetensors file holding
//
//   dense        F32 (N, Dd)     dense features (F64 is accepted on read)
//   labels       F32 (N,)        0 or 1 for click data
//   lengths.{t}  I32 (N,)        lookups in each sample's bag of table t; 0 is an empty bag (I64 accepted)
//   indices.{t}  I32|I64 (L_t,)  row ids of table t, bag after bag; L_t = sum of lengths.{t}
//   weights.{t}  F32 (L_t,)      optional per-sample weights (each row is scaled before pooling)
//
// with tables numbered t = 0, 1, ..., F-1 without gaps. Tensors with other names are
// ignored, so a file may carry extra payload. Reading checks every size and sign; the upper
// bound of an index is checked by the model, which knows its table sizes.
//
// Glossary: N samples, Dd dense features, F tables, L_t lookups of table t.

import type { Dataset, SparseFeature } from "./dataset.ts";
import { formatShape } from "../tensor/shape.ts";
import {
  readSafetensorsIndex,
  readTensor,
  SafetensorsError,
  toFloat32,
  toInt32,
  writeSafetensors,
  type SafetensorsTensor,
} from "../io/safetensors.ts";

const TABLE_TENSOR = /^(lengths|indices|weights)\.(.*)$/;

/** Reads and validates a batch file, tensor by tensor (extra tensors are never read);
 *  errors name the file and the tensor. */
export function readBatchFile(path: string): Dataset {
  const index = readSafetensorsIndex(path);
  const tensors = index.entries;
  const fail = (name: string, what: string): never => {
    throw new SafetensorsError(`${path}: ${name}: ${what}`);
  };
  const get = (name: string): SafetensorsTensor =>
    tensors.has(name)
      ? readTensor(index, name)
      : fail(name, "missing (a batch file holds dense, labels, and lengths.{t}, indices.{t} per table)");
  const oneD = (name: string, t: SafetensorsTensor): number =>
    t.shape.length === 1 ? t.shape[0] : fail(name, `must be 1-D, got shape ${formatShape(t.shape)}`);

  const denseT = get("dense");
  if (denseT.shape.length !== 2) fail("dense", `must be 2-D (N, Dd), got shape ${formatShape(denseT.shape)}`);
  const N = denseT.shape[0];
  const Dd = denseT.shape[1];
  const dense = toFloat32(denseT, `${path}: dense`); // (N, Dd)

  const labelsT = get("labels");
  const nLabels = oneD("labels", labelsT);
  if (nLabels !== N) fail("labels", `has ${nLabels} values but dense has ${N} rows`);
  const labels = toFloat32(labelsT, `${path}: labels`); // (N,)

  const tables = new Set<number>();
  for (const name of tensors.keys()) {
    const m = TABLE_TENSOR.exec(name);
    if (m === null) continue;
    const num = m[2];
    if (!/^(0|[1-9][0-9]*)$/.test(num)) fail(name, `table number "${num}" is not a non-negative integer`);
    tables.add(Number(num));
  }
  const F = tables.size;
  for (let t = 0; t < F; t++) {
    if (!tables.has(t)) {
      const found = [...tables].sort((a, b) => a - b).join(", ");
      fail(
        `lengths.${t}`,
        `missing: tables must be numbered 0, 1, 2, ... without gaps, but this file has tables ${found}`,
      );
    }
  }

  const sparse: SparseFeature[] = [];
  for (let t = 0; t < F; t++) {
    const lengthsName = `lengths.${t}`;
    const indicesName = `indices.${t}`;
    const weightsName = `weights.${t}`;
    const lengthsT = get(lengthsName);
    const indicesT = get(indicesName);

    const nLengths = oneD(lengthsName, lengthsT);
    if (nLengths !== N) fail(lengthsName, `has ${nLengths} values but dense has ${N} rows`);
    const lengths = toInt32(lengthsT, `${path}: ${lengthsName}`); // (N,)
    const offsets = new Int32Array(N + 1); // (N + 1,)
    for (let i = 0; i < N; i++) {
      const l = lengths[i];
      if (l < 0) fail(lengthsName, `sample ${i} has a negative bag length ${l}`);
      const next = offsets[i] + l;
      if (next > 0x7fffffff) fail(lengthsName, `total lookups exceed 2^31 - 1 at sample ${i}`);
      offsets[i + 1] = next;
    }
    const L = offsets[N];

    const nIndices = oneD(indicesName, indicesT);
    if (nIndices !== L) fail(indicesName, `has ${nIndices} values but ${lengthsName} sum to ${L}`);
    const indices = toInt32(indicesT, `${path}: ${indicesName}`); // (L_t,)
    for (let j = 0; j < L; j++) {
      const r = indices[j];
      if (r < 0) fail(indicesName, `index ${r} at position ${j} is negative`);
    }

    let weights: Float32Array | null = null; // (L_t,)
    const weightsT = tensors.has(weightsName) ? readTensor(index, weightsName) : undefined;
    if (weightsT !== undefined) {
      const nWeights = oneD(weightsName, weightsT);
      if (nWeights !== L) fail(weightsName, `has ${nWeights} values but ${indicesName} has ${L}`);
      weights = toFloat32(weightsT, `${path}: ${weightsName}`);
    }
    sparse.push({ lengths, offsets, indices, weights });
  }
  return { n: N, denseFeatures: Dd, dense, labels, sparse };
}

/** Writes a dataset as a batch file (atomically); indices as I32 (default) or I64. */
export function writeBatchFile(
  path: string,
  data: Dataset,
  opts: { indexDtype?: "I32" | "I64"; metadata?: Record<string, string> } = {},
): void {
  writeSafetensors(path, batchFileTensors(path, data, opts.indexDtype ?? "I32"), opts.metadata);
}

/** The tensors of a dataset's batch file, checked; `path` names it in errors. */
export function batchFileTensors(
  path: string,
  data: Dataset,
  indexDtype: "I32" | "I64",
): Map<string, SafetensorsTensor> {
  const fail = (name: string, what: string): never => {
    throw new SafetensorsError(`${path}: ${name}: ${what}`);
  };
  if (indexDtype !== "I32" && indexDtype !== "I64")
    fail("indices", `indexDtype must be I32 or I64, got ${String(indexDtype)}`);
  const N = data.n;
  const Dd = data.denseFeatures;
  if (!Number.isSafeInteger(N) || N < 0) fail("dense", `sample count must be a non-negative integer, got ${N}`);
  if (!Number.isSafeInteger(Dd) || Dd < 0)
    fail("dense", `dense feature count must be a non-negative integer, got ${Dd}`);
  if (data.dense.length !== N * Dd) fail("dense", `has ${data.dense.length} values but (N, Dd) is (${N}, ${Dd})`);
  if (data.labels.length !== N) fail("labels", `has ${data.labels.length} values but the dataset has ${N} samples`);

  const out = new Map<string, SafetensorsTensor>();
  out.set("dense", { dtype: "F32", shape: [N, Dd], data: data.dense });
  out.set("labels", { dtype: "F32", shape: [N], data: data.labels });
  data.sparse.forEach((f, t) => {
    if (f.lengths.length !== N) fail(`lengths.${t}`, `has ${f.lengths.length} values but the dataset has ${N} samples`);
    let L = 0;
    for (let i = 0; i < N; i++) {
      const l = f.lengths[i];
      if (l < 0) fail(`lengths.${t}`, `sample ${i} has a negative bag length ${l}`);
      L += l;
    }
    if (f.indices.length !== L) fail(`indices.${t}`, `has ${f.indices.length} values but lengths.${t} sum to ${L}`);
    for (let j = 0; j < L; j++) {
      const r = f.indices[j];
      if (r < 0) fail(`indices.${t}`, `index ${r} at position ${j} is negative`);
    }
    if (f.weights !== null && f.weights.length !== L)
      fail(`weights.${t}`, `has ${f.weights.length} values but indices.${t} has ${L}`);

    out.set(`lengths.${t}`, { dtype: "I32", shape: [N], data: f.lengths });
    out.set(
      `indices.${t}`,
      indexDtype === "I32"
        ? { dtype: "I32", shape: [L], data: f.indices }
        : { dtype: "I64", shape: [L], data: BigInt64Array.from(f.indices, (r) => BigInt(r)) },
    );
    if (f.weights !== null) out.set(`weights.${t}`, { dtype: "F32", shape: [L], data: f.weights });
  });
  return out;
}
