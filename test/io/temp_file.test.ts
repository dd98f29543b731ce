// Stale temporary files: a save removes the `.<name>.<pid>.<random>.tmp` files that dead
// processes left beside the same path (a SIGKILL during a save), and keeps those of live
// processes, of other paths, and files that only look similar.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, tempDir } from "../helpers/cli.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "0"]);
  assert.ok(typeof r.pid === "number" && r.pid > 0);
  return r.pid;
}

test("dlrm train --save and writeSafetensors remove the stale temporaries of dead processes, and only those", async () => {
  const t = tempDir();
  const live = spawn("sleep", ["30"]);
  try {
    const dead = deadPid();
    const ckpt = join(t.dir, "ckpt.safetensors");
    const staleOfCkpt = `.ckpt.safetensors.${dead}.0123456789ab.tmp`;
    const liveOfCkpt = `.ckpt.safetensors.${live.pid}.0123456789ab.tmp`;
    const keep = [
      liveOfCkpt,
      `.other.safetensors.${dead}.0123456789ab.tmp`,
      `.ckpt.safetensors.${dead}.notatemp.tmp`,
      `ckpt.safetensors.${dead}.0123456789ab.tmp`,
    ];
    for (const name of [staleOfCkpt, ...keep]) writeFileSync(join(t.dir, name), "left by a crash");
    const r = await runCli(["train", "--data", "random", "--steps", "1", "--workers", "1", "--save", ckpt]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(readdirSync(t.dir).sort(), ["ckpt.safetensors", ...keep].sort());

    const out = join(t.dir, "p.safetensors");
    const staleOfOut = `.p.safetensors.${dead}.ffffffffffff.tmp`;
    writeFileSync(join(t.dir, staleOfOut), "");
    writeSafetensors(out, { x: { dtype: "F32", shape: [1], data: Float32Array.of(1) } });
    assert.not.ok(readdirSync(t.dir).includes(staleOfOut), "writeSafetensors removed it");
  } finally {
    live.kill();
    t.cleanup();
  }
});

test.run();
