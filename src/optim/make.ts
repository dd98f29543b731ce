// One way to build an optimizer, for every caller: the CLI, train(), and each rank of a
// hybrid run (which builds it over its own share: the replicated head and its table shards).
// An OptimizerSpec is the optimizer's kind and hyperparameters as plain data (it crosses to
// worker threads and into checkpoints); per-parameter values travel by state_dict name.
//
// The optimizer state in checkpoints uses PyTorch's vocabulary (torch.optim.Adagrad's "sum";
// the reference's RWSAdagrad: "momentum" (R,) for a table's row-wise accumulators, "sum" for
// a dense parameter's; torch.optim.Adam's "exp_avg" and "exp_avg_sq" for a dense parameter,
// TorchRec's row-wise Adam "momentum1" (R, E) and "momentum2" (R,) for a table), as tensors
// named optimizer.state.<parameter>.<key>. Adam's step count is not a tensor: it is the run's
// step (the run metadata's), which a resumed run passes back in its spec. Every state
// tensor's first dimension is its parameter's rows, so a rank that owns rows [a, b) of a
// table owns rows [a, b) of its state too.
//
// Glossary: R rows of a table, E row length.

import type { Tensor, FloatArray } from "../tensor/tensor.ts";
import { Adagrad } from "./adagrad.ts";
import { Adam } from "./adam.ts";
import type { Optimizer } from "./optimizer.ts";
import { RowWiseAdagrad } from "./rowwise_adagrad.ts";
import { SGD } from "./sgd.ts";

export const OPTIMIZERS = ["sgd", "adagrad", "rowwise-adagrad", "adam"] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export type OptimizerSpec =
  | { kind: "sgd"; lr: number }
  /** weightDecay: by parameter name (state_dict names; absent = 0) */
  | { kind: "adagrad"; lr: number; eps: number; initialAccumulator: number; weightDecay: Record<string, number> }
  | { kind: "rowwise-adagrad"; lr: number; eps: number }
  /** step: the optimizer steps already taken (a resumed run's step; 0 for a new one), Adam's t before its next step */
  | { kind: "adam"; lr: number; beta1: number; beta2: number; eps: number; step: number };

/**
 * The spec of a named optimizer with the defaults of torch.optim (Adagrad: eps 1e-10, no
 * accumulator, no decay; Adam: betas (0.9, 0.999), eps 1e-8), at step 0.
 */
export function optimizerSpec(
  kind: OptimizerName,
  lr: number,
  o: { initialAccumulator?: number; weightDecay?: Record<string, number> } = {},
): OptimizerSpec {
  if (kind === "adam") return { kind, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0 };
  if (kind === "adagrad")
    return { kind, lr, eps: 1e-10, initialAccumulator: o.initialAccumulator ?? 0, weightDecay: o.weightDecay ?? {} };
  if (kind === "rowwise-adagrad") return { kind, lr, eps: 1e-10 };
  return { kind, lr };
}

/** The optimizer of spec over these parameters, each with its state_dict name (a table shard goes by its table's). */
export function makeOptimizer(spec: OptimizerSpec, named: readonly (readonly [string, Tensor])[]): Optimizer {
  const params = named.map(([, p]) => p);
  if (spec.kind === "adagrad") {
    const weightDecay = named.map(([name]) => spec.weightDecay[name] ?? 0);
    return new Adagrad(params, {
      lr: spec.lr,
      eps: spec.eps,
      initialAccumulator: spec.initialAccumulator,
      weightDecay,
    });
  }
  if (spec.kind === "rowwise-adagrad") return new RowWiseAdagrad(params, { lr: spec.lr, eps: spec.eps });
  if (spec.kind === "adam")
    return new Adam(params, { lr: spec.lr, betas: [spec.beta1, spec.beta2], eps: spec.eps, step: spec.step });
  return new SGD(params, { lr: spec.lr });
}

/**
 * spec for a run that has done `step` steps: Adam's step count (its bias corrections go on
 * from there); the other optimizers count nothing and are returned as they are.
 */
export function specAtStep(spec: OptimizerSpec, step: number): OptimizerSpec {
  return spec.kind === "adam" ? { ...spec, step } : spec;
}

export type StateKey = "sum" | "momentum" | "exp_avg" | "exp_avg_sq" | "momentum1" | "momentum2";

/** Every state key some optimizer keeps (for reading checkpoints' tensor names). */
export const STATE_KEYS: readonly StateKey[] = ["sum", "momentum", "exp_avg", "exp_avg_sq", "momentum1", "momentum2"];

/** The checkpoint name of a parameter's optimizer state tensor. */
export function stateTensorName(param: string, key: StateKey): string {
  return `optimizer.state.${param}.${key}`;
}

export function isStateTensorName(name: string): boolean {
  return name.startsWith("optimizer.state.");
}

/**
 * The state tensors spec keeps for a parameter of full shape `shape`, by key with their full
 * shapes; rowSparse: whether its gradients are row-sparse (an embedding table's).
 */
export function stateTensors(
  spec: OptimizerSpec,
  shape: readonly number[],
  rowSparse: boolean,
): { key: StateKey; shape: number[] }[] {
  if (spec.kind === "adagrad") return [{ key: "sum", shape: [...shape] }];
  if (spec.kind === "rowwise-adagrad")
    // a vector's row-wise accumulators are its element-wise ones (src/optim/rowwise_adagrad.ts): "sum", as the reference's
    return rowSparse && shape.length > 1
      ? [{ key: "momentum", shape: [shape[0]] }]
      : [{ key: "sum", shape: [...shape] }];
  if (spec.kind === "adam")
    // a table (and a learned pooling vector, rows of one element): row-wise second moments
    return rowSparse
      ? [
          { key: "momentum1", shape: [...shape] },
          { key: "momentum2", shape: [shape[0]] },
        ]
      : [
          { key: "exp_avg", shape: [...shape] },
          { key: "exp_avg_sq", shape: [...shape] },
        ];
  return [];
}

/** The live state array of parameter i of an optimizer (created at its initial value if the parameter has not stepped yet). */
export function stateArray(opt: Optimizer, i: number, key: StateKey): FloatArray {
  if (opt instanceof Adagrad && key === "sum") return opt.stateArray(i);
  if (opt instanceof RowWiseAdagrad && (key === "sum" || key === "momentum"))
    return opt.stateArray(i, key === "momentum" ? "rows" : "dense");
  if (opt instanceof Adam && key !== "sum" && key !== "momentum") return opt.stateArray(i, key);
  throw new Error(`optimizer state: ${opt.constructor.name} keeps no "${key}" state`);
}
