// The kernels the ops call. Today: the TypeScript reference kernels. The WebAssembly
// kernels plug in here (chosen by DLRM_KERNELS=wasm|js) with the same signatures.

import * as ref from "./ref.ts";

export type Kernels = Pick<typeof ref, "sgemm" | "embedding_bag_fwd" | "embedding_bag_bwd" | "sgd_rows" | "rowwise_adagrad_rows" | "adagrad_rows">;

export const kernels: Kernels = ref;
export { POOL_MEAN, POOL_SUM, type FloatArray } from "./ref.ts";
