// The training accuracy of each step in `dlrm train --log` (the paper's training-accuracy
// curves): the batch's share of predictions on the right side of 0.5, counted from the
// predictions the loss was computed from, i.e. with the weights before the step's update.
// Recomputed here from `dlrm predict` on the same samples with the weights before each step:
// the initial ones for step 0, those saved after one step for step 1, counted inline
// (p > 0.5 as a click, the evaluation's and the reference's round(p) == y).
//
// The model is the DCN-v2 fixture's (test/fixtures/dcn/dcn_v2_adam: its config and initial
// weights, --optimizer adam at lr 0.05), the data 2 batches of 64 random samples written by
// writeBatchFile, in file order (--no-shuffle). The check can tell a count taken after the
// update from one taken before it: batch 1's accuracy differs between the initial and the
// one-step weights (asserted). On 1 worker, on 2 (the ranks sum their slices' counts) and
// with the tables on disk (--table-dir, DiskExecutor), and the runs log the same accuracies
// (their predictions differ by float rounding at most, none of them within that of 0.5).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { tempDir } from "../helpers/cli.ts";
import { caseTensors, cli } from "../helpers/golden_case.ts";

const CASE = fileURLToPath(new URL("../fixtures/dcn/dcn_v2_adam/", import.meta.url));
const B = 64;
const config = JSON.parse(readFileSync(join(CASE, "config.json"), "utf8")) as {
  dense_features: number;
  table_sizes: number[];
};
const data = randomDataset({
  n: 2 * B,
  denseFeatures: config.dense_features,
  tableSizes: config.table_sizes,
  numIndicesPerLookup: 3,
  numIndicesPerLookupFixed: false,
  seed: 11,
});

/** The share of samples [from, from + B) whose prediction is on the label's side of 0.5. */
function batchAccuracy(pred: Float32Array, from: number): number {
  let right = 0;
  for (let i = from; i < from + B; i++) if ((pred[i] > 0.5 ? 1 : 0) === data.labels[i]) right++;
  return right / B;
}

interface StepLine {
  step: number;
  loss: number;
  accuracy: number;
}

function stepLines(log: string): StepLine[] {
  return readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as StepLine & { event?: string })
    .filter((o) => o.event === undefined);
}

test("each step's logged accuracy = dlrm predict's accuracy of its batch with the weights before the step, on 1 and 2 workers and with --table-dir", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const batches = join(dir, "batches.safetensors");
    writeBatchFile(batches, data);
    const model = ["--model", join(CASE, "config.json"), "--data", batches];
    const train = [
      ...model,
      ...["--no-shuffle", "--batch-size", String(B), "--init", join(CASE, "init.safetensors")],
      ...["--optimizer", "adam", "--lr", "0.05"],
    ];
    const predict = async (checkpoint: string): Promise<Float32Array> => {
      const out = join(dir, "pred.safetensors");
      await cli(["predict", ...model, "--checkpoint", checkpoint, "--out", out]);
      return caseTensors(out).get("pred") as Float32Array;
    };
    const initial = await predict(join(CASE, "init.safetensors"));
    const logged: number[][] = [];
    const runs = {
      "--workers 1": ["--workers", "1"],
      "--workers 2": ["--workers", "2"],
      "--table-dir": ["--workers", "1", "--table-dir", dir], // the tables' files go beside the others
    };
    for (const [name, flags] of Object.entries(runs)) {
      const one = join(dir, `one-${logged.length}.safetensors`);
      const log = join(dir, `log-${logged.length}.jsonl`);
      await cli(["train", ...train, ...flags, "--steps", "1", "--save", one]);
      await cli(["train", ...train, ...flags, "--steps", "2", "--log", log]);
      const afterOne = await predict(one);
      assert.is.not(
        batchAccuracy(afterOne, B),
        batchAccuracy(initial, B),
        "the first update changes batch 1's accuracy",
      );
      const lines = stepLines(log);
      assert.equal(
        lines.map((l) => l.step),
        [0, 1],
      );
      assert.is(lines[0]?.accuracy, batchAccuracy(initial, 0), `${name}: step 0`);
      assert.is(lines[1]?.accuracy, batchAccuracy(afterOne, B), `${name}: step 1`);
      logged.push(lines.map((l) => l.accuracy));
    }
    assert.equal(logged[1], logged[0], "1 and 2 workers log the same accuracies");
    assert.equal(logged[2], logged[0], "--table-dir logs the in-memory run's accuracies");
  } finally {
    cleanup();
  }
});

test.run();
