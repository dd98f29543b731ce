// Batch staging: the main thread writes each batch into shared memory, where every rank
// reads what it needs without a copy (owners: the bags of their tables for the whole batch;
// everyone: the dense features and labels of its slice). Two slots: while the ranks work on
// batch s in one, the main thread loads batch s + 1 into the other.
//
// One slot, all 4-byte elements, back to back in one SharedArrayBuffer:
//
//   header   Int32 (1 + F)          B, then L_t for each table
//   dense    Float32 (Bmax·Dd)      rows of the batch
//   labels   Float32 (Bmax)
//   pred     Float32 (Bmax)         predictions, written by the ranks (each its slice)
//   per table t:
//     offsets  Int32 (Bmax + 1)     CSR: bag b is indices[offsets[b] .. offsets[b+1])
//     indices  Int32 (cap_t)        cap_t = Bmax · (longest bag of table t in the data)
//     weights  Float32 (cap_t)      only when the data has per-sample weights for t
//   per coming batch j < k (tables on disk with look-ahead: the ids the ranks' caches plan with):
//     header   Int32 (1 + F)        B_j (0: no such batch), then L_t
//     per table t: offsets Int32 (Bmax + 1), indices Int32 (cap_t)
//
// Glossary: B samples in a batch (≤ Bmax), Dd dense features, F tables, L_t lookups of
// table t in the batch, k coming batches.

import type { Dataset } from "../data/dataset.ts";
import type { ForeseenBatch } from "../dlrm/store/disk_tables.ts";

export interface BatchSlotLayout {
  maxBatch: number;
  denseFeatures: number;
  tables: { capacity: number; weights: boolean }[];
  /** Coming batches whose ids a slot also holds (k). */
  ahead: number;
  /** Bytes of one slot. */
  bytes: number;
}

export interface SlotViews {
  header: Int32Array; // (1 + F,)
  dense: Float32Array; // (Bmax, Dd)
  labels: Float32Array; // (Bmax,)
  pred: Float32Array; // (Bmax,)
  tables: { offsets: Int32Array; indices: Int32Array; weights: Float32Array | null }[];
  /** The next k batches' ids: header (1 + F,) B_j then L_t, and each table's CSR. */
  ahead: { header: Int32Array; tables: { offsets: Int32Array; indices: Int32Array }[] }[];
}

/**
 * The layout that fits every batch of at most maxBatch samples of any of these datasets
 * (training and evaluation data), and the ids of `ahead` coming batches.
 */
export function batchSlotLayout(datasets: readonly Dataset[], maxBatch: number, ahead = 0): BatchSlotLayout {
  const first = datasets[0];
  if (first === undefined) throw new Error("batchSlotLayout: no dataset");
  const F = first.sparse.length;
  const tables = first.sparse.map((_, t) => {
    let longest = 0;
    let weights = false;
    for (const data of datasets) {
      const f = data.sparse[t];
      if (f === undefined)
        throw new Error(`batchSlotLayout: a dataset has ${data.sparse.length} sparse features, another ${F}`);
      for (let i = 0; i < data.n; i++) longest = Math.max(longest, f.offsets[i + 1] - f.offsets[i]);
      weights ||= f.weights !== null;
    }
    return { capacity: maxBatch * longest, weights };
  });
  let words = 1 + F + maxBatch * first.denseFeatures + 2 * maxBatch;
  for (const t of tables) words += maxBatch + 1 + t.capacity * (t.weights ? 2 : 1);
  words += ahead * (1 + F + tables.reduce((a, t) => a + maxBatch + 1 + t.capacity, 0));
  return { maxBatch, denseFeatures: first.denseFeatures, tables, ahead, bytes: 4 * words };
}

/** Typed views of one slot (the same on the main thread and in every rank). */
export function slotViews(layout: BatchSlotLayout, buffer: SharedArrayBuffer): SlotViews {
  let at = 0;
  const take = <A extends Int32Array | Float32Array>(
    make: (b: SharedArrayBuffer, byteOffset: number, n: number) => A,
    n: number,
  ): A => {
    const a = make(buffer, at, n);
    at += 4 * n;
    return a;
  };
  const i32 = (b: SharedArrayBuffer, o: number, n: number): Int32Array => new Int32Array(b, o, n);
  const f32 = (b: SharedArrayBuffer, o: number, n: number): Float32Array => new Float32Array(b, o, n);
  const Bmax = layout.maxBatch;
  const header = take(i32, 1 + layout.tables.length);
  const dense = take(f32, Bmax * layout.denseFeatures);
  const labels = take(f32, Bmax);
  const pred = take(f32, Bmax);
  const tables = layout.tables.map((t) => ({
    offsets: take(i32, Bmax + 1),
    indices: take(i32, t.capacity),
    weights: t.weights ? take(f32, t.capacity) : null,
  }));
  const ahead = Array.from({ length: layout.ahead }, () => ({
    header: take(i32, 1 + layout.tables.length),
    tables: layout.tables.map((t) => ({ offsets: take(i32, Bmax + 1), indices: take(i32, t.capacity) })),
  }));
  return { header, dense, labels, pred, tables, ahead };
}

