// Parity of learned weighted pooling with the reference: test/fixtures/weighted_pooling/learned
// was computed by facebookresearch/dlrm's DLRM_Net itself with weighted_pooling="learned", in
// float64 (test/fixtures/weighted_pooling/make.py; the files as ../shared/golden/README.md
// describes, the pooling weights v_W_l.{t} drawn away from their initial ones). Through the
// CLI, on one worker and on two: batch 0's predictions with the initial parameters, and the
// losses and every parameter (v_W_l.{t} among them) after the case's SGD steps. The case's
// torch.save file (init.pt, a state_dict dict) predicts the same without --model (learned
// weighted pooling read from the v_W_l names) and with the reference's command line. And the fixture can tell: the same tables
// pooled without their weights predict something else.
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { noGrad } from "../../src/autograd/tape.ts";
import { batchOf } from "../../src/data/batch.ts";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { parseConfig } from "../../src/dlrm/config.ts";
import { checkpointConfig } from "../../src/dlrm/infer_config.ts";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { assertClose } from "../../src/testing/index.ts";
import { checkPredictions, checkTraining, cli, caseTensors, GOLDEN_TOL, loadCase } from "../helpers/golden_case.ts";
import { tempDir } from "../helpers/cli.ts";

const DIR = fileURLToPath(new URL("../fixtures/weighted_pooling/learned/", import.meta.url));
const c = loadCase(DIR);

for (const workers of ["1", "2"]) {
  test(`learned weighted pooling: predictions of batch 0 with the initial parameters, --workers ${workers}`, () =>
    checkPredictions(c, ["--workers", workers]));

  test(`learned weighted pooling: losses and weights (v_W_l among them) after ${c.config.steps} SGD steps, --workers ${workers}`, () =>
    checkTraining(c, workers));
}

test("the reference's torch.save state_dict (init.pt) predicts batch 0 without --model: learned pooling from the v_W_l names", async () => {
  const pt = join(DIR, "init.pt");
  assert.is(checkpointConfig(readCheckpointIndex(pt)).weighted_pooling, "learned");
  const { dir, cleanup } = tempDir();
  try {
    const out = join(dir, "pred.safetensors");
    await cli(["predict", "--checkpoint", pt, "--data", join(DIR, "batches.safetensors"), "--out", out]);
    const pred = caseTensors(out).get("pred") as Float32Array;
    assertClose(pred.subarray(0, c.config.batch_size), c.expected.get("pred.0") as Float32Array, GOLDEN_TOL, "pred.0");
    // and with the reference's own command line for that model
    const ref = join(dir, "ref.safetensors");
    await cli([
      "predict",
      "--arch-sparse-feature-size=4",
      "--arch-embedding-size=6-40-9",
      "--arch-mlp-bot=3-5-4",
      "--arch-mlp-top=4-1",
      "--weighted-pooling=learned",
      `--load-model=${pt}`,
      "--data",
      join(DIR, "batches.safetensors"),
      "--out",
      ref,
    ]);
    const refPred = caseTensors(ref).get("pred") as Float32Array;
    assertClose(
      refPred.subarray(0, c.config.batch_size),
      c.expected.get("pred.0") as Float32Array,
      GOLDEN_TOL,
      "pred.0",
    );
  } finally {
    cleanup();
  }
});

test("the fixture tells: without the pooling weights the same parameters predict batch 0 otherwise", () => {
  const { weighted_pooling: _, ...plain } = parseConfig(c.config, "case");
  const m = new DLRM(parseConfig(plain, "case without weighted pooling"), 1);
  const state = new Map(
    [...c.init]
      .filter(([name]) => !name.startsWith("v_W_l."))
      .map(([name, data]) => [name, { shape: [...(m.stateDict().get(name)?.shape ?? [])], data }]),
  );
  m.loadStateDict(state);
  const pred = noGrad(() =>
    m.forward(batchOf(readBatchFile(join(DIR, "batches.safetensors")), 0, c.config.batch_size)),
  );
  const want = c.expected.get("pred.0") as Float32Array;
  const far = Array.from(pred.data).some(
    (p, i) => Math.abs(p - (want[i] as number)) > 1e-4 + 1e-3 * Math.abs(want[i] as number),
  );
  assert.ok(far, `unweighted ${Array.from(pred.data)} vs ${Array.from(want)}`);
});

test.run();
