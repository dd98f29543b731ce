// When a rank fails, hybrid training stops with an error that names the rank, the step and
// the phase, leaves no thread behind, and leaves what was saved before untouched: a rank
// killed in the middle of a step (it exits, as a crash would), a rank that throws, a rank
// that stalls while its peer waits in a collective (the peer's timeout names it), and a
// lone rank that stalls (the main thread's watchdog names it); and a rank killed while the
// ranks write a checkpoint (the previous one stays, no temporary file is left).
//
// The failures are injected with HybridExecutor's `fault` option. Each run is guarded by a
// generous bound so that a regression fails instead of hanging the suite.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { optimizerSpec } from "../../src/optim/make.ts";
import { HybridExecutor, ParallelError, type HybridOptions } from "../../src/parallel/hybrid.ts";
import type { Fault } from "../../src/parallel/protocol.ts";
import { train } from "../../src/train/trainer.ts";
import { bagsDataset, smallConfig } from "./hybrid_helpers.ts";

const tables = [20, 300, 7];
const config = smallConfig({ tables, E: 3, pooling: "sum", interaction: "dot" });
const data = bagsDataset({
  n: 40,
  denseFeatures: 3,
  tableSizes: tables,
  maxBag: 3,
  weighted: [false, false, false],
  seed: 8,
});

/** OS threads of this process (Linux), or null elsewhere. */
function threadCount(): number | null {
  return existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : null;
}

function options(workers: number, extra: Partial<HybridOptions> = {}): HybridOptions {
  return {
    config,
    workers,
    optimizer: optimizerSpec("adagrad", 0.1),
    source: { kind: "seed", seed: 5 },
    datasets: [data],
    maxBatch: 6,
    ...extra,
  };
}

/** Start the ranks and train `steps` steps of 6 (shuffled); returns the executor, still running. */
async function trained(o: HybridOptions, steps: number): Promise<HybridExecutor> {
  const executor = await HybridExecutor.start(o);
  try {
    await train({ executor, data, batchSize: 6, steps, shuffle: true, seed: 1, lr: 0.1 });
  } catch (e) {
    await executor.close();
    throw e;
  }
  return executor;
}

/** Run `what` to the expected failure (guarded by boundMs) and return the error. */
async function failure(what: () => Promise<unknown>, boundMs: number): Promise<ParallelError> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test: the failed run did not end within ${boundMs} ms`)), boundMs);
  });
  try {
    await Promise.race([what(), guard]);
  } catch (e) {
    if (e instanceof ParallelError) return e;
    // A failed save names its file, and carries the rank's failure as its cause.
    if (e instanceof Error && e.cause instanceof ParallelError) return e.cause;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  throw new Error("test: the run did not fail");
}

/** Steps of a fresh run with this fault; the executor is closed whatever happens. */
async function runWith(workers: number, fault: Fault, timeoutMs: number, steps = 6): Promise<void> {
  const executor = await trained(options(workers, { fault, timeoutMs }), steps);
  await executor.close();
}

/** Train 3 steps on 2 ranks, save to ckpt, and return the file's bytes: what a failed run must leave as it was. */
async function baseline(ckpt: string): Promise<Buffer> {
  const first = await trained(options(2), 3);
  await first.save(ckpt, { steps: "3" });
  await first.close();
  return readFileSync(ckpt);
}

test("a rank killed in the middle of a step: the run rejects naming it, no thread is left, the checkpoint saved before is intact", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-fail-"));
  try {
    const ckpt = join(dir, "ckpt.safetensors");
    const bytes = await baseline(ckpt);

    const threads = threadCount();
    // The ranks' own wait for a peer is a minute: only the exit event can end this run quickly.
    const fault: Fault = { rank: 1, step: 3, phase: "all-to-all forward", action: "exit" };
    const e = await failure(() => runWith(2, fault, 60_000), 20_000);
    assert.match(e.message, /^rank 1 exited with code 7 in step 3, phase "all-to-all forward"$/);
    assert.equal([e.rank, e.step, e.phase], [1, 3, "all-to-all forward"]);
    if (threads !== null) assert.is(threadCount(), threads, "no worker thread left");
    assert.ok(readFileSync(ckpt).equals(bytes), "the checkpoint file is byte for byte what was saved");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a rank killed while it writes its rows of a checkpoint: the save rejects naming it, the previous checkpoint is intact, no temporary file is left", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-fail-"));
  try {
    const ckpt = join(dir, "ckpt.safetensors");
    const bytes = await baseline(ckpt);
    assert.ok(
      readSafetensors(ckpt).tensors.has("optimizer.state.emb_l.1.weight.sum"),
      "the checkpoint holds the optimizer state",
    );

    const threads = threadCount();
    // The save comes after steps 0 … 4: the ranks' step counter is at the last one.
    const fault: Fault = { rank: 1, step: 4, phase: "save", action: "exit" };
    const second = await trained(options(2, { fault, timeoutMs: 60_000 }), 5);
    try {
      const e = await failure(() => second.save(ckpt, { steps: "5" }), 20_000);
      assert.match(e.message, /^rank 1 exited with code 7 in step 4, phase "save"$/);
    } finally {
      await second.close();
    }
    if (threads !== null) assert.is(threadCount(), threads, "no worker thread left");
    assert.ok(readFileSync(ckpt).equals(bytes), "the checkpoint file is byte for byte what was saved before");
    assert.equal(readdirSync(dir), ["ckpt.safetensors"], "no temporary file beside it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a rank that throws: its own message, with rank, step and phase (not the other rank's echo)", async () => {
  const threads = threadCount();
  const fault: Fault = { rank: 0, step: 1, phase: "MLP backward", action: "throw" };
  const e = await failure(() => runWith(2, fault, 60_000), 20_000);
  assert.match(
    e.message,
    /^rank 0 failed in step 1, phase "MLP backward": injected fault in step 1, phase "MLP backward"$/,
  );
  assert.is(e.rank, 0);
  if (threads !== null) assert.is(threadCount(), threads);
});

test("a rank that stalls: its peer's wait times out and the error names the stalled rank and where it was", async () => {
  const threads = threadCount();
  const fault: Fault = { rank: 1, step: 2, phase: "MLP forward", action: "stall", ms: 30_000 };
  const e = await failure(() => runWith(2, fault, 1_000), 20_000);
  assert.match(
    e.message,
    /^rank 1 stopped responding in step 2, phase "MLP forward"; rank 0: all-to-all backward \(step 2\): timed out after 1000 ms waiting for rank 1$/,
  );
  assert.equal([e.rank, e.step, e.phase], [1, 2, "MLP forward"]);
  if (threads !== null) assert.is(threadCount(), threads, "the stalled thread was stopped too");
});

test("a lone rank that stalls: the main thread's watchdog names it", async () => {
  const fault: Fault = { rank: 0, step: 1, phase: "lookup", action: "stall", ms: 30_000 };
  const e = await failure(() => runWith(1, fault, 400), 20_000);
  // No progress for 1.5 × 400 + 1000 ms.
  assert.match(e.message, /^rank 0 in step 1, phase "lookup" made no progress for 1600 ms$/);
  assert.is(e.rank, 0);
});

test.run();
