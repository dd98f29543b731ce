// The feature interaction of DLRM: how the bottom MLP's output and the pooled embeddings
// of one sample meet before the top MLP.
//
//   dot: the bottom vector, then the dot product of every pair of features.
//   cat: all features side by side.
//
// The layout is the reference implementation's (facebookresearch/dlrm, interact_features),
// so that a checkpoint's top MLP reads its inputs in the same order: with T = [bottom,
// emb_0, …, emb_{F-2}], dot outputs bottom followed by <T[i], T[j]> for i = 0..F-1 and
// j = 0..i-1 (j = 0..i with self-interaction), i-major. The reference gets the pairs from
// bmm(T, Tᵀ) and a gather of the lower triangle; here each pair's dot is computed directly,
// which skips the upper triangle and the (B, F, F) intermediate: the kernels
// dot_interaction_fwd/bwd (src/kernels/ref.ts, kernels/interaction.wat) do both passes.
//
// Glossary: B batch, E embedding dim (= bottom MLP output width), F features = tables + 1,
// P pairs = F(F-1)/2, or F(F+1)/2 with self-interaction.

import { gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { kernels } from "../kernels/index.ts";
import { OpError, shapeError } from "../tensor/shape.ts";
import { allocFloatUninit } from "../tensor/storage.ts";
import { Tensor } from "../tensor/tensor.ts";
import { checkRank, checkTensor, commonDType, output } from "./common.ts";

/**
 * out[b] = [bottom[b], <T[i][b], T[j][b]> for i in 0..F-1, j < i (j <= i with self)].
 *
 * bottom (B, E), each emb (B, E) → (B, E + P).
 */
export function dotInteraction(bottom: Tensor, embs: readonly Tensor[], opts: { self?: boolean } = {}): Tensor {
  const op = "dotInteraction";
  const [B, E] = checkFeatures(op, bottom, embs);
  const self = opts.self ?? false;
  const T = [bottom, ...embs]; // F tensors, each (B, E)
  const F = T.length;
  const P = pairCount(F, self);
  const dtype = featureDType(op, bottom, embs);
  const out = new Tensor(allocFloatUninit(dtype, B * (E + P)), [B, E + P]); // (B, E + P), every element written below
  const x = T.map((t) => t.data); // F arrays, each (B, E)
  kernels.dot_interaction_fwd(B, F, E, self, x, out.data, 0); // out[b] = [bottom[b], <x_i[b], x_j[b]> for j < i]

  return record(op, out, T, (dout /* (B, E + P) */) => {
    // d<x_i, x_j>/d x_i = x_j and d<x_i, x_j>/d x_j = x_i (2x on the diagonal with self);
    // d out[b, e] / d bottom[b, e] = 1 for the passed-through part. A tensor may appear in
    // T more than once (the same emb passed twice); gradOf returns its one buffer each
    // time, so the contributions add up.
    const g = T.map((t) => (t.requiresGrad ? gradOf(t) : null)); // F arrays or null, each (B, E)
    kernels.dot_interaction_bwd(B, F, E, self, x, dout, 0, g);
  });
}

/**
 * out[b] = [bottom[b], emb_0[b], …, emb_{F-2}[b]] concatenated.
 *
 * bottom (B, E), each emb (B, E) → (B, E·F).
 */
export function catInteraction(bottom: Tensor, embs: readonly Tensor[]): Tensor {
  const op = "catInteraction";
  const [B, E] = checkFeatures(op, bottom, embs);
  const T = [bottom, ...embs]; // F tensors, each (B, E)
  const F = T.length;
  const W = E * F;
  const out = output([B, W], featureDType(op, bottom, embs)); // (B, E·F)
  const o = out.data;
  for (let k = 0; k < F; k++) {
    const xk = T[k].data; // (B, E)
    for (let b = 0; b < B; b++) {
      for (let e = 0; e < E; e++) o[b * W + k * E + e] = xk[b * E + e];
    }
  }
  return record(op, out, T, (dout /* (B, E·F) */) => {
    for (let k = 0; k < F; k++) {
      const t = T[k];
      if (!t.requiresGrad) continue;
      const gk = gradOf(t); // (B, E)
      // d out[b, k·E + e] / d T[k][b, e] = 1: each feature takes back its slice.
      for (let b = 0; b < B; b++) {
        for (let e = 0; e < E; e++) gk[b * E + e] += dout[b * W + k * E + e];
      }
    }
  });
}

/**
 * The width of the interaction's output (the top MLP's input) for numTables embedding
 * tables of dim E: dot gives E + F(F-1)/2 (E + F(F+1)/2 with self), cat gives E·F, where
 * F = numTables + 1. `self` only matters for dot.
 */
export function interactionWidth(E: number, numTables: number, op: "dot" | "cat", self: boolean): number {
  for (const [name, v] of [
    ["E", E],
    ["numTables", numTables],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new OpError("interactionWidth", `${name} must be a non-negative integer, got ${v}`);
    }
  }
  const F = numTables + 1;
  if (op === "dot") return E + pairCount(F, self);
  if (op === "cat") return E * F;
  throw new OpError("interactionWidth", `op must be "dot" or "cat", got ${JSON.stringify(op)}`);
}

function pairCount(F: number, self: boolean): number {
  return self ? (F * (F + 1)) / 2 : (F * (F - 1)) / 2;
}

/** Checks bottom and every emb are (B, E) with the same B and E; returns [B, E]. */
function checkFeatures(op: string, bottom: Tensor, embs: readonly Tensor[]): [number, number] {
  checkTensor(op, "bottom", bottom);
  checkRank(op, "bottom", bottom, 2);
  if (!Array.isArray(embs)) throw new OpError(op, `embs must be an array of (B, E) tensors, got ${typeof embs}`);
  const [B, E] = bottom.shape as [number, number];
  embs.forEach((t, k) => {
    const name = `embs[${k}]`;
    checkTensor(op, name, t);
    checkRank(op, name, t, 2);
    const [Bk, Ek] = t.shape as [number, number];
    if (Bk !== B)
      throw shapeError(op, `batch sizes differ: bottom has B = ${B}, ${name} has ${Bk}`, { bottom, [name]: t });
    if (Ek !== E)
      throw shapeError(op, `embedding dims differ: bottom has E = ${E}, ${name} has ${Ek}`, { bottom, [name]: t });
  });
  return [B, E];
}

function featureDType(op: string, bottom: Tensor, embs: readonly Tensor[]): Tensor["dtype"] {
  const args: Record<string, Tensor> = { bottom };
  embs.forEach((t, k) => (args[`embs[${k}]`] = t));
  return commonDType(op, args);
}
