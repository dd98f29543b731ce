// A streamed batch file through `dlrm train`: 25 steps equal 12 steps saved and `--resume`d to
// 25, bit for bit, on 1 and 2 workers, across epoch boundaries (the stream is reshuffled each
// epoch from (seed, epoch), so the checkpoint records only the step).

import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { readRunState } from "../../src/dlrm/checkpoint.ts";
import { writeBatchFile } from "../../src/data/batch_file.ts";
import { randomDataset } from "../../src/data/random.ts";
import { defaultConfig } from "../../src/dlrm/defaults.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

function sameTensors(got: string, want: string, what: string): void {
  const a = readSafetensors(got).tensors;
  const b = readSafetensors(want).tensors;
  assert.equal([...a.keys()].sort(), [...b.keys()].sort(), `${what}: the same tensors`);
  for (const [name, t] of b) {
    const u = a.get(name);
    assert.ok(
      u !== undefined &&
        Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(
          Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        ),
      `${what}: ${name} differs`,
    );
  }
}

async function ok(args: string[]): Promise<string> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

for (const workers of ["1", "2"]) {
  test(`${workers} worker(s): a streamed file, 25 steps = 12 steps + --resume to 25 (bit for bit)`, async () => {
    const t = tempDir();
    try {
      const c = defaultConfig();
      const data = join(t.dir, "d.safetensors");
      // 200 samples in batches of 20: 10 steps per epoch, so 12 stops inside the second epoch.
      writeBatchFile(
        data,
        randomDataset({
          n: 200,
          denseFeatures: c.dense_features,
          tableSizes: c.table_sizes,
          numIndicesPerLookup: 3,
          numIndicesPerLookupFixed: false,
          seed: 2,
        }),
      );
      const flags = ["--data", data, "--batch-size", "20", "--seed", "5", "--workers", workers];
      const full = join(t.dir, "full.safetensors");
      const half = join(t.dir, "half.safetensors");
      const resumed = join(t.dir, "resumed.safetensors");
      await ok(["train", ...flags, "--steps", "25", "--save", full]);
      await ok(["train", ...flags, "--steps", "12", "--save", half]);
      const run = readRunState(half, readSafetensors(half).metadata);
      assert.is(run?.step, 12);
      assert.is(run?.orderRng, null, "a stream's position is its step");
      await ok(["train", "--resume", half, "--steps", "25", "--workers", workers, "--save", resumed]);
      sameTensors(resumed, full, "resumed");
    } finally {
      t.cleanup();
    }
  });
}

test.run();
