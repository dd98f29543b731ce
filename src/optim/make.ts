// One way to build an optimizer, for every caller: the CLI, train(), and each rank of a
// hybrid run (which builds it over its own share: the replicated head and its table shards).
// An OptimizerSpec is the optimizer's kind and hyperparameters as plain data (it crosses to
// worker threads and into checkpoints); per-parameter values travel by state_dict name.
//
// The optimizer state in checkpoints uses PyTorch's vocabulary (torch.optim.Adagrad's "sum";
// the reference's RWSAdagrad: "momentum" (R,) for a table's row-wise accumulators, "sum" for
// a dense parameter's), as tensors named optimizer.state.<parameter>.<key>. Every state
// tensor's first dimension is its parameter's rows, so a rank that owns rows [a, b) of a
// table owns rows [a, b) of its state too.
//
// Glossary: R rows of a table, E row length.

import type { Tensor, FloatArray } from "../tensor/tensor.ts";
import { Adagrad } from "./adagrad.ts";
import type { Optimizer } from "./optimizer.ts";
import { RowWiseAdagrad } from "./rowwise_adagrad.ts";
import { SGD } from "./sgd.ts";

export const OPTIMIZERS = ["sgd", "adagrad", "rowwise-adagrad"] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export type OptimizerSpec =
  | { kind: "sgd"; lr: number }
  /** weightDecay: by parameter name (state_dict names; absent = 0) */
  | { kind: "adagrad"; lr: number; eps: number; initialAccumulator: number; weightDecay: Record<string, number> }
  | { kind: "rowwise-adagrad"; lr: number; eps: number };

/** The spec of a named optimizer with the defaults of torch.optim (eps 1e-10, no accumulator, no decay). */
export function optimizerSpec(
  kind: OptimizerName,
  lr: number,
  o: { initialAccumulator?: number; weightDecay?: Record<string, number> } = {},
): OptimizerSpec {
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
  return new SGD(params, { lr: spec.lr });
}

export type StateKey = "sum" | "momentum";

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
  return [];
}

/** The live state array of parameter i of an optimizer (created at its initial value if the parameter has not stepped yet). */
export function stateArray(opt: Optimizer, i: number, key: StateKey): FloatArray {
  if (opt instanceof Adagrad && key === "sum") return opt.stateArray(i);
  if (opt instanceof RowWiseAdagrad) return opt.stateArray(i, key === "momentum" ? "rows" : "dense");
  throw new Error(`optimizer state: ${opt.constructor.name} keeps no "${key}" state`);
}
