// Where tensor storage comes from. One function so that the memory model can change
// (plain typed arrays now; wasm memory for the kernels) without touching the ops.

import type { DType, FloatArray } from "./tensor.ts";

/** A zero-filled float array of n elements. */
export function allocFloat(dtype: DType, n: number): FloatArray {
  return dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
}
