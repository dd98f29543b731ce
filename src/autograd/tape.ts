// The tape of reverse-mode autodiff.
//
// Every op that produces a tensor from inputs that need gradients calls record(): the
// result remembers its inputs and a backward closure. backward() walks the graph from the
// root in reverse topological order (found iteratively, so a graph of any depth works),
// hands each node the gradient of its output, and each closure *adds* (+=) into its
// inputs' gradients (the buffers and their rule: grad.ts). Afterwards the graph is released: nodes drop their inputs and
// closures, and non-leaf gradients are freed, so memory does not grow across steps
// (unless backward is asked to retain the graph, as PyTorch's retain_graph).
//
// Two ways a backward could silently give a wrong gradient are errors instead:
//   released graph  a second backward() through part of a graph an earlier one released
//                   (two losses sharing a subgraph) would stop where the nodes are gone;
//   modified input  an op's backward reads its inputs' (and its output's) values as they
//                   are now: written in place after the op ran, they are not the values the
//                   forward used. Every in-place write through the library stamps the tensor
//                   with the next tick of one clock (Tensor.markModified, PyTorch's
//                   _version); a node remembers the clock when it was recorded, and backward
//                   refuses a node any of whose tensors carries a later stamp. One number per
//                   node, no allocation.

import { formatShape, OpError } from "../tensor/shape.ts";
import type { BackwardOptions, GradTensor, Node } from "../tensor/graph.ts";
import { setAutogradHooks, writeClockNow } from "../tensor/tensor.ts";
import type { FloatArray } from "../tensor/types.ts";
import { addInto, gradOf } from "./grad.ts";

export type { BackwardOptions, GradTensor, Node } from "../tensor/graph.ts";

let gradEnabled = true;

/** Whether ops record the graph now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run fn without recording: results need no gradient and no graph is kept. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attach out to the graph when recording and any input needs a gradient.
 * Returns out so an op can end with `return record(...)`.
 */
export function record<T extends GradTensor>(
  op: string,
  out: T,
  inputs: readonly GradTensor[],
  backward: (gradOut: FloatArray) => void,
): T {
  if (!gradEnabled || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.fromOp = op;
  out.node = { op, inputs, backward, recordedAt: writeClockNow() };
  return out;
}

/**
 * record for a collective op (an all-to-all between ranks): its backward is a collective
 * too, which every rank must run, so it is recorded whenever gradients are, even when no
 * input needs one (a rank that holds no table shard).
 */
export function recordCollective<T extends GradTensor>(
  op: string,
  out: T,
  inputs: readonly GradTensor[],
  backward: (gradOut: FloatArray) => void,
): T {
  if (!gradEnabled) return out;
  out.requiresGrad = true;
  out.fromOp = op;
  out.node = { op, inputs, backward, recordedAt: writeClockNow() };
  return out;
}

/**
 * Compute gradients of root with respect to every leaf that requires them.
 * A non-scalar root needs an explicit upstream gradient of its own size.
 */
export function backward(root: GradTensor, gradient?: GradTensor | FloatArray, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new OpError(
      "backward",
      `the tensor ${formatShape(root.shape)} does not require a gradient (no input of its graph has requiresGrad)`,
    );
  }
  if (root.fromOp !== null && root.node === null) {
    throw new OpError(
      "backward",
      `the graph of this ${root.fromOp} result was already released by an earlier backward()`,
    );
  }
  let seed: ArrayLike<number>;
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new OpError(
        "backward",
        `a non-scalar output needs an explicit gradient — output is ${formatShape(root.shape)}`,
      );
    }
    seed = [1];
  } else {
    seed = gradient instanceof Float32Array || gradient instanceof Float64Array ? gradient : gradient.data;
    if (seed.length !== root.size) {
      throw new OpError(
        "backward",
        `gradient has ${seed.length} elements but the output ${formatShape(root.shape)} has ${root.size}`,
      );
    }
  }

  const order = topologicalOrder(root);
  checkGraph(order);
  // A non-leaf that keeps its gradient across backward calls (retainGrad + retainGraph)
  // must not pass the earlier calls' share on again: it starts from zero, gets it back after.
  const kept = retainedGrads(order);
  const g = gradOf(root);
  for (let i = 0; i < g.length; i++) g[i] += seed[i];

  // Reverse topological order: every consumer of t runs before t itself.
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const node = t.node;
    if (node === null) continue;
    if (t.grad !== null) node.backward(t.grad);
  }

  if (kept !== null) {
    for (const [t, prev] of kept) {
      const now = gradOf(t);
      for (let i = 0; i < now.length; i++) now[i] += prev[i];
    }
  }

  // Release the graph (or only the non-leaf gradients, when it is retained).
  const retain = opts.retainGraph ?? false;
  for (const t of order) {
    if (t.node === null) continue;
    if (!retain) t.node = null;
    if (!t.retainsGrad) t.grad = null;
  }
}

/** Refuse a graph that part of an earlier backward released, or whose values changed since the forward. */
function checkGraph(order: readonly GradTensor[]): void {
  for (const t of order) {
    const node = t.node;
    if (node === null) {
      if (t.isLeaf) continue;
      throw new OpError(
        "backward",
        `the ${t.fromOp} result ${formatShape(t.shape)} in this graph was released by an earlier backward() (two losses sharing a subgraph?); pass { retainGraph: true } to the earlier backward() to run backward through it again`,
      );
    }
    if (t.version > node.recordedAt) {
      throw new OpError(
        "backward",
        `the output ${formatShape(t.shape)} of ${node.op} was modified in place after ${node.op} ran; its backward would use the new values`,
      );
    }
    for (let i = 0; i < node.inputs.length; i++) {
      const x = node.inputs[i];
      if (x.version > node.recordedAt) {
        const what = x.isLeaf ? "a leaf" : `the ${x.fromOp} result`;
        throw new OpError(
          "backward",
          `input ${i} of ${node.op} (${what} ${formatShape(x.shape)}) was modified in place after ${node.op} used it; its backward would use the new values`,
        );
      }
    }
  }
}

/** The gradients non-leaves of order already hold (retainGrad), detached so this call starts from zero; null when none. */
function retainedGrads(order: readonly GradTensor[]): [GradTensor, FloatArray][] | null {
  let kept: [GradTensor, FloatArray][] | null = null;
  for (const t of order) {
    if (t.isLeaf || t.grad === null) continue;
    (kept ??= []).push([t, t.grad]);
    t.grad = null;
  }
  return kept;
}

/** Tensors reachable from root, each after all of its inputs (iterative DFS). */
function topologicalOrder(root: GradTensor): GradTensor[] {
  const order: GradTensor[] = [];
  const seen = new Set<GradTensor>([root]);
  const stack: { t: GradTensor; next: number }[] = [{ t: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { t: GradTensor; next: number };
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++];
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

// Tensor.backward() and Tensor.clone() run these (src/tensor sits below this layer).
setAutogradHooks({
  backward,
  clone: (x, copy) => record("clone", copy, [x], (dout) => addInto(gradOf(x), dout)), // d clone(x)/dx = I
});
