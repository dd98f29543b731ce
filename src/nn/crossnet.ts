// Cross networks: stacks of layers that each multiply the input x_0 elementwise by a function
// of the previous layer's output, so that layer l holds interactions of degree l + 1 between
// the input's coordinates (Wang et al. 2017, DCN; Wang et al. 2021, DCN-v2). Built from the
// library's ops (linear, matmul, mul, add), so their gradients are the ops'.
//
//   LowRankCrossNet (DCN-v2, TorchRec's torchrec/modules/crossnet.py of that name):
//     x_{l+1} = x_0 ⊙ (W_l (V_l x_l) + b_l) + x_l,  W_l (N, r), V_l (r, N), b_l (N,)
//   VectorCrossNet (DCN, TorchRec's of that name; the paper's cross layer):
//     x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l,        w_l (N, 1), b_l (N, 1)
//   (x_0 x_lᵀ w_l in the paper: the (N, N) outer product times w_l, computed as the scalar
//   x_l · w_l times x_0, which never forms the outer product.)
//
// Parameter names and shapes are TorchRec's: W_kernels.{l}, V_kernels.{l}, bias.{l}, and
// kernels.{l}, bias.{l}. With rng null every parameter starts at zero, for the caller to fill
// (DLRM draws them from its counter-based streams, src/dlrm/init.ts).
//
// Glossary: B batch, N input width, r the low rank, L layers.

import { add, mul } from "../ops/elementwise.ts";
import { linear, matmul } from "../ops/matmul.ts";
import { reshape } from "../ops/shape.ts";
import { OpError } from "../tensor/shape.ts";
import { allocResident, toResident } from "../tensor/storage.ts";
import { randn, Tensor } from "../tensor/tensor.ts";
import type { Rng } from "../tensor/rng.ts";
import { Module, ParameterTree } from "./module.ts";

/** TorchRec's initialisation of a kernel (xavier_normal_): N(0, sqrt(2 / (rows + columns))). */
export function xavierStd(shape: readonly [number, number]): number {
  return Math.sqrt(2 / (shape[0] + shape[1]));
}

/** A resident kernel of this shape: xavier-normal from rng, or zeros (rng null). */
function kernel(shape: [number, number], rng: Rng | null): Tensor {
  const n = shape[0] * shape[1];
  if (rng === null) return new Tensor(allocResident(n), shape);
  return new Tensor(toResident(randn(shape, { rng, std: xavierStd(shape) }).data), shape);
}

function checkWidths(op: string, N: number, L: number, r = 1): void {
  for (const [name, v] of [
    ["in_features", N],
    ["num_layers", L],
    ["low_rank", r],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new OpError(op, `${name} must be a positive integer, got ${v}`);
}

function checkInput(op: string, x0: Tensor, N: number): void {
  if (x0.rank !== 2 || x0.shape[1] !== N)
    throw new OpError(op, `input must be (B, ${N}), got (${x0.shape.join(", ")})`);
}

/** LowRankCrossNet's layers as a function of its tensors: x_0 (B, N), W_l (N, r), V_l (r, N), b_l (N,) → x_L (B, N). */
export function lowRankCross(x0: Tensor, W: readonly Tensor[], V: readonly Tensor[], b: readonly Tensor[]): Tensor {
  let x = x0;
  for (let l = 0; l < W.length; l++) {
    const v = linear(x, V[l], null); // x_l V_lᵀ (B, r)
    const w = linear(v, W[l], b[l]); // (x_l V_lᵀ) W_lᵀ + b_l (B, N)
    x = add(mul(x0, w), x); // (B, N)
  }
  return x;
}

/** VectorCrossNet's layers as a function of its tensors: x_0 (B, N), w_l (N, 1), b_l (N, 1) → x_L (B, N). */
export function vectorCross(x0: Tensor, w: readonly Tensor[], b: readonly Tensor[]): Tensor {
  const N = x0.shape[1];
  let x = x0;
  for (let l = 0; l < w.length; l++) {
    const s = matmul(x, w[l]); // x_l · w_l (B, 1)
    x = add(add(mul(x0, s), reshape(b[l], [N])), x); // x_0 (x_l · w_l) + b_l + x_l (B, N)
  }
  return x;
}

export class LowRankCrossNet extends Module {
  readonly W: Tensor[] = []; // L × (N, r)
  readonly V: Tensor[] = []; // L × (r, N)
  readonly b: Tensor[] = []; // L × (N,)
  readonly inFeatures: number;

  constructor(inFeatures: number, numLayers: number, lowRank: number, rng: Rng | null) {
    super();
    checkWidths("LowRankCrossNet", inFeatures, numLayers, lowRank);
    this.inFeatures = inFeatures;
    const [W, V, b] = ["W_kernels", "V_kernels", "bias"].map((n) => this.registerModule(n, new ParameterTree()));
    for (let l = 0; l < numLayers; l++) {
      this.W.push(W.add(String(l), kernel([inFeatures, lowRank], rng)));
      this.V.push(V.add(String(l), kernel([lowRank, inFeatures], rng)));
      this.b.push(b.add(String(l), new Tensor(allocResident(inFeatures), [inFeatures])));
    }
  }

  /** x_0 (B, N) → x_L (B, N). */
  forward(x0: Tensor): Tensor {
    checkInput("LowRankCrossNet", x0, this.inFeatures);
    return lowRankCross(x0, this.W, this.V, this.b);
  }
}

export class VectorCrossNet extends Module {
  readonly w: Tensor[] = []; // L × (N, 1)
  readonly b: Tensor[] = []; // L × (N, 1)
  readonly inFeatures: number;

  constructor(inFeatures: number, numLayers: number, rng: Rng | null) {
    super();
    checkWidths("VectorCrossNet", inFeatures, numLayers);
    this.inFeatures = inFeatures;
    const [w, b] = ["kernels", "bias"].map((n) => this.registerModule(n, new ParameterTree()));
    for (let l = 0; l < numLayers; l++) {
      this.w.push(w.add(String(l), kernel([inFeatures, 1], rng)));
      this.b.push(b.add(String(l), new Tensor(allocResident(inFeatures), [inFeatures, 1])));
    }
  }

  /** x_0 (B, N) → x_L (B, N). */
  forward(x0: Tensor): Tensor {
    checkInput("VectorCrossNet", x0, this.inFeatures);
    return vectorCross(x0, this.w, this.b);
  }
}
