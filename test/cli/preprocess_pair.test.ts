// dlrm preprocess writes the batch file and its dictionary as a pair: both reach disk under
// temporary names before either is renamed into place (writeSafetensorsTogether), and both
// record one pair id that training checks, so a dictionary beside a batch file it was not
// written with is an error instead of a run on mismatched ids.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensors, writeSafetensorsTogether } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

/** n Criteo lines: label, 13 integers, 26 hex categoricals; `salt` changes the values. */
function criteoText(n: number, salt: number): string {
  const line = (i: number): string =>
    [
      String(i % 2),
      ...Array.from({ length: 13 }, (_, k) => String(k + i)),
      ...Array.from({ length: 26 }, (_, k) => ((k * 7 + i * salt) % 5).toString(16)),
    ].join("\t");
  return `${Array.from({ length: n }, (_, i) => line(i)).join("\n")}\n`;
}

test("the pair shares an id; a dictionary from another run beside the batch file stops training with both names", async () => {
  const t = tempDir();
  try {
    const rawX = join(t.dir, "x.txt");
    const rawY = join(t.dir, "y.txt");
    writeFileSync(rawX, criteoText(28, 3));
    writeFileSync(rawY, criteoText(28, 5));
    const x = join(t.dir, "x.safetensors");
    const y = join(t.dir, "y.safetensors");
    for (const [raw, out] of [
      [rawX, x],
      [rawY, y],
    ] as const) {
      const r = await runCli(["preprocess", "criteo", raw, "--out", out]);
      assert.is(r.code, 0, r.stderr);
    }
    const idX = readSafetensors(x).metadata["pair_id"];
    assert.ok(idX !== undefined && /^[0-9a-f]{16}$/.test(idX), `pair id ${idX}`);
    assert.is(readSafetensors(join(t.dir, "x.dict.safetensors")).metadata["pair_id"], idX);
    assert.is.not(readSafetensors(y).metadata["pair_id"], idX, "each run draws its own id");
    const train = ["train", "--data", x, "--steps", "1", "--batch-size", "4", "--workers", "1"];
    const ok = await runCli(train);
    assert.is(ok.code, 0, ok.stderr);

    copyFileSync(join(t.dir, "y.dict.safetensors"), join(t.dir, "x.dict.safetensors")); // what a crash between the renames could leave
    const bad = await runCli(train);
    assert.is(bad.code, 1);
    assert.match(
      bad.stderr,
      /^dlrm: .*x\.safetensors and its dictionary .*x\.dict\.safetensors were not written together \(pair_id "[0-9a-f]{16}" vs "[0-9a-f]{16}": one was replaced without the other\); run dlrm preprocess again\n$/,
    );
  } finally {
    t.cleanup();
  }
});

test("writeSafetensorsTogether: when the second file cannot be written the first is not replaced either, and no temp file is left", () => {
  const t = tempDir();
  try {
    const first = join(t.dir, "a.safetensors");
    writeFileSync(first, "old");
    const tensors = { v: { dtype: "F32" as const, shape: [1], data: Float32Array.of(1) } };
    assert.throws(
      () =>
        writeSafetensorsTogether([
          { path: first, tensors },
          { path: join(t.dir, "missing", "b.safetensors"), tensors },
        ]),
      /missing\/b\.safetensors: cannot write: ENOENT/,
    );
    assert.is(readFileSync(first, "utf8"), "old");
    assert.equal(readdirSync(t.dir), ["a.safetensors"]);
  } finally {
    t.cleanup();
  }
});

test.run();
