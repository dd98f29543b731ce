// Shape ops: reshape, transpose, permute, concat, slice, indexSelect, gather. None of them
// does arithmetic: each moves elements of x into y, so each backward moves the gradient
// back along the same path. Where the forward reads y[n] = x[src[n]], the backward
// scatters dx[src[n]] += dy[n]; an element read twice (a repeated id) gets both gradients.
//
// Glossary: x the input, y the output, g the upstream gradient dL/dy (y's shape); R rank;
// N the number of elements of y, n the flat index of one. Ops along one axis see a
// contiguous tensor as an (O, A, I) block: O ("outer") the product of the dims before the
// axis, A the axis' size, I ("inner") the product of the dims after it. L ids in an index.

import { accumulateRows, addInto, gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { normAxis, OpError, shapeError, sizeOf, stridesOf, type Shape } from "../tensor/shape.ts";
import { allocInt32 } from "../tensor/storage.ts";
import { Tensor, type IndexTensor } from "../tensor/tensor.ts";
import { checkIndex, checkRank, checkTensor, commonDType, output } from "./common.ts";

// ---------------------------------------------------------------------------------------
// reshape

/**
 * The same elements in the same (row-major) order under a new shape; one dim may be -1
 * and is then inferred. y shares x's storage (a view, like PyTorch's on a contiguous
 * tensor): writing into y.data writes into x.data.
 *
 * x (any) → y (shape).
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const op = "reshape";
  checkTensor(op, "x", x);
  const out = new Tensor(x.data, resolveShape(op, x, shape), false, x); // (shape), a view of x
  return record(op, out, [x], (g) => {
    addInto(gradOf(x), g); // y[n] = x[n] in flat order ⇒ dx = dy
  });
}

/** shape with its -1 (if any) replaced, checked to hold exactly x.size elements. */
function resolveShape(op: string, x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) throw new OpError(op, `shape must be an array of integers, got ${String(shape)}`);
  const spec = `[${shape.join(", ")}]`;
  let inferAt = -1; // position of the -1
  let known = 1; // product of the other dims
  shape.forEach((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) throw shapeError(op, `only one dim may be -1, got ${spec}`, { x });
      inferAt = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw shapeError(op, `dims must be non-negative integers (or one -1), got ${spec}`, { x });
    } else {
      known *= d;
    }
  });
  if (inferAt < 0) {
    if (known !== x.size) {
      throw shapeError(op, `cannot view ${x.size} elements as ${spec} (${known} elements)`, { x });
    }
    return [...shape];
  }
  // With the other dims multiplying to 0, any value of -1 fits: refuse to guess.
  if (known === 0 || x.size % known !== 0) {
    throw shapeError(op, `cannot infer the -1 in ${spec}: ${x.size} elements do not divide into rows of ${known}`, {
      x,
    });
  }
  const out = [...shape];
  out[inferAt] = x.size / known;
  return out;
}

// ---------------------------------------------------------------------------------------
// transpose, permute

/**
 * Swap dims dim0 and dim1 (default: the last two; negative dims count from the end).
 * A copy in the new layout; to multiply by a transpose, pass matmul's transA/transB instead.
 */
export function transpose(x: Tensor, dim0?: number, dim1?: number): Tensor {
  const op = "transpose";
  checkTensor(op, "x", x);
  if (dim0 === undefined && dim1 === undefined && x.rank < 2) {
    throw shapeError(op, `swapping the last two dims needs at least 2 dims, got ${x.rank}`, { x });
  }
  const d0 = normAxis(op, dim0 ?? -2, x.rank, x);
  const d1 = normAxis(op, dim1 ?? -1, x.rank, x);
  const perm = x.shape.map((_, i) => (i === d0 ? d1 : i === d1 ? d0 : i));
  return permuted(op, x, perm);
}