/**
 * Write the ids of the coming batches (each a whole batch, as the feed hands them out) into
 * the slot's look-ahead part: the first k of them; the rest of the k marked absent.
 */
export function writeAheadIds(slot: SlotViews, batches: readonly Dataset[]): void {
  slot.ahead.forEach((dst, j) => {
    const d = batches[j];
    dst.header[0] = 0;
    if (d === undefined) return;
    const Bmax = (dst.tables[0]?.offsets.length ?? 1) - 1;
    if (d.n > Bmax)
      throw new Error(`writeAheadIds: a coming batch of ${d.n} samples exceeds the slot capacity of ${Bmax}`);
    d.sparse.forEach((f, t) => {
      const to = dst.tables[t];
      if (to === undefined) return;
      const L = f.offsets[d.n] - f.offsets[0];
      if (L > to.indices.length)
        throw new Error(
          `writeAheadIds: table ${t}'s ${L} lookups in a coming batch exceed the slot capacity of ${to.indices.length}`,
        );
      to.indices.set(f.indices.subarray(f.offsets[0], f.offsets[0] + L));
      for (let i = 0; i <= d.n; i++) to.offsets[i] = f.offsets[i] - f.offsets[0];
      dst.header[1 + t] = L;
    });
    dst.header[0] = d.n;
  });
}

/** The coming batches' ids in a slot (those present), as the table store plans with them. */
export function aheadIds(slot: SlotViews): ForeseenBatch[] {
  const out: ForeseenBatch[] = [];
  for (const a of slot.ahead) {
    const B = a.header[0] as number;
    if (B === 0) break;
    out.push({
      sparse: a.tables.map((t, k) => ({
        offsets: t.offsets.subarray(0, B + 1),
        indices: t.indices.subarray(0, a.header[1 + k]),
      })),
    });
  }
  return out;
}

/**
 * Write the samples rows[0 .. B) of data (or, when rows is null, samples [start, start + B))
 * into a slot, in that order. This runs on the main thread while the ranks compute, on the
 * same cores: it copies element by element or in whole ranges, and makes no per-sample
 * views (at batch 2048, one view per bag and table cost ~3 ms per step and its garbage).
 */
export function writeBatchSlot(
  slot: SlotViews,
  data: Dataset,
  rows: Int32Array | null,
  start: number,
  B: number,
): void {
  const Dd = data.denseFeatures;
  if (B > slot.labels.length)
    throw new Error(`writeBatchSlot: batch of ${B} samples exceeds the slot capacity of ${slot.labels.length}`);
  slot.header[0] = B;
  if (rows === null) {
    slot.dense.set(data.dense.subarray(start * Dd, (start + B) * Dd));
    slot.labels.set(data.labels.subarray(start, start + B));
  } else {
    const dense = slot.dense;
    const src = data.dense;
    for (let i = 0; i < B; i++) {
      const s = rows[i];
      for (let j = 0; j < Dd; j++) dense[i * Dd + j] = src[s * Dd + j];
      slot.labels[i] = data.labels[s];
    }
  }
  data.sparse.forEach((f, t) => {
    const dst = slot.tables[t];
    const need = rows === null ? f.offsets[start + B] - f.offsets[start] : bagsLength(f.offsets, rows, B);
    if (need > dst.indices.length) {
      throw new Error(
        `writeBatchSlot: table ${t}'s ${need} lookups in this batch exceed the slot capacity of ${dst.indices.length} (the layout was made for shorter bags: give every dataset to batchSlotLayout)`,
      );
    }
    const offsets = dst.offsets;
    const weights = dst.weights !== null && f.weights !== null ? { dst: dst.weights, src: f.weights } : null;
    let L: number;
    if (rows === null) {
      // samples [start, start + B): their bags are one contiguous range of the data
      const a0 = f.offsets[start];
      L = f.offsets[start + B] - a0;
      dst.indices.set(f.indices.subarray(a0, a0 + L));
      if (weights !== null) weights.dst.set(weights.src.subarray(a0, a0 + L));
      for (let i = 0; i <= B; i++) offsets[i] = f.offsets[start + i] - a0;
    } else {
      const indices = dst.indices;
      L = 0;
      offsets[0] = 0;
      for (let i = 0; i < B; i++) {
        const s = rows[i];
        const a = f.offsets[s];
        const b = f.offsets[s + 1];
        if (weights !== null) for (let l = a; l < b; l++) weights.dst[L + l - a] = weights.src[l];
        for (let l = a; l < b; l++) indices[L++] = f.indices[l];
        offsets[i + 1] = L;
      }
    }
    // A slot with room for weights and a dataset without them (evaluation data): weight 1.
    if (dst.weights !== null && f.weights === null) dst.weights.fill(1, 0, L);
    slot.header[1 + t] = L;
  });
}

/** Lookups of the samples rows[0 .. B) in a feature with these offsets. */
function bagsLength(offsets: Int32Array, rows: Int32Array, B: number): number {
  let L = 0;
  for (let i = 0; i < B; i++) L += offsets[rows[i] + 1] - offsets[rows[i]];
  return L;
}
