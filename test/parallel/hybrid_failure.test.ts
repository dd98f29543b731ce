// When a rank fails, hybrid training stops with an error that names the rank, the step and
// the phase, leaves no thread behind, and leaves what was saved before untouched: a rank
// killed in the middle of a step (it exits, as a crash would), a rank that throws, a rank
// that stalls while its peer waits in a collective (the peer's timeout names it), and a
// lone rank that stalls (the main thread's watchdog names it).
//
// The failures are injected with trainHybrid's `fault` option. Each run is guarded by a
// generous bound so that a regression fails instead of hanging the suite.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../../src/dlrm/checkpoint.ts";
import { DLRM } from "../../src/dlrm/model.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { ParallelError, trainHybrid, type HybridOptions } from "../../src/parallel/hybrid.ts";
import type { Fault } from "../../src/parallel/protocol.ts";
import { Rng } from "../../src/tensor/rng.ts";
import { bagsDataset, smallConfig } from "./hybrid_helpers.ts";

const tables = [20, 300, 7];
const config = smallConfig({ tables, E: 3, pooling: "sum", interaction: "dot" });
const data = bagsDataset({ n: 40, denseFeatures: 3, tableSizes: tables, maxBag: 3, weighted: [false, false, false], seed: 8 });

/** OS threads of this process (Linux), or null elsewhere. */
function threadCount(): number | null {
  return existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : null;
}

function options(model: DLRM, workers: number, extra: Partial<HybridOptions>): HybridOptions {
  return { model, optimizer: new SGD(model.parameters(), { lr: 0.1 }), data, batchSize: 6, steps: 6, shuffle: true, seed: 1, workers, ...extra };
}

/** Run to the expected failure (guarded by boundMs) and return the error. */
async function failure(o: HybridOptions, boundMs: number): Promise<ParallelError> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test: the failed run did not end within ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([trainHybrid(o), guard]);
  } catch (e) {
    if (e instanceof ParallelError) return e;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  throw new Error("test: the run did not fail");
}

test("a rank killed in the middle of a step: the run rejects naming it, no thread is left, the checkpoint saved before is intact", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-fail-"));
  try {
    const model = new DLRM(config, new Rng(5));
    await trainHybrid(options(model, 2, { steps: 3 }));
    const ckpt = join(dir, "ckpt.safetensors");
    saveCheckpoint(ckpt, model, { steps: "3" });
    const bytes = readFileSync(ckpt);
    const before = model.parameters().map((p) => Float32Array.from(p.data));

    const threads = threadCount();
    // The ranks' own wait for a peer is a minute: only the exit event can end this run quickly.
    const fault: Fault = { rank: 1, step: 3, phase: "all-to-all forward", action: "exit" };
    const e = await failure(options(model, 2, { fault, timeoutMs: 60_000 }), 20_000);
    assert.match(e.message, /^rank 1 exited with code 7 in step 3, phase "all-to-all forward"$/);
    assert.equal([e.rank, e.step, e.phase], [1, 3, "all-to-all forward"]);
    if (threads !== null) assert.is(threadCount(), threads, "no worker thread left");

    assert.ok(readFileSync(ckpt).equals(bytes), "the checkpoint file is byte for byte what was saved");
    const reloaded = new DLRM(config, new Rng(99));
    loadCheckpoint(ckpt, reloaded);
    reloaded.parameters().forEach((p, i) => assert.equal(Array.from(p.data), Array.from(before[i] as Float32Array)));
    // The failed run never handed parameters back: the model is as it was saved.
    model.parameters().forEach((p, i) => assert.equal(Array.from(p.data), Array.from(before[i] as Float32Array)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a rank that throws: its own message, with rank, step and phase (not the other rank's echo)", async () => {
  const threads = threadCount();
  const fault: Fault = { rank: 0, step: 1, phase: "MLP backward", action: "throw" };
  const e = await failure(options(new DLRM(config, new Rng(5)), 2, { fault, timeoutMs: 60_000 }), 20_000);
  assert.match(e.message, /^rank 0 failed in step 1, phase "MLP backward": injected fault in step 1, phase "MLP backward"$/);
  assert.is(e.rank, 0);
  if (threads !== null) assert.is(threadCount(), threads);
});

test("a rank that stalls: its peer's wait times out and the error names the stalled rank and where it was", async () => {
  const threads = threadCount();
  const fault: Fault = { rank: 1, step: 2, phase: "MLP forward", action: "stall", ms: 30_000 };
  const e = await failure(options(new DLRM(config, new Rng(5)), 2, { fault, timeoutMs: 1_000 }), 20_000);
  assert.match(e.message, /^rank 1 stopped responding in step 2, phase "MLP forward"; rank 0: all-to-all backward \(step 2\): timed out after 1000 ms waiting for rank 1$/);
  assert.equal([e.rank, e.step, e.phase], [1, 2, "MLP forward"]);
  if (threads !== null) assert.is(threadCount(), threads, "the stalled thread was stopped too");
});

test("a lone rank that stalls: the main thread's watchdog names it", async () => {
  const fault: Fault = { rank: 0, step: 1, phase: "lookup", action: "stall", ms: 30_000 };
  const e = await failure(options(new DLRM(config, new Rng(5)), 1, { fault, timeoutMs: 400 }), 20_000);
  // No progress for 1.5 × 400 + 1000 ms.
  assert.match(e.message, /^rank 0 in step 1, phase "lookup" made no progress for 1600 ms$/);
  assert.is(e.rank, 0);
});

test.run();
