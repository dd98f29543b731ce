// `dlrm train` runs compared as users see them: checkpoints byte for byte, and a run in a child
// process stopped by a signal.

import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readSafetensors } from "../../src/io/safetensors.ts";

/** The tensors of a checkpoint as raw bytes, by name. */
export function tensorBytes(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, t] of readSafetensors(path).tensors)
    out.set(name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return out;
}

export function assertSameTensors(got: string, want: string, what: string): void {
  const a = tensorBytes(got);
  const b = tensorBytes(want);
  assert.equal([...a.keys()].sort(), [...b.keys()].sort(), `${what}: the same tensors`);
  for (const [name, bytes] of b) assert.ok(a.get(name)?.equals(bytes), `${what}: ${name} differs`);
}

/** Run `dlrm train` as a child process; send the signal once its log shows `afterSteps` steps. */
export function interruptedRun(
  args: string[],
  log: string,
  afterSteps: number,
  signal: NodeJS.Signals = "SIGINT",
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const root = new URL("../..", import.meta.url).pathname;
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "train", ...args, "--log", log], {
      cwd: root,
    });
    let stdout = "";
    let stderr = "";
    let sent = false;
    const poll = setInterval(() => {
      let lines = 0;
      try {
        lines = readFileSync(log, "utf8").split("\n").length - 1;
      } catch {
        // not yet created
      }
      if (!sent && lines >= afterSteps) {
        sent = true;
        child.kill(signal);
      }
    }, 20);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => {
      clearInterval(poll);
      done({ code, stdout, stderr });
    });
  });
}
