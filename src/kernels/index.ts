// The kernels the ops call: the WebAssembly SIMD kernels (wasm.ts) by default, or the
// TypeScript reference kernels (ref.ts) with DLRM_KERNELS=js. Both have the signatures of
// ref.ts: arrays with element offsets, sizes, scalars.

import * as ref from "./ref.ts";
import { wasmKernels } from "./wasm.ts";

export type Kernels = Pick<
  typeof ref,
  | "sgemm" | "embedding_bag_fwd" | "embedding_bag_bwd" | "sgd_rows" | "rowwise_adagrad_rows" | "adagrad_rows"
  | "dot_interaction_fwd" | "dot_interaction_bwd" | "relu_fwd" | "relu_bwd" | "col_sum" | "relu_bwd_col_sum" | "sgd_dense" | "fill_zero" | "add" | "philox_uniform"
>;

export type KernelSet = "wasm" | "js";

/** The kernel set named by DLRM_KERNELS (unset or empty = wasm); anything else is an error. */
export function kernelSetFromEnv(value: string | undefined): KernelSet {
  if (value === undefined || value === "" || value === "wasm") return "wasm";
  if (value === "js") return "js";
  throw new Error(`DLRM_KERNELS must be "wasm" or "js", got ${JSON.stringify(value)}`);
}

/** The kernel set in use, fixed when this module loads. */
export const kernelSet: KernelSet = kernelSetFromEnv(process.env.DLRM_KERNELS);

const refKernels: Kernels = ref;
const wasm: Kernels = wasmKernels;

export const kernels: Kernels = kernelSet === "js" ? refKernels : wasm;
export { POOL_MEAN, POOL_SUM, type FloatArray } from "./ref.ts";
