// Parity of the QR and MD tables with the reference's own modules: each case in
// test/fixtures/tricks was computed by QREmbeddingBag / PrEmbeddingBag / md_solver of
// facebookresearch/dlrm in float64 (test/fixtures/tricks/make.py; the files as
// ../shared/golden/README.md describes). Through the CLI, on one worker and on two: the
// initial checkpoint (the reference's state_dict names) loads, batch 0's predictions match,
// and so do the losses and weights after the case's SGD steps.
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.

import { test } from "uvu";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkPredictions, checkTraining, loadCase } from "../helpers/golden_case.ts";

const FIXTURES = fileURLToPath(new URL("../fixtures/tricks/", import.meta.url));

const cases = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

for (const name of cases) {
  const c = loadCase(join(FIXTURES, name));
  for (const workers of ["1", "2"]) {
    test(`reference tricks ${name}: predictions of batch 0 with the initial parameters, --workers ${workers}`, () =>
      checkPredictions(c, ["--workers", workers]));

    test(`reference tricks ${name}: losses and weights after ${c.config.steps} SGD steps, --workers ${workers}`, () =>
      checkTraining(c, workers));
  }
}

test.run();
