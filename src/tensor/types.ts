// The element types and gradient forms shared by tensor storage, the autograd tape and the
// Tensor class, in a module of their own so that each of those imports them without
// importing the others (no import cycle; test/layers.test.ts).

export type { FloatArray } from "../kernels/ref.ts";
import type { FloatArray } from "../kernels/ref.ts";

export type DType = "float32" | "float64";

/**
 * The gradient of a table that was only read by row (embeddingBag, indexSelect):
 * the touched row ids, each once and ascending, and their summed gradients.
 * values is (ids.length, cols); a table-sized dense array never exists.
 */
export interface RowSparseGrad {
  readonly ids: Int32Array; // (U,)
  readonly values: FloatArray; // (U, cols)
  readonly rows: number; // rows of the table
  readonly cols: number; // row length
}
