// The shapes of the autograd graph: a node (the op that made a tensor, its inputs, its
// backward) and what the tape and the gradient buffers need of a tensor. Typed by structure,
// so that autograd never imports the Tensor class, which imports autograd (the Tensor class
// in src/tensor/tensor.ts has every member below).

import type { DType, FloatArray, RowSparseGrad } from "../tensor/types.ts";

export interface Node {
  readonly op: string;
  readonly inputs: readonly GradTensor[];
  /** Receives d(root)/d(output) and adds d(root)/d(input) into each input's gradient. */
  readonly backward: (gradOut: FloatArray) => void;
  /** The write clock when the op ran: a tensor of the node stamped later was modified since. */
  readonly recordedAt: number;
}

/** A tensor as the graph sees it. */
export interface GradTensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  readonly data: FloatArray;
  requiresGrad: boolean;
  /** The dense gradient, once one was written. */
  grad: FloatArray | null;
  /** A table's row-sparse gradient (RowSparseGrad), once one was written. */
  rowGrad: RowSparseGrad | null;
  /** The node of the op that made it, while its graph is kept (null for a leaf). */
  node: Node | null;
  /** The op that made it, kept after its graph is released (null for a leaf). */
  fromOp: string | null;
  /** Whether backward() keeps its gradient although it is not a leaf (retainGrad()). */
  retainsGrad: boolean;
  readonly isLeaf: boolean;
  /** The stamp of its last in-place write (see tape.ts). */
  readonly version: number;
}