/**
 * Reorder the dims: dim k of y is dim dims[k] of x (negative dims count from the end).
 * x (s_0, …, s_{R-1}) → y (s_dims[0], …, s_dims[R-1]).
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const op = "permute";
  checkTensor(op, "x", x);
  const spec = Array.isArray(dims) ? `[${dims.join(", ")}]` : String(dims);
  if (!Array.isArray(dims) || dims.length !== x.rank) {
    throw shapeError(op, `dims ${spec} must list each of the ${x.rank} dims once`, { x });
  }
  const seen = new Array<boolean>(x.rank).fill(false);
  const perm = dims.map((d) => {
    const a = Number.isInteger(d) && d < 0 ? d + x.rank : d;
    if (!Number.isInteger(d) || a < 0 || a >= x.rank || seen[a]) {
      throw shapeError(op, `dims ${spec} is not a permutation of 0..${x.rank - 1}`, { x });
    }
    seen[a] = true;
    return a;
  });
  return permuted(op, x, perm);
}

/** The shared body of transpose and permute: y[n] = x[src[n]] through the index map. */
function permuted(op: string, x: Tensor, perm: readonly number[]): Tensor {
  const out = output(
    perm.map((d) => x.shape[d]),
    x.dtype,
  ); // (permuted shape)
  const src = permutedIndex(x.shape, perm); // (N,)
  const xv = x.data;
  const y = out.data; // (N,)
  for (let n = 0; n < y.length; n++) y[n] = xv[src[n]];
  return record(op, out, [x], (g) => {
    const gx = gradOf(x);
    for (let n = 0; n < g.length; n++) gx[src[n]] += g[n]; // y[n] = x[src[n]] ⇒ dx[src[n]] += dy[n]
  });
}

/** For each element of the permuted tensor (row-major), its flat index in x. */
function permutedIndex(shape: Shape, perm: readonly number[]): Int32Array {
  const R = perm.length;
  const xStrides = stridesOf(shape);
  const dims = perm.map((d) => shape[d]); // the permuted shape
  const step = perm.map((d) => xStrides[d]); // x's stride along each permuted dim
  const src = allocInt32(sizeOf(shape)); // (N,)
  const idx = new Array<number>(R).fill(0); // multi-index into the permuted shape
  let f = 0; // flat index into x of that multi-index
  for (let n = 0; n < src.length; n++) {
    src[n] = f;
    // Advance the multi-index like an odometer, keeping f in step with it.
    for (let d = R - 1; d >= 0; d--) {
      f += step[d];
      if (++idx[d] < dims[d]) break;
      f -= step[d] * dims[d];
      idx[d] = 0;
    }
  }
  return src;
}

// ---------------------------------------------------------------------------------------
// concat, slice

/**
 * Join tensors along axis (default 0; negative counts from the end). Every other dim must
 * agree. xs[i] (…, A_i, …) → y (…, Σ A_i, …).
 */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const op = "concat";
  if (!Array.isArray(xs) || xs.length === 0) throw new OpError(op, "needs a non-empty array of tensors");
  const named: Record<string, Tensor> = {};
  xs.forEach((t, i) => (named[`xs[${i}]`] = checkTensor(op, `xs[${i}]`, t)));
  const dtype = commonDType(op, named);
  const first = xs[0] as Tensor;
  const R = first.rank;
  if (R === 0) throw shapeError(op, "cannot concatenate rank-0 tensors", { "xs[0]": first });
  const ax = normAxis(op, axis, R, first);
  let total = 0; // Σ A_i
  xs.forEach((t, i) => {
    if (t.rank !== R) throw shapeError(op, `ranks differ (${R} vs ${t.rank})`, { "xs[0]": first, [`xs[${i}]`]: t });
    for (let d = 0; d < R; d++) {
      if (d !== ax && t.shape[d] !== first.shape[d]) {
        throw shapeError(
          op,
          `dim ${d} differs (${first.shape[d]} vs ${t.shape[d]}); only the axis may differ`,
          { "xs[0]": first, [`xs[${i}]`]: t },
          { axis },
        );
      }
    }
    total += t.shape[ax];
  });
  const shape = first.shape.map((d, i) => (i === ax ? total : d));
  const { O, I } = around(shape, ax);
  const out = output(shape, dtype); // (…, Σ A_i, …)
  const y = out.data;
  // Each outer index o holds one block of every input, in order: x_i's block is A_i·I long.
  for (let o = 0; o < O; o++) {
    let dst = o * total * I;
    for (const t of xs) {
      const len = t.shape[ax] * I;
      const xv = t.data;
      for (let j = 0; j < len; j++) y[dst + j] = xv[o * len + j];
      dst += len;
    }
  }
  return record(op, out, xs, (g) => {
    let start = 0; // where x_i's block starts within an outer block of y
    for (const t of xs) {
      const len = t.shape[ax] * I;
      if (t.requiresGrad) {
        const gx = gradOf(t);
        for (let o = 0; o < O; o++) {
          const src = o * total * I + start;
          for (let j = 0; j < len; j++) gx[o * len + j] += g[src + j]; // y's block of x_i is x_i ⇒ dx_i = that block of dy
        }
      }
      start += len;
    }
  });
}

