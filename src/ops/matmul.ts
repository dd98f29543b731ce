// Linear algebra: matmul (2-D, or batched 3-D, with transpose flags) and linear
// (x · Wᵀ + b in PyTorch's layout). Every product, forward and backward, is one call of
// the GEMM kernel kernels.sgemm (C = α·op(A)·op(B) + β·C, see src/kernels/ref.ts): a
// transposed operand is a flag to the kernel, never a copy, and the backward passes β = 1
// so that the kernel adds straight into the gradient buffers (gradients accumulate), or
// β = 0 into a buffer gradForWrite made fresh (the fresh-write rule: autograd/grad.ts).
// linear's bias is added by the GEMM itself as it stores y (its bias argument), and its
// gradient, the column sums of dy, is the kernel col_sum. linear(…, "relu") is a Linear
// layer and its ReLU as one op, as an MLP uses them: the GEMM applies max(·, 0) as it
// stores y, and the backward masks dy and sums the bias gradient in one pass
// (relu_bwd_col_sum). Against linear then relu it saves two passes over (B, O) and the
// pre-activation buffer; the numbers are the same.
//
// Glossary: M rows of op(a), K the shared (inner) dim, N columns of op(b), where op(a) is
// a, or aᵀ when transA (so a is stored (M, K), or (K, M) when transA), and likewise b is
// stored (K, N), or (N, K) when transB. P batch items of a batched matmul, each one
// independent product. For linear: B batch rows, I input features, O output features.
// lda, ldb are the stored row strides (the stored last dim) that the kernel needs.

import { gradForWrite, gradOf } from "../autograd/grad.ts";
import { record } from "../autograd/tape.ts";
import { kernels } from "../kernels/index.ts";
import { OpError, shapeError } from "../tensor/shape.ts";
import { allocFloatUninit } from "../tensor/storage.ts";
import { Tensor } from "../tensor/tensor.ts";
import { checkRank, checkTensor, commonDType } from "./common.ts";

export interface MatmulOptions {
  /** Multiply by aᵀ: a is stored (K, M). */
  transA?: boolean;
  /** Multiply by bᵀ: b is stored (N, K). */
  transB?: boolean;
}

/**
 * out = op(a) · op(b), where op(t) is t or tᵀ by the flags.
 * 2-D: a (M, K) or (K, M), b (K, N) or (N, K) → (M, N).
 * 3-D: a (P, M, K) or (P, K, M), b (P, K, N) or (P, N, K) → (P, M, N), one product per item.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = "matmul";
  checkTensor(op, "a", a);
  checkTensor(op, "b", b);
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (typeof transA !== "boolean" || typeof transB !== "boolean") {
    throw new OpError(op, `transA and transB must be booleans, got ${String(transA)} and ${String(transB)}`);
  }
  const flags = { transA, transB };
  const dtype = commonDType(op, { a, b });
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) {
    throw shapeError(
      op,
      `needs two 2-D or two 3-D (batched) tensors, got ${a.rank}-D and ${b.rank}-D`,
      { a, b },
      flags,
    );
  }
  const batched = a.rank === 3;
  const P = batched ? a.shape[0] : 1;
  if (batched && b.shape[0] !== P) {
    throw shapeError(op, `batch sizes differ (${P} vs ${b.shape[0]})`, { a, b }, flags);
  }
  const [ar, ac] = a.shape.slice(-2) as [number, number]; // a as stored
  const [br, bc] = b.shape.slice(-2) as [number, number]; // b as stored
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) throw shapeError(op, `inner dims differ (${K} vs ${Kb})`, { a, b }, flags);

  const lda = ac;
  const ldb = bc;
  const sa = ar * ac; // elements per batch item of a
  const sb = br * bc; // … of b
  const sc = M * N; // … of out
  const out = new Tensor(allocFloatUninit(dtype, P * M * N), batched ? [P, M, N] : [M, N]); // (P, M, N) or (M, N), written by β = 0 GEMMs
  const av = a.data;
  const bv = b.data;
  for (let p = 0; p < P; p++) {
    kernels.sgemm(transA, transB, M, N, K, 1, av, p * sa, lda, bv, p * sb, ldb, 0, out.data, p * sc, N); // C = op(a)·op(b)
  }

  return record(op, out, [a, b], (g /* (P, M, N) */) => {
    if (a.requiresGrad) {
      const ga = gradOf(a);
      for (let p = 0; p < P; p++) {
        if (!transA) {
          // d op(a) = dC · op(b)ᵀ (M, K); op(b)ᵀ is b itself when transB, so the flag flips
          kernels.sgemm(false, !transB, M, K, N, 1, g, p * sc, N, bv, p * sb, ldb, 1, ga, p * sa, lda);
        } else {
          // a = op(a)ᵀ ⇒ da = (dC · op(b)ᵀ)ᵀ = op(b) · dCᵀ (K, M)
          kernels.sgemm(transB, true, K, M, N, 1, bv, p * sb, ldb, g, p * sc, N, 1, ga, p * sa, lda);
        }
      }
    }
    if (b.requiresGrad) {
      const gb = gradOf(b);
      for (let p = 0; p < P; p++) {
        if (!transB) {
          // d op(b) = op(a)ᵀ · dC (K, N); op(a)ᵀ is a itself when transA, so the flag flips
          kernels.sgemm(!transA, false, K, N, M, 1, av, p * sa, lda, g, p * sc, N, 1, gb, p * sb, ldb);
        } else {
          // b = op(b)ᵀ ⇒ db = (op(a)ᵀ · dC)ᵀ = dCᵀ · op(a) (N, K)
          kernels.sgemm(true, transA, N, K, M, 1, g, p * sc, N, av, p * sa, lda, 1, gb, p * sb, ldb);
        }
      }
    }
  });
}

