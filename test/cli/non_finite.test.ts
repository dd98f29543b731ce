// Weights that are not finite are refused where a checkpoint is read (src/dlrm/finite.ts via
// readPiece), in both formats (safetensors and .pt) and by every verb that reads one: predict,
// train --init and --resume, convert, export. The error names the file, the tensor, the
// element and the value; before, a NaN in a .pt was read as a safetensors header ("header
// length … absurdly large"), an infinity passed predict silently (every prediction 1.0) and
// train --init blamed the learning rate.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readCheckpointIndex } from "../../src/interop/checkpoint_file.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

/** A small trained checkpoint at path (the format by its extension). */
async function save(path: string): Promise<void> {
  const r = await runCli([
    "train",
    "--data",
    "synthetic",
    "--steps",
    "2",
    "--batch-size",
    "16",
    "--workers",
    "1",
    "--save",
    path,
  ]);
  assert.is(r.code, 0, r.stderr);
}

/** Overwrite element [row, column] of a 2-D F32 tensor of the checkpoint in place. */
function poison(path: string, tensor: string, row: number, column: number, value: number): void {
  const e = readCheckpointIndex(path).entries.get(tensor);
  assert.ok(e !== undefined && e.dtype === "F32" && e.shape.length === 2, `${tensor} in ${path}`);
  const fd = openSync(path, "r+");
  try {
    writeSync(
      fd,
      new Uint8Array(Float32Array.of(value).buffer),
      0,
      4,
      e.begin + 4 * (row * (e.shape[1] as number) + column),
    );
  } finally {
    closeSync(fd);
  }
}

for (const ext of ["safetensors", "pt"]) {
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
    test(`weight ${value} in a .${ext} checkpoint is named (file, tensor, element) by predict, train --init and --resume, convert and export`, async () => {
      const t = tempDir();
      try {
        const bad = join(t.dir, `bad.${ext}`);
        await save(bad);
        poison(bad, "bot_l.0.weight", 1, 2, value);
        const named = new RegExp(
          `^dlrm: .*bad\\.${ext}: tensor "bot_l\\.0\\.weight" holds ${value} at element \\[1, 2\\]: a checkpoint's weights must be finite numbers`,
        );
        const train = ["train", "--data", "synthetic", "--steps", "4", "--batch-size", "16", "--workers", "1"];
        const runs = [
          ["predict", "--checkpoint", bad, "--data", "synthetic", "--out", join(t.dir, "pred.safetensors")],
          [
            "predict",
            "--checkpoint",
            bad,
            "--data",
            "synthetic",
            "--workers",
            "2",
            "--out",
            join(t.dir, "p2.safetensors"),
          ],
          [...train, "--init", bad],
          [...train, "--resume", bad],
          ["convert", bad, join(t.dir, `out.${ext}`), "--to", "torchrec"],
          ["export", "--checkpoint", bad, "--out", join(t.dir, "m.onnx")],
        ];
        for (const args of runs) {
          const r = await runCli(args);
          assert.is(r.code, 1, `dlrm ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
          assert.match(r.stderr.trim().split("\n").pop() as string, named, `dlrm ${args.join(" ")}: ${r.stderr}`);
        }
      } finally {
        t.cleanup();
      }
    });
  }
}

test.run();