/**
 * The elements start ≤ i < end along axis. start and end may be negative (counted from
 * the end, as in Python); unlike Python they are not clamped: a range outside the axis or
 * with start > end is an error. x (…, A, …) → y (…, end - start, …).
 */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const op = "slice";
  checkTensor(op, "x", x);
  const ax = normAxis(op, axis, x.rank, x);
  const A = x.shape[ax];
  if (!Number.isInteger(start) || !Number.isInteger(end)) {
    throw shapeError(op, `start and end must be integers, got ${start} and ${end}`, { x });
  }
  const s = start < 0 ? start + A : start;
  const e = end < 0 ? end + A : end;
  if (s < 0 || e > A) {
    throw shapeError(op, `range [${start}, ${end}) is out of range for axis ${ax} of size ${A}`, { x });
  }
  if (s > e)
    throw shapeError(op, `range [${start}, ${end}) has start ${s} after end ${e} on axis ${ax} of size ${A}`, { x });
  const shape = x.shape.map((d, i) => (i === ax ? e - s : d));
  const { O, I } = around(x.shape, ax);
  const len = (e - s) * I; // elements of y per outer index
  const out = output(shape, x.dtype); // (…, end - start, …)
  const xv = x.data;
  const y = out.data;
  for (let o = 0; o < O; o++) {
    const from = (o * A + s) * I;
    for (let j = 0; j < len; j++) y[o * len + j] = xv[from + j];
  }
  return record(op, out, [x], (g) => {
    const gx = gradOf(x);
    for (let o = 0; o < O; o++) {
      const to = (o * A + s) * I;
      for (let j = 0; j < len; j++) gx[to + j] += g[o * len + j]; // y = x[s:e] ⇒ dx[s:e] += dy
    }
  });
}

// ---------------------------------------------------------------------------------------
// indexSelect, gather

/**
 * Pick entries ids[0..L) along axis, repeats allowed: y[…, l, …] = x[…, ids[l], …].
 * x (…, A, …), index (L,) → y (…, L, …).
 *
 * Along axis 0 each id picks a row (a slice of I elements), as an embedding lookup does,
 * so the gradient goes through accumulateRows: a leaf gets a row-sparse gradient (the
 * touched rows, summed), never an x-sized dense array.
 */
