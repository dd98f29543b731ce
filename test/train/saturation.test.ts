// Issue 24 item 7: a model that starts saturated (a small model with the reference's QR
// initialisation) has not diverged: the run goes on and says why its loss is so high; a run
// that was below the limit and rises above it still stops as diverged.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { SaturationWatch } from "../../src/train/saturation.ts";
import { runCli } from "../helpers/cli.ts";

test("SaturationWatch: saturated from the start is told once and goes on; saturated after a step below is divergence", () => {
  const told: [number, number][] = [];
  const w = new SaturationWatch(15, (step, loss) => told.push([step, loss]));
  assert.is(w.diverged(0, 40), false);
  assert.is(w.diverged(1, 38), false);
  assert.equal(told, [[0, 40]]);
  assert.is(w.diverged(2, 0.7), false);
  assert.is(w.diverged(3, 16), true);
});

test("dlrm train --qr-flag on a small model: starts saturated, says so, and trains to the end", async () => {
  const r = await runCli(
    ["train", "--data", "random", "--qr-flag", "--qr-threshold", "2", "--steps", "3", "--batch-size", "16"].concat([
      "--workers",
      "1",
    ]),
  );
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /dlrm train: step 0: the loss is \d+\.\d+, above 15: the model's predictions start saturated at 0 or 1 \(the reference initialises quotient-remainder tables in \[√\(1\/n\), 1\]/,
  );
  assert.is(JSON.parse(r.stdout.trim().split("\n").at(-1) as string).step, 3);
});

test.run();
