// Flags that were accepted and misread (issue 13 item 10): numbers are decimal only (no
// "0x10", "0b1", " 5 "), and predict refuses --workers past 4 × the cores as train does.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { availableParallelism } from "node:os";
import { runCli } from "../helpers/cli.ts";

test("numbers in hexadecimal, binary, octal or padded with spaces are usage errors; decimal forms are fine", async () => {
  for (const raw of ["0x10", "0b1", "0o7", " 5", "5 ", "1_000", "Infinity"]) {
    const r = await runCli(["train", "--data", "random", "--steps", "1", "--workers", "1", "--lr", raw]);
    assert.is(r.code, 2, `--lr "${raw}": ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^dlrm: train: --lr must be a number, got "${raw.replace(/[+]/g, "\\+")}"\\n$`));
  }
  for (const raw of ["0.5", ".5", "5e-1", "+0.5"]) {
    const r = await runCli([
      "train",
      "--data",
      "random",
      "--data-size",
      "64",
      "--batch-size",
      "32",
      "--steps",
      "1",
      "--workers",
      "1",
      "--lr",
      raw,
    ]);
    assert.is(r.code, 0, `--lr "${raw}": ${r.stderr}`);
  }
});

test("predict --workers past 4 × the cores is refused before any file is read", async () => {
  const n = 4 * availableParallelism() + 1;
  const r = await runCli([
    "predict",
    "--checkpoint",
    "absent.safetensors",
    "--data",
    "absent.safetensors",
    "--out",
    "p.safetensors",
    "--workers",
    String(n),
  ]);
  assert.is(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`^dlrm: predict: --workers ${n} is more than 4 × the ${availableParallelism()} cores`),
  );
});

test.run();
