// The shared test helpers now live in the public entry point dlrm-ts/testing (src/testing/);
// this re-export keeps imports working while they move.
export {
  assertClose,
  checkOp,
  randomValues,
  assertThrows,
  type Tolerance,
  type CheckOpSpec,
  type OpInput,
} from "../../src/testing/index.ts";