/** What linear applies to x · Wᵀ + b: nothing, or a ReLU. */
export type LinearActivation = "none" | "relu";

/**
 * y = x · Wᵀ + b, PyTorch's nn.Linear: weight is (O, I), one row per output; with
 * activation "relu", y = max(x · Wᵀ + b, 0) (nn.Linear then nn.ReLU).
 * x (B, I), weight (O, I), bias (O,) or null → y (B, O).
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null, activation: LinearActivation = "none"): Tensor {
  const op = activation === "relu" ? "linear_relu" : "linear";
  if (activation !== "none" && activation !== "relu") {
    throw new OpError(op, `activation must be "none" or "relu", got ${JSON.stringify(activation)}`);
  }
  checkTensor(op, "x", x);
  checkTensor(op, "weight", weight);
  if (bias !== null) checkTensor(op, "bias", bias);
  const dtype = commonDType(op, bias === null ? { x, weight } : { x, weight, bias });
  checkRank(op, "x", x, 2);
  checkRank(op, "weight", weight, 2);
  const [B, I] = x.shape as [number, number];
  const [O, Iw] = weight.shape as [number, number];
  if (I !== Iw) {
    throw shapeError(op, `x has ${I} features but weight (out, in) takes ${Iw}`, { x, weight });
  }
  if (bias !== null && (bias.rank !== 1 || bias.size !== O)) {
    throw shapeError(op, `bias must be (${O},), one value per output`, { weight, bias });
  }

  const out = new Tensor(allocFloatUninit(dtype, B * O), [B, O]); // (B, O), every element written below
  const y = out.data;
  const xv = x.data;
  const w = weight.data;
  const relu = activation === "relu";
  kernels.sgemm(false, true, B, O, I, 1, xv, 0, I, w, 0, I, 0, y, 0, O, bias === null ? null : bias.data, 0, relu); // y = [max](x·Wᵀ + b, 0)

  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(op, out, inputs, (dy /* (B, O) */) => {
    let g = dy; // (B, O) the gradient at the pre-activation x·Wᵀ + b
    if (relu) {
      // d relu/dz = 1 where z > 0, and z > 0 exactly where y > 0; with a bias to train, its
      // gradient (the column sums of g) comes from the same pass
      g = allocFloatUninit(dtype, B * O);
      if (bias !== null && bias.requiresGrad) kernels.relu_bwd_col_sum(B, O, y, 0, dy, 0, g, 0, gradOf(bias), 0);
      else kernels.relu_bwd(B * O, y, 0, dy, 0, g, 0, false);
    } else if (bias !== null && bias.requiresGrad) {
      kernels.col_sum(B, O, g, 0, gradOf(bias), 0); // y[r] = … + b ⇒ db += Σ_r dy[r] (O,)
    }
    if (x.requiresGrad) {
      const dx = gradForWrite(x); // (B, I)
      kernels.sgemm(false, false, B, I, O, 1, g, 0, O, w, 0, I, dx.fresh ? 0 : 1, dx.g, 0, I); // dx += dy · W
    }
    if (weight.requiresGrad) {
      const dW = gradForWrite(weight); // (O, I)
      kernels.sgemm(true, false, O, I, B, 1, g, 0, O, xv, 0, I, dW.fresh ? 0 : 1, dW.g, 0, I); // dW += dyᵀ · x
    }
  });
}
