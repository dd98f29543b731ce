// Parity with PyTorch: every case in ../shared/golden (format in its README) is run through
// the CLI (on one worker and on two, the hybrid-parallel path), and the predictions of batch 0, the first-step gradients, the per-step losses
// and the final weights are compared with what PyTorch computed (test/helpers/golden_case.ts).
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.
// The first-step gradient is recovered from a one-step SGD run: g = (w0 - w1) / lr. That
// subtraction of float32 weights adds at most ~1e-7·|w|/lr of error, far inside 1e-4.

import { test } from "uvu";
import { join } from "node:path";
import { GOLDEN, goldenCases } from "../helpers/golden.ts";
import { checkFirstStepGradients, checkPredictions, checkTraining, loadCase } from "../helpers/golden_case.ts";

for (const name of goldenCases(test, "golden parity")) {
  const c = loadCase(join(GOLDEN, name));

  test(`golden ${name}: predictions of batch 0 with the initial parameters`, () => checkPredictions(c));

  for (const workers of ["1", "2"]) {
    test(`golden ${name}: first-step gradients (from --steps 1), --workers ${workers}`, () =>
      checkFirstStepGradients(c, workers));

    test(`golden ${name}: per-step losses and final weights after ${c.config.steps} steps, --workers ${workers}`, () =>
      checkTraining(c, workers));
  }
}

test.run();
