// Criteo sub-sampling as the reference's data_utils.py does it, on a hand-made file: the 7
// days are cut by line first (kaggleDays), then each negative row is dropped as it is read,
// before its categorical values are numbered, every day included; the split then takes the
// rows kept per day. With rate 1 every negative goes, so the whole outcome is computed by
// hand below. `dlrm train --data criteo:<file>` and `dlrm preprocess` + train agree; a
// preprocessed file cannot be sub-sampled again at another rate.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readBatchFile } from "../../src/data/batch_file.ts";
import { lastJson, runCli, tempDir } from "../helpers/cli.ts";

// Line k: label, C1. Days of 2 lines each (14 = 7 × 2).
const LINES: [number, string][] = [
  [0, "10"],
  [1, "20"], // day 0
  [0, "30"],
  [1, "10"], // day 1
  [1, "40"],
  [0, "50"], // day 2
  [0, "60"],
  [1, "20"], // day 3
  [1, "70"],
  [0, "80"], // day 4
  [1, "30"],
  [0, "90"], // day 5
  [1, "a0"],
  [1, "10"], // day 6
];
// Kept: the positives, lines 1, 3, 4, 7, 8, 10, 12, 13 → one row on days 0–5, two on day 6.
// Train = 6 rows, test = the first ⌈2/2⌉ = 1 of day 6. C1 numbered over the kept rows only:
// 20 → 0, 10 → 1, 40 → 2, 70 → 3, 30 → 4, a0 → 5 (50, 60, 80, 90 never seen; 30 is seen
// at line 10 only, after its negative line 2 was dropped), 6 values + the unknown row.
const KEPT_C1_IDS = [0, 1, 2, 0, 3, 4, 5, 1];

function criteoFile(path: string): void {
  const other = Array.from({ length: 25 }, () => "a").join("\t");
  const ints = Array.from({ length: 13 }, () => "1").join("\t");
  writeFileSync(path, LINES.map(([y, c1]) => `${y}\t${ints}\t${c1}\t${other}`).join("\n") + "\n");
}

test("rate 1: rows, days, table sizes and ids as computed by hand, through preprocess and train alike", async () => {
  const t = tempDir();
  try {
    const raw = join(t.dir, "train.txt");
    criteoFile(raw);
    const out = join(t.dir, "x.safetensors");
    const p = await runCli(["preprocess", "criteo", raw, "--out", out, "--data-sub-sample-rate", "1"]);
    assert.is(p.code, 0, p.stderr);
    const summary = lastJson(p.stdout);
    assert.is(summary.rows, 8);
    assert.equal(summary.day_rows, [1, 1, 1, 1, 1, 1, 2]);
    assert.equal((summary.table_sizes as number[]).slice(0, 2), [7, 2]);
    const data = readBatchFile(out);
    assert.equal(Array.from(data.sparse[0]?.indices ?? []), KEPT_C1_IDS);
    assert.ok(data.labels.every((y) => y === 1));

    const steps = ["--steps", "1", "--batch-size", "2", "--workers", "1"];
    for (const source of [[`criteo:${raw}`, "--data-sub-sample-rate", "1"], [out]]) {
      const r = await runCli(["train", "--data", ...source, ...steps]);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, /dlrm train: 6 samples, 26 tables/);
      assert.is(lastJson(r.stdout).n, 1, "one test row");
    }
    const again = await runCli(["train", "--data", out, "--data-sub-sample-rate", "0.5", ...steps]);
    assert.is(again.code, 2);
    assert.match(
      again.stderr,
      /--data-sub-sample-rate 0\.5 differs from the 1 that .*x\.safetensors was preprocessed with/,
    );
  } finally {
    t.cleanup();
  }
});

test.run();
