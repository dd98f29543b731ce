// Parity of the DCN-v2 interaction with PyTorch: test/fixtures/dcn/dcn_v2 was computed by a
// TorchRec DLRM_DCN written out in plain torch, in float64 (test/fixtures/dcn/make.py; the
// files as ../shared/golden/README.md describes, with the config's "interaction": "dcn").
// Through the CLI, on one worker and on two (the hybrid executor): batch 0's predictions with
// the initial parameters, the gradient of every parameter at the first step, and the losses and
// every parameter after the case's SGD steps. And `dlrm convert` carries the model to
// DLRM_DCN's names as torch's state_dict() gives them, and back.
//
// Tolerance (the golden README's): |ours - expected| <= 1e-4 + 1e-3·|expected|.
// The first-step gradient is recovered from a one-step SGD run, g = (w0 - w1) / lr, as
// test/dlrm/golden.test.ts does.
//
// test/fixtures/dcn/dcn_v2_adam is the same model trained with --optimizer adam as docs/ops.md
// defines it: torch.optim.Adam on the MLPs and cross layers, TorchRec's row-wise Adam
// (FBGEMM's partial_rowwise_adam, written in plain torch) on the tables, 5 steps in which a
// table row is looked up, skipped and looked up again. Through the CLI on one worker and on two:
// the per-step losses, every parameter after the steps and the saved optimizer state
// (exp_avg, exp_avg_sq; the tables' momentum1, momentum2).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertClose } from "../../src/testing/index.ts";
import { tempDir } from "../helpers/cli.ts";
import {
  caseTensors,
  checkFirstStepGradients,
  checkPredictions,
  checkTraining,
  cli,
  GOLDEN_TOL,
  loadCase,
} from "../helpers/golden_case.ts";

const DIR = fileURLToPath(new URL("../fixtures/dcn/dcn_v2/", import.meta.url));
const c = loadCase(DIR);
const adam = loadCase(fileURLToPath(new URL("../fixtures/dcn/dcn_v2_adam/", import.meta.url)));

for (const workers of ["1", "2"]) {
  test(`DCN-v2: predictions of batch 0 with the initial parameters, --workers ${workers}`, () =>
    checkPredictions(c, ["--workers", workers]));

  test(`DCN-v2: first-step gradients of every parameter (from --steps 1), --workers ${workers}`, () => {
    assert.ok(c.init.has("inter_arch.crossnet.W_kernels.1"), "the case has the cross layers' parameters");
    return checkFirstStepGradients(c, workers);
  });

  test(`DCN-v2: per-step losses and final weights after ${c.config.steps} SGD steps, --workers ${workers}`, () =>
    checkTraining(c, workers));
}

for (const workers of ["1", "2"]) {
  test(`DCN-v2 + Adam: per-step losses, final weights and Adam state after ${adam.config.steps} steps, --workers ${workers}`, () => {
    assert.ok(
      adam.expected.has("final.optimizer.state.emb_l.1.weight.momentum2"),
      "the case has the tables' row-wise state",
    );
    return checkTraining(adam, workers);
  });
}

test("DCN-v2: dlrm convert gives torch's DLRM_DCN state_dict names and values, and back", async () => {
  const { dir: tmp, cleanup } = tempDir();
  try {
    const torchrec = join(tmp, "torchrec.safetensors");
    const back = join(tmp, "back.safetensors");
    await cli(["convert", join(DIR, "init.safetensors"), torchrec, "--to", "torchrec"]);
    const want = caseTensors(join(DIR, "init_torchrec.safetensors"));
    const got = caseTensors(torchrec);
    assert.equal([...got.keys()].sort(), [...want.keys()].sort());
    for (const [name, v] of want) assert.equal(Array.from(got.get(name) as Float32Array), Array.from(v), name);
    await cli(["convert", join(DIR, "init_torchrec.safetensors"), back, "--to", "reference"]);
    const ours = caseTensors(back);
    assert.equal([...ours.keys()].sort(), [...c.init.keys()].sort());
    for (const [name, v] of c.init) assert.equal(Array.from(ours.get(name) as Float32Array), Array.from(v), name);
  } finally {
    cleanup();
  }
});

test("DCN-v2: a DLRM_DCN file predicts batch 0 once converted, its model read from its shapes", async () => {
  const { dir: tmp, cleanup } = tempDir();
  try {
    const ours = join(tmp, "ours.safetensors");
    const pred = join(tmp, "pred.safetensors");
    await cli(["convert", join(DIR, "init_torchrec.safetensors"), ours, "--to", "reference"]);
    await cli(["predict", "--checkpoint", ours, "--data", join(DIR, "batches.safetensors"), "--out", pred]);
    const p = caseTensors(pred).get("pred") as Float32Array;
    assertClose(p.subarray(0, c.config.batch_size), c.expected.get("pred.0") as Float32Array, GOLDEN_TOL, "pred.0");
  } finally {
    cleanup();
  }
});

test.run();