export function indexSelect(x: Tensor, axis: number, index: IndexTensor): Tensor {
  const op = "indexSelect";
  checkTensor(op, "x", x);
  checkIndex(op, "index", index);
  checkRank(op, "index", index, 1);
  const ax = normAxis(op, axis, x.rank, x);
  const A = x.shape[ax];
  const ids = index.data; // (L,)
  const L = ids.length;
  for (let l = 0; l < L; l++) {
    if (ids[l] < 0 || ids[l] >= A) {
      throw shapeError(op, `index ${ids[l]} at position ${l} is out of range for axis ${ax} of size ${A}`, {
        x,
        index,
      });
    }
  }
  const shape = x.shape.map((d, i) => (i === ax ? L : d));
  const { O, I } = around(x.shape, ax);
  const out = output(shape, x.dtype); // (…, L, …)
  const xv = x.data;
  const y = out.data;
  for (let o = 0; o < O; o++) {
    for (let l = 0; l < L; l++) {
      const from = (o * A + ids[l]) * I;
      const to = (o * L + l) * I;
      for (let j = 0; j < I; j++) y[to + j] = xv[from + j];
    }
  }
  return record(op, out, [x], (g) => {
    if (ax === 0) {
      accumulateRows(x, ids, g, I); // y[l] = x[ids[l]] ⇒ dx[ids[l]] += dy[l], rows summed per id
      return;
    }
    const gx = gradOf(x);
    for (let o = 0; o < O; o++) {
      for (let l = 0; l < L; l++) {
        const to = (o * A + ids[l]) * I;
        const from = (o * L + l) * I;
        for (let j = 0; j < I; j++) gx[to + j] += g[from + j]; // y[…, l, …] = x[…, ids[l], …] ⇒ dx[…, ids[l], …] += dy[…, l, …]
      }
    }
  });
}

/**
 * torch.gather: y has index's shape, and y[i…] = x[i… with its axis coordinate replaced by
 * index[i…]]; e.g. for axis 1 of a 3-D x, y[i][j][k] = x[i][index[i][j][k]][k].
 * index has x's rank, and along every other dim it is no larger than x.
 * x (…, A, …), index (…, L, …) → y (index's shape).
 */
export function gather(x: Tensor, axis: number, index: IndexTensor): Tensor {
  const op = "gather";
  checkTensor(op, "x", x);
  checkIndex(op, "index", index);
  if (index.shape.length !== x.rank) {
    throw shapeError(op, `index must have x's rank ${x.rank}, got ${index.shape.length}`, { x, index });
  }
  const ax = normAxis(op, axis, x.rank, x);
  const R = x.rank;
  for (let d = 0; d < R; d++) {
    if (d !== ax && index.shape[d] > x.shape[d]) {
      throw shapeError(
        op,
        `index dim ${d} is ${index.shape[d]}, larger than x's ${x.shape[d]}`,
        { x, index },
        { axis },
      );
    }
  }
  const A = x.shape[ax];
  const xStrides = stridesOf(x.shape);
  const ids = index.data; // (N,)
  const src = allocInt32(ids.length); // (N,) flat index into x of y[n]
  const idx = new Array<number>(R).fill(0); // multi-index of n in index's shape
  let base = 0; // flat index into x of idx with its axis coordinate set to 0
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= A) {
      throw shapeError(
        op,
        `index ${id} at position ${n} ([${idx.join(", ")}]) is out of range for axis ${ax} of size ${A}`,
        { x, index },
      );
    }
    src[n] = base + id * xStrides[ax];
    for (let d = R - 1; d >= 0; d--) {
      const step = d === ax ? 0 : xStrides[d];
      base += step;
      if (++idx[d] < index.shape[d]) break;
      base -= step * index.shape[d];
      idx[d] = 0;
    }
  }
  const out = output(index.shape, x.dtype); // (index's shape)
  const xv = x.data;
  const y = out.data;
  for (let n = 0; n < y.length; n++) y[n] = xv[src[n]];
  return record(op, out, [x], (g) => {
    const gx = gradOf(x);
    for (let n = 0; n < g.length; n++) gx[src[n]] += g[n]; // y[n] = x[src[n]] ⇒ dx[src[n]] += dy[n]
  });
}

// ---------------------------------------------------------------------------------------

/** O and I of the (O, A, I) view of a contiguous tensor around axis ax. */
function around(shape: Shape, ax: number): { O: number; I: number } {
  return { O: sizeOf(shape.slice(0, ax)), I: sizeOf(shape.slice(ax + 1)) };
}
