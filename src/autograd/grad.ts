// A tensor's gradient buffers: where backward closures put d(root)/d(tensor).
//
// The rule is micrograd's: a closure *adds* (+=) into its inputs' gradients, because a
// tensor used by several ops receives one contribution from each. Two forms:
//   dense       t.grad, same size as t.data: gradOf(t) hands it out, zero-filled when new.
//   row-sparse  t.rowGrad of a leaf table read only by row (embeddingBag, indexSelect):
//               accumulateRows() merges the touched rows; a table-sized array never exists.
//
// The fresh-write rule, the one exception to "+= into zeros": when a tensor has no
// gradient yet, adding into a zero-filled buffer and writing the buffer are the same, and
// writing saves a pass over memory (the zero fill). gradForWrite(t) hands out a new buffer
// *without* the fill and says it is fresh; its caller must then write every element — a
// GEMM with β = 0 (matmul, linear), a kernel's accumulate flag off (relu_bwd) — and adds
// (β = 1, accumulate on) only into an existing buffer. A closure that cannot write every
// element in one pass uses gradOf.
//
// A tensor may have a home for its gradient (GradBucket: a view on one flat array that a
// collective sums in place): a gradient created then is that view, not a new buffer — fresh
// (written whole, unfilled) by gradForWrite, zero-filled by gradOf, as a new one would be.

import { kernels } from "../kernels/index.ts";
import { allocFloat, allocFloatUninit, allocInt32 } from "../tensor/storage.ts";
import type { GradTensor } from "../tensor/graph.ts";
import type { FloatArray, RowSparseGrad } from "../tensor/types.ts";

/** Where a tensor's gradient goes when one is created (GradBucket's views), by tensor. */
const homes = new WeakMap<GradTensor, Float32Array>();

/** t's dense gradient, created zero-filled if t has none: add into it. */
export function gradOf(t: GradTensor): FloatArray {
  if (t.grad === null) {
    const home = homes.get(t);
    if (home === undefined) t.grad = allocFloat(t.dtype, t.size);
    else {
      kernels.fill_zero(home.length, home, 0);
      t.grad = home;
    }
  }
  return t.grad;
}

/**
 * t's dense gradient for a closure that can write it in full (the fresh-write rule above):
 * a new buffer, not zero-filled, with fresh true (write every element), or the existing
 * one with fresh false (add into it).
 */
export function gradForWrite(t: GradTensor): { g: FloatArray; fresh: boolean } {
  if (t.grad !== null) return { g: t.grad, fresh: false };
  t.grad = homes.get(t) ?? allocFloatUninit(t.dtype, t.size);
  return { g: t.grad, fresh: true };
}

/** dst += src, elementwise. */
export function addInto(dst: FloatArray, src: FloatArray): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/**
 * Add a row-sparse gradient into t: rows `ids` (any order, repeats allowed) of a
 * (rows, cols) table receive `values` (ids.length, cols). A leaf keeps it sparse in
 * t.rowGrad (merged, ids unique and ascending); a non-leaf gets it added into its dense
 * gradient so that the ops before it see an ordinary gradient.
 */
export function accumulateRows(t: GradTensor, ids: Int32Array, values: FloatArray, cols: number): void {
  if (!t.requiresGrad) return;
  if (!t.isLeaf) {
    const g = gradOf(t);
    for (let i = 0; i < ids.length; i++) {
      const dst = ids[i] * cols;
      const src = i * cols;
      for (let c = 0; c < cols; c++) g[dst + c] += values[src + c];
    }
    return;
  }
  const rows = cols === 0 ? 0 : t.size / cols;
  t.rowGrad = mergeRows(t.rowGrad, ids, values, rows, cols, t.dtype === "float64");
}

/** Sum rows with equal ids, together with an existing row-sparse gradient. */
export function mergeRows(
  prev: RowSparseGrad | null,
  ids: Int32Array,
  values: FloatArray,
  rows: number,
  cols: number,
  f64: boolean,
): RowSparseGrad {
  if (prev === null && strictlyAscending(ids)) {
    // Already merged (embeddingBag's backward hands over unique ascending ids): keep as is.
    return { ids, values, rows, cols };
  }
  const allIds = prev === null ? ids : concatInt32(prev.ids, ids);
  // Sort positions by id (stable), then sum runs of equal ids.
  const pos = allocInt32(allIds.length);
  for (let i = 0; i < pos.length; i++) pos[i] = i;
  pos.sort((a, b) => allIds[a] - allIds[b] || a - b);
  let unique = 0;
  for (let i = 0; i < pos.length; i++) {
    if (i === 0 || allIds[pos[i]] !== allIds[pos[i - 1]]) unique++;
  }
  const outIds = allocInt32(unique);
  const out = allocFloat(f64 ? "float64" : "float32", unique * cols);
  const nPrev = prev === null ? 0 : prev.ids.length;
  let u = -1;
  for (let i = 0; i < pos.length; i++) {
    const p = pos[i];
    if (i === 0 || allIds[p] !== allIds[pos[i - 1]]) outIds[++u] = allIds[p];
    const src = p < nPrev ? (prev as RowSparseGrad).values : values;
    const off = (p < nPrev ? p : p - nPrev) * cols;
    for (let c = 0; c < cols; c++) out[u * cols + c] += src[off + c];
  }
  return { ids: outIds, values: out, rows, cols };
}

function strictlyAscending(ids: Int32Array): boolean {
  for (let i = 1; i < ids.length; i++) if (ids[i] <= ids[i - 1]) return false;
  return true;
}

function concatInt32(a: Int32Array, b: Int32Array): Int32Array {
  const out = allocInt32(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * The dense gradients of some parameters as views on one flat array (PyTorch DDP's
 * gradient_as_bucket_view), so that one collective sums them all in place: each view is its
 * parameter's gradient home (above), so backward writes straight into the array, with no
 * zero fill where the gradient is written whole (a weight's GEMM). After a backward, seal()
 * zero-fills the views that got no gradient (a rank whose batch slice was empty), so the
 * array always holds this step's gradients.
 */
export class GradBucket {
  /** Every gradient, back to back in the order of the parameters. */
  readonly flat: Float32Array;
  readonly #params: readonly GradTensor[];
  readonly #views: Float32Array[];

  /** flat: the array to use, one element per parameter element (its placement is the caller's). */
  constructor(params: readonly GradTensor[], flat: Float32Array) {
    const n = params.reduce((a, p) => a + p.size, 0);
    if (flat.length !== n) throw new Error(`GradBucket: the parameters have ${n} elements, the array ${flat.length}`);
    if (params.some((p) => p.dtype !== "float32"))
      throw new Error("GradBucket: every parameter must be float32 (the bucket is a Float32Array)");
    this.flat = flat;
    this.#params = params;
    let at = 0;
    this.#views = params.map((p) => flat.subarray(at, (at += p.size)));
    params.forEach((p, i) => homes.set(p, this.#views[i]));
  }

  /** After backward: every parameter's gradient is its view; one that got none gets zeros. */
  seal(): void {
    this.#params.forEach((p, i) => {
      const v = this.#views[i];
      if (p.grad === v) return;
      if (p.grad !== null)
        throw new Error(
          `GradBucket: parameter ${i}'s gradient is not its view in the bucket (made before the bucket?)`,
        );
      kernels.fill_zero(v.length, v, 0);
      p.grad = v;
    });
  }
}
