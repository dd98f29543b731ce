// dlrm-ts/testing: helpers for property-testing numerics with fast-check (a peer dependency
// of this entry point only; docs/testing.md). Re-exports only.

export { assertClose, type CloseOptions, type Tolerance } from "./assert_close.ts";
export {
  shapes,
  floats,
  tensors,
  indexBags,
  type ShapeOptions,
  type TensorOptions,
  type BagOptions,
  type IndexBags,
} from "./arbitraries.ts";
export { checkOp, randomValues, assertThrows, type CheckOpSpec, type OpInput } from "./check_op.ts";
export { gradcheck, type GradcheckOptions, type GradcheckResult } from "../autograd/gradcheck.ts";
