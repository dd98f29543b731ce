// The shapes of the autograd graph: a node (the op that made a tensor, its inputs, its
// backward) and what the tape and the gradient buffers need of a tensor. They live beside the
// Tensor, which carries its node, so that src/tensor never imports src/autograd, the layer
// above it; the tape and the gradient buffers see a tensor by this structure (the Tensor class
// in src/tensor/tensor.ts has every member below).

import type { DType, FloatArray, RowSparseGrad } from "./types.ts";

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

export interface BackwardOptions {
  /** Keep the graph (nodes and closures) for another backward() through it; non-leaf gradients are still freed. */
  retainGraph?: boolean;
}

/**
 * What a Tensor's methods need from the autograd layer above (src/autograd/tape.ts), which
 * hands them in when it loads (setAutogradHooks in tensor.ts): so the class keeps PyTorch's
 * `loss.backward()` and `x.clone()` without src/tensor importing upward. PyTorch's ATen does
 * the same with its VariableHooksInterface.
 */
export interface AutogradHooks {
  backward(root: GradTensor, gradient: GradTensor | FloatArray | undefined, opts: BackwardOptions | undefined): void;
  /** A copy of x's data on the tape: the gradient passes through unchanged. */
  clone<T extends GradTensor>(x: T, copy: T): T;
}
