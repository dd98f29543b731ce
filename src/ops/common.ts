// Small helpers every op file uses: input checks with op-named messages, and output
// allocation in the inputs' dtype.

import { OpError, shapeError, type Shape } from "../tensor/shape.ts";
import { empty, IndexTensor, Tensor, type DType } from "../tensor/tensor.ts";

/** Throws unless x is a Tensor; names the op and the argument. */
export function checkTensor(op: string, name: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) {
    throw new OpError(op, `${name} must be a Tensor, got ${describe(x)}`);
  }
  return x;
}

/** Throws unless x is an IndexTensor (Int32 row ids); names the op and the argument. */
export function checkIndex(op: string, name: string, x: unknown): IndexTensor {
  if (!(x instanceof IndexTensor)) {
    throw new OpError(op, `${name} must be an IndexTensor of int32 ids, got ${describe(x)}`);
  }
  return x;
}

/** The common dtype of the inputs; mixing float32 and float64 is an error. */
export function commonDType(op: string, args: Record<string, Tensor>): DType {
  const entries = Object.entries(args);
  const first = entries[0]?.[1].dtype ?? "float32";
  for (const [, t] of entries) {
    if (t.dtype !== first) {
      const parts = entries.map(([n, u]) => `${n} is ${u.dtype}`).join(", ");
      throw new OpError(op, `inputs must share a dtype — ${parts}`);
    }
  }
  return first;
}

/** Throws unless t has the given rank. */
export function checkRank(op: string, name: string, t: Tensor | IndexTensor, rank: number): void {
  if (t.shape.length !== rank) {
    throw shapeError(op, `${name} must be ${rank}-D, got ${t.shape.length}-D`, { [name]: t });
  }
}

/** A fresh zero-filled tensor of the given shape and dtype. */
export function output(shape: Shape, dtype: DType): Tensor {
  return empty(shape, { dtype });
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return x.constructor?.name ?? "object";
}
