// The kernels the ops call: the WebAssembly SIMD kernels (wasm.ts) by default, or the
// TypeScript reference kernels (ref.ts) with DLRM_KERNELS=js. Both have the signatures of
// ref.ts: arrays with element offsets, sizes, scalars.

import * as ref from "./ref.ts";
import { wasmKernels } from "./wasm.ts";
import { hostEnv } from "./host.ts";

/** The kernels the ops call (the one list is wasmKernels; ref.ts has each with the same signature). */
export type Kernels = typeof wasmKernels;

export type KernelSet = "wasm" | "js";

/** The kernel set named by DLRM_KERNELS (unset or empty = wasm); anything else is an error. */
export function kernelSetFromEnv(value: string | undefined): KernelSet {
  if (value === undefined || value === "" || value === "wasm") return "wasm";
  if (value === "js") return "js";
  throw new Error(`DLRM_KERNELS must be "wasm" or "js", got ${JSON.stringify(value)}`);
}

/** The kernel set in use, fixed when this module loads. */
export const kernelSet: KernelSet = kernelSetFromEnv(hostEnv("DLRM_KERNELS"));

const refKernels: Kernels = ref;
const wasm: Kernels = wasmKernels;

export const kernels: Kernels = kernelSet === "js" ? refKernels : wasm;
export { POOL_MEAN, POOL_SUM, type FloatArray } from "./ref.ts";
