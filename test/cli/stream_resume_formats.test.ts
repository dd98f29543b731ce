// The MLPerf .bin and TorchRec .npy sources through `dlrm train`, shuffled (the default): N
// steps equal M steps saved and `--resume`d to N, bit for bit, across an epoch boundary (the
// order is a pure function of (seed, epoch), so the checkpoint records only the step); and
// the shuffled run is not the --no-shuffle one.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { readRunState } from "../../src/dlrm/checkpoint.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { runCli, tempDir } from "../helpers/cli.ts";

function tensorsEqual(a: string, b: string): boolean {
  const x = readSafetensors(a).tensors;
  const y = readSafetensors(b).tensors;
  if ([...x.keys()].sort().join() !== [...y.keys()].sort().join()) return false;
  for (const [name, t] of y) {
    const u = x.get(name);
    if (u === undefined) return false;
    const bytes = (d: ArrayBufferView): Buffer => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    if (!bytes(u.data).equals(bytes(t.data))) return false;
  }
  return true;
}

async function ok(args: string[]): Promise<void> {
  const r = await runCli(args);
  assert.is(r.code, 0, `dlrm ${args.join(" ")}: ${r.stderr}`);
}

const cases: { name: string; data: (dir: string) => string; flags: string[]; steps: number; stop: number }[] = [
  {
    // 50 rows in batches of 4: 13 steps per epoch.
    name: "MLPerf .bin",
    data: (dir) => {
      const p = join(dir, "sample.bin"); // no dictionary beside it: tables from the largest ids
      copyFileSync("test/fixtures/mlperf_bin/sample.bin", p);
      return p;
    },
    flags: ["--max-ind-range", "7", "--batch-size", "4"],
    steps: 20,
    stop: 15,
  },
  {
    // Days 0–1 train: 18 rows in batches of 4, 5 steps per epoch.
    name: "TorchRec .npy",
    data: () => "torchrec-npy:test/fixtures/torchrec_npy",
    flags: ["--max-ind-range", "97", "--batch-size", "4"],
    steps: 9,
    stop: 7,
  },
];

for (const c of cases) {
  test(`${c.name}, shuffled: ${c.steps} steps = ${c.stop} steps + --resume to ${c.steps} (bit for bit)`, async () => {
    const t = tempDir();
    try {
      const flags = ["--data", c.data(t.dir), ...c.flags, "--seed", "5", "--workers", "1"];
      const full = join(t.dir, "full.safetensors");
      const part = join(t.dir, "part.safetensors");
      const resumed = join(t.dir, "resumed.safetensors");
      const fileOrder = join(t.dir, "file_order.safetensors");
      await ok(["train", ...flags, "--steps", String(c.steps), "--save", full]);
      await ok(["train", ...flags, "--steps", String(c.stop), "--save", part]);
      const run = readRunState(part, readSafetensors(part).metadata);
      assert.is(run?.step, c.stop);
      assert.is(run?.orderRng, null, "a stream's position is its step");
      await ok(["train", "--resume", part, "--steps", String(c.steps), "--workers", "1", "--save", resumed]);
      assert.ok(tensorsEqual(resumed, full), "the resumed run ends where the whole run does");
      await ok(["train", ...flags, "--steps", String(c.steps), "--no-shuffle", "--save", fileOrder]);
      assert.not.ok(tensorsEqual(fileOrder, full), "shuffled differs from file order");
    } finally {
      t.cleanup();
    }
  });
}

test.run();
