// embeddingBag: look up rows of an embedding table and pool each bag of lookups into one
// vector (sum or mean, optionally weighting each lookup), like PyTorch's nn.EmbeddingBag.
// The forward and backward run the kernels embedding_bag_fwd / embedding_bag_bwd
// (src/kernels/ref.ts defines them); this file checks every input first (ids once, checkIds),
// because the kernels read memory unchecked.
//
// The gradient of the table is row-sparse: only the U rows the batch touched get a
// gradient, handed to accumulateRows as (ids, (U, E) values). A (R, E) dense gradient is
// never built: tables hold millions of rows and a step touches a few thousand.
//
// gatherRowWeights reads one weight per lookup from a (R,) vector of per-row weights (the
// reference's learned weighted pooling, `v_W_l[k].gather(0, indices)`), to be passed on as
// perSampleWeights; its gradient is row-sparse the same way, on the U rows touched.
//
// Glossary: R rows in the table, E embedding dim (row length), B bags (samples),
// L lookups in all bags together, U unique rows touched.

import { accumulateRows, gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { kernels, POOL_MEAN, POOL_SUM } from "../kernels/index.ts";
import { allocFloat, allocInt32 } from "../tensor/storage.ts";
import { OpError, shapeError } from "../tensor/shape.ts";
import type { IndexTensor, Tensor } from "../tensor/tensor.ts";
import { checkIndex, checkRank, checkTensor, commonDType, output } from "./common.ts";

const OP = "embeddingBag";

/**
 * Which lookups belong to which bag. offsets (B+1,): CSR, bag b is indices[offsets[b] ..
 * offsets[b+1]), with offsets[0] = 0, non-decreasing, offsets[B] = L. lengths (B,): the
 * number of lookups per bag, non-negative, summing to L.
 */
export type Bags = { offsets: IndexTensor } | { lengths: IndexTensor };

export interface EmbeddingBagOptions {
  /** "sum" (default) or "mean" (an empty bag pools to zeros in both). */
  mode?: "sum" | "mean";
  /** (L,) one weight per lookup; each row is scaled by its weight before pooling. */
  perSampleWeights?: Tensor | null;
  /** The table's name in error messages, e.g. "table 3" (default "table"). */
  table?: string;
  /** The ids are known to lie in [0, idsBelow), checked where they entered the table (pieceIds): not scanned again. */
  idsBelow?: number;
}

/**
 * The one check that every id addresses one of a table's R rows, made once where ids enter a
 * table: these ops, or a model's table piece (pieceIds in src/dlrm/tables/piece.ts), whose ids
 * and those derived from them (a rank's row range) reach the ops with idsBelow: ids known to
 * lie in [0, idsBelow), not scanned again (only idsBelow ≤ R is). The error names the bag
 * (given the offsets (B+1,)) or else the lookup.
 */
export function checkIds(
  op: string,
  ids: Int32Array,
  offsets: Int32Array | null,
  R: number,
  table: string,
  idsBelow?: number,
): void {
  if (idsBelow !== undefined && idsBelow > R)
    throw new OpError(op, `the ids were checked against ${idsBelow} rows, more than the ${R} of ${table}`);
  if (idsBelow !== undefined) return;
  const L = offsets === null ? ids.length : offsets[offsets.length - 1];
  for (let l = 0; l < L; l++) {
    if (ids[l] >= 0 && ids[l] < R) continue;
    let b = 0;
    while (offsets !== null && offsets[b + 1] <= l) b++;
    const where = offsets === null ? `lookup ${l}` : `bag ${b}`;
    throw new OpError(op, `index ${ids[l]} out of range for ${table} with ${R} rows (${where})`);
  }
}

/**
 * out[b] = scale_b · Σ_{l in bag b} w_l · table[indices[l]], where w_l = 1 without weights
 * and scale_b = 1 (sum) or 1 / |bag b| (mean; 1 for an empty bag, whose sum is zero).
 *
 * table (R, E), indices (L,), bags as above, perSampleWeights (L,) → (B, E).
 */
export function embeddingBag(table: Tensor, indices: IndexTensor, bags: Bags, opts: EmbeddingBagOptions = {}): Tensor {
  checkTensor(OP, "table", table);
  checkIndex(OP, "indices", indices);
  checkRank(OP, "table", table, 2);
  checkRank(OP, "indices", indices, 1);
  const [R, E] = table.shape as [number, number];
  const L = indices.size;
  const mode = opts.mode ?? "sum";
  if (mode !== "sum" && mode !== "mean") {
    throw new OpError(OP, `mode must be "sum" or "mean", got ${JSON.stringify(mode)}`);
  }
  const kernelMode = mode === "mean" ? POOL_MEAN : POOL_SUM;
  const offsets = bagOffsets(bags, indices); // (B+1,)
  const B = offsets.length - 1;

  const weights = opts.perSampleWeights ?? null; // (L,) or null
  if (weights !== null) {
    checkTensor(OP, "perSampleWeights", weights);
    if (weights.shape.length !== 1 || weights.size !== L) {
      throw shapeError(OP, `perSampleWeights must be (L,) with one weight per lookup, L = ${L}`, {
        perSampleWeights: weights,
        indices,
      });
    }
  }
  const dtype = commonDType(OP, weights === null ? { table } : { table, perSampleWeights: weights });

  const ids = indices.data; // (L,)
  checkIds(OP, ids, offsets, R, opts.table ?? "table", opts.idsBelow);

  const out = output([B, E], dtype); // (B, E)
  const w = weights === null ? null : weights.data; // (L,)
  kernels.embedding_bag_fwd(B, E, kernelMode, table.data, 0, ids, offsets, w, out.data, 0);

  const inputs = weights === null ? [table] : [table, weights];
  return record(OP, out, inputs, (dout /* (B, E) */) => {
    if (table.requiresGrad) {
      // d out[b] / d table[r] = scale_b · Σ_{l in b, indices[l] = r} w_l, so the table's
      // gradient lives on the touched rows only: sum scale_b · w_l · dout[b] per unique row.
      const { unique, slots } = uniqueRows(ids); // (U,), (L,)
      const U = unique.length;
      const gradRows = allocFloat(dtype, U * E); // (U, E)
      kernels.embedding_bag_bwd(B, E, kernelMode, dout, 0, offsets, slots, w, gradRows, 0);
      accumulateRows(table, unique, gradRows, E);
    }
    if (weights !== null && weights.requiresGrad) {
      // d out[b] / d w_l = scale_b · table[indices[l]]  ⇒  dw_l += scale_b · <table[indices[l]], dout[b]>
      const gw = gradOf(weights); // (L,)
      const t = table.data;
      for (let b = 0; b < B; b++) {
        const start = offsets[b];
        const end = offsets[b + 1];
        const scale = kernelMode === POOL_MEAN && end > start ? 1 / (end - start) : 1;
        for (let l = start; l < end; l++) {
          const row = ids[l] * E;
          let dot = 0;
          for (let e = 0; e < E; e++) dot += t[row + e] * dout[b * E + e];
          gw[l] += scale * dot;
        }
      }
    }
  });
}

/**
 * out[l] = rowWeights[indices[l]]: one weight per lookup from a (R,) vector of per-row
 * weights. rowWeights (R,), indices (L,) → (L,). The gradient of rowWeights is row-sparse
 * (accumulateRows, rows of one element): d rowWeights[r] = Σ_{l: indices[l] = r} dout[l].
 */
export function gatherRowWeights(
  rowWeights: Tensor,
  indices: IndexTensor,
  opts: { table?: string; idsBelow?: number } = {},
): Tensor {
  const op = "gatherRowWeights";
  checkTensor(op, "rowWeights", rowWeights);
  checkIndex(op, "indices", indices);
  checkRank(op, "rowWeights", rowWeights, 1);
  checkRank(op, "indices", indices, 1);
  const R = rowWeights.size;
  const L = indices.size;
  const ids = indices.data; // (L,)
  const table = opts.table ?? "the table";
  if (opts.idsBelow !== undefined) checkIds(op, ids, null, R, `the row weights of ${table}`, opts.idsBelow);
  else
    for (let l = 0; l < L; l++)
      if (ids[l] < 0 || ids[l] >= R)
        throw new OpError(op, `index ${ids[l]} (lookup ${l}) out of range for the ${R} row weights of ${table}`);
  const out = output([L], rowWeights.dtype); // (L,)
  const w = rowWeights.data;
  for (let l = 0; l < L; l++) out.data[l] = w[ids[l]];
  return record(op, out, [rowWeights], (dout /* (L,) */) => {
    if (!rowWeights.requiresGrad) return;
    const { unique, slots } = uniqueRows(ids); // (U,), (L,)
    const g = allocFloat(rowWeights.dtype, unique.length); // (U,), zero-filled
    for (let l = 0; l < L; l++) g[slots[l]] += dout[l];
    accumulateRows(rowWeights, unique, g, 1);
  });
}

/** The CSR offsets (B+1,) of the bags, checked against the L lookups of indices. */
function bagOffsets(bags: Bags, indices: IndexTensor): Int32Array {
  const L = indices.size;
  if (bags === null || typeof bags !== "object") {
    throw new OpError(OP, `bags must be { offsets } or { lengths }, got ${String(bags)}`);
  }
  const hasOffsets = "offsets" in bags;
  const hasLengths = "lengths" in bags;
  if (hasOffsets === hasLengths) {
    throw new OpError(
      OP,
      `bags must hold exactly one of offsets (B+1,) or lengths (B,), got ${hasOffsets ? "both" : "neither"}`,
    );
  }

  if ("lengths" in bags) {
    const lengths = checkIndex(OP, "lengths", bags.lengths); // (B,)
    checkRank(OP, "lengths", lengths, 1);
    const B = lengths.size;
    const offsets = allocInt32(B + 1);
    let total = 0; // a JS number, so a huge sum cannot wrap around
    for (let b = 0; b < B; b++) {
      const n = lengths.data[b];
      if (n < 0) throw new OpError(OP, `lengths[${b}] is ${n}; a bag length must be non-negative`);
      total += n;
      offsets[b + 1] = Math.min(total, 0x7fffffff);
    }
    if (total !== L) {
      throw shapeError(OP, `lengths sum to ${total} but indices holds L = ${L} lookups`, { lengths, indices });
    }
    return offsets;
  }

  const offsetsT = checkIndex(OP, "offsets", bags.offsets); // (B+1,)
  checkRank(OP, "offsets", offsetsT, 1);
  const offsets = offsetsT.data;
  if (offsets.length === 0) {
    throw shapeError(OP, "offsets must hold B+1 >= 1 entries (CSR, starting with 0)", { offsets: offsetsT });
  }
  if (offsets[0] !== 0) throw new OpError(OP, `offsets[0] must be 0, got ${offsets[0]}`);
  for (let b = 1; b < offsets.length; b++) {
    if (offsets[b] < offsets[b - 1]) {
      throw new OpError(
        OP,
        `offsets must be non-decreasing, but offsets[${b}] = ${offsets[b]} < offsets[${b - 1}] = ${offsets[b - 1]}`,
      );
    }
  }
  const last = offsets[offsets.length - 1];
  if (last !== L) {
    throw shapeError(OP, `offsets[B] must equal the number of lookups L = ${L}, got ${last}`, {
      offsets: offsetsT,
      indices,
    });
  }
  return offsets;
}

/** The counts of one radix pass, shared: at most 2^11 digits (reused, so a step allocates none). */
const digitCounts = new Int32Array((1 << 11) + 1);

/**
 * The distinct ids, ascending, and for every lookup the position (slot) of its id among
 * them: the row-sparse layout embedding_bag_bwd writes into. The lookup positions are
 * sorted by id with a least-significant-digit radix sort (stable, so equal ids keep their
 * order), then one walk gives both. Digits are about log2(L) bits, so the counts stay as
 * small as the data; at 2048 lookups this is ~4× faster than sorting packed float64
 * (id, position) keys, which took ~4 ms of a 26-table batch-2048 step.
 */
export function uniqueRows(ids: Int32Array): { unique: Int32Array; slots: Int32Array } {
  const L = ids.length;
  let maxId = 0; // ids are ≥ 0 (checked before)
  for (let l = 0; l < L; l++) if (ids[l] > maxId) maxId = ids[l];
  const bits = Math.max(4, Math.min(11, Math.ceil(Math.log2(L + 1))));
  const mask = (1 << bits) - 1;
  let order = allocInt32(L); // (L,) lookup positions, sorted by the digits seen so far
  let spare = allocInt32(L);
  for (let l = 0; l < L; l++) order[l] = l;
  // shift < 31: ids are below 2^31, and JS takes shift counts mod 32 (>>> 32 is >>> 0)
  for (let shift = 0; shift === 0 || (shift < 31 && maxId >>> shift > 0); shift += bits) {
    digitCounts.fill(0, 0, mask + 2);
    for (let l = 0; l < L; l++) digitCounts[((ids[order[l]] >>> shift) & mask) + 1]++;
    for (let d = 1; d <= mask + 1; d++) digitCounts[d] += digitCounts[d - 1];
    for (let l = 0; l < L; l++) {
      const p = order[l];
      spare[digitCounts[(ids[p] >>> shift) & mask]++] = p;
    }
    [order, spare] = [spare, order];
  }
  const unique = spare; // (U,) in its first U entries; spare's contents are no longer needed
  const slots = allocInt32(L); // (L,)
  let U = 0;
  let prev = -1;
  for (let i = 0; i < L; i++) {
    const p = order[i];
    const id = ids[p];
    if (id !== prev) {
      unique[U++] = id;
      prev = id;
    }
    slots[p] = U - 1;
  }
  return { unique: unique.subarray(0, U), slots };
}
