// Optimizer: the interface every optimizer implements (PyTorch's vocabulary: step(),
// zeroGrad(), a mutable lr that a schedule may change between steps), and the checks and
// gradient plumbing the optimizers share.
//
// A parameter's gradient arrives in one of two forms (see RowSparseGrad in
// tensor/tensor.ts): dense in `.grad` (MLP weights), or row-sparse in `.rowGrad` (the
// embedding tables, which are only read by row; the touched rows each once, ascending,
// with their summed gradients). A parameter with neither was not used this step and is
// skipped, as PyTorch skips `p.grad is None`.
//
// Glossary: R rows of a table, E row length (cols), U unique touched rows, n elements of
// a parameter.

import { OpError, formatShape } from "../tensor/shape.ts";
import type { FloatArray, RowSparseGrad, Tensor } from "../tensor/tensor.ts";

export interface Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate of the next step(); a schedule sets it between steps. */
  lr: number;
  /**
   * Update every parameter that has a gradient; with share, a dense parameter listed in it
   * only in the elements it gives.
   */
  step(share?: DenseShare): void;
  /** Drop every parameter's gradient (dense and row-sparse), like PyTorch's zero_grad(set_to_none=True). */
  zeroGrad(): void;
}

/**
 * The part of some dense parameters that one step updates, by parameter index: elements
 * [from, to) of the parameter and of its element-wise state, the rest left as they are; a
 * parameter not listed is updated whole. Every update is elementwise, so a part updated here
 * has the bits of the whole update. A hybrid-parallel rank updates its chunk of the replicated
 * head this way and gathers the other ranks' chunks (src/parallel/rank.ts).
 */
export type DenseShare = ReadonlyMap<number, readonly [number, number]>;

/** The elements [from, to) of dense parameter i (n elements) that a step updates under share. */
export function denseRange(op: string, share: DenseShare | undefined, i: number, n: number): readonly [number, number] {
  const part = share?.get(i);
  if (part === undefined) return [0, n];
  const [from, to] = part;
  if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= n))
    throw new OpError(op, `the share of parameter ${i} is [${from}, ${to}), not a range of its ${n} elements`);
  return part;
}

/**
 * Check the parameter list: each a leaf that requires a gradient, none twice (a parameter
 * listed twice would be updated twice per step). Returns a frozen copy.
 */
export function checkParams(op: string, params: readonly Tensor[]): readonly Tensor[] {
  const seen = new Map<Tensor, number>();
  params.forEach((p, i) => {
    if (!p.requiresGrad) {
      throw new OpError(
        op,
        `parameter ${i} ${formatShape(p.shape)} does not require a gradient (set requiresGrad, or leave it out)`,
      );
    }
    if (!p.isLeaf) {
      throw new OpError(
        op,
        `parameter ${i} ${formatShape(p.shape)} is the result of ${p.fromOp}, not a leaf; only leaves keep their gradients`,
      );
    }
    const first = seen.get(p);
    if (first !== undefined) {
      throw new OpError(
        op,
        `parameter ${i} ${formatShape(p.shape)} is the same tensor as parameter ${first}; it would be updated twice per step`,
      );
    }
    seen.set(p, i);
  });
  return Object.freeze([...params]);
}

/** A finite number >= 0 (lr, eps, initial accumulator), as torch.optim checks. */
export function checkNonNegative(op: string, name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new OpError(op, `${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Check a row-sparse gradient against its parameter before a kernel runs unchecked on it:
 * the table size, the values' length and dtype, and the ids (in range, strictly
 * ascending, so each row is updated once — the non-linear Adagrad updates need merged ids).
 */
export function checkRowGrad(op: string, index: number, p: Tensor, rg: RowSparseGrad): void {
  const where = `parameter ${index} ${formatShape(p.shape)}`;
  if (rg.rows * rg.cols !== p.size) {
    throw new OpError(op, `row-sparse gradient of ${where} is for a (${rg.rows}, ${rg.cols}) table`);
  }
  if (rg.values.length !== rg.ids.length * rg.cols) {
    throw new OpError(
      op,
      `row-sparse gradient of ${where} has ${rg.values.length} values for ${rg.ids.length} rows of ${rg.cols}`,
    );
  }
  if (rg.values instanceof Float64Array !== p.data instanceof Float64Array) {
    throw new OpError(
      op,
      `row-sparse gradient of ${where} is ${rg.values.constructor.name} but the parameter is ${p.dtype}`,
    );
  }
  let prev = -1;
  for (let u = 0; u < rg.ids.length; u++) {
    const r = rg.ids[u];
    if (r < 0 || r >= rg.rows) {
      throw new OpError(
        op,
        `row-sparse gradient of ${where}: row id ${r} (position ${u}) is out of range for ${rg.rows} rows`,
      );
    }
    if (r <= prev) {
      throw new OpError(
        op,
        `row-sparse gradient of ${where}: row ids must be unique and ascending, got ${prev} then ${r} at position ${u}`,
      );
    }
    prev = r;
  }
}

/** Check a dense gradient's length and dtype against its parameter. */
export function checkDenseGrad(op: string, index: number, p: Tensor, g: FloatArray): void {
  if (g.length !== p.size || g instanceof Float64Array !== p.data instanceof Float64Array) {
    throw new OpError(
      op,
      `dense gradient of parameter ${index} ${formatShape(p.shape)} is a ${g.constructor.name} of ${g.length} (the parameter is ${p.dtype} with ${p.size})`,
    );
  }
}

/**
 * The gradient a step must apply to p, in the form to apply it:
 * - null when p has no gradient (skip it);
 * - { kind: "rows" } when it has only a row-sparse one;
 * - { kind: "dense" } otherwise. A parameter used both by row and densely in one step
 *   has both; their sum is formed here (a fresh array), because Adagrad's update is not
 *   linear in g and must see the whole gradient — as PyTorch, where dense + sparse is dense.
 */
export type StepGrad = { kind: "dense"; g: FloatArray } | { kind: "rows"; rg: RowSparseGrad } | null;

export function gradForStep(op: string, index: number, p: Tensor): StepGrad {
  const g = p.grad;
  const rg = p.rowGrad;
  if (g === null && rg === null) return null;
  if (rg !== null) checkRowGrad(op, index, p, rg);
  if (g !== null) checkDenseGrad(op, index, p, g);
  if (rg === null) return { kind: "dense", g: g as FloatArray };
  if (g === null) return { kind: "rows", rg };
  const sum = g.slice(); // (n,)
  const { ids, values, cols } = rg;
  for (let u = 0; u < ids.length; u++) {
    const dst = ids[u] * cols;
    for (let c = 0; c < cols; c++) sum[dst + c] += values[u * cols + c];
  }
  return { kind: "dense", g: sum };
}

/** zeroGrad for a parameter list. */
export function zeroGrads(params: readonly Tensor[]): void {
  for (const p of params) p.zeroGrad();
}
