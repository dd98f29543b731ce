// Starting and stopping workers (src/parallel/spawn.ts): the plain-JavaScript path that
// compiled output takes, the tsx path that tests take (collectives.test.ts exercises it
// too), and a stop() that ends threads blocked in Atomics.wait and leaves none behind.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { siblingModule, spawnWorker, startWorkers, workerEntry } from "../../src/parallel/spawn.ts";

// A compiled-style worker: plain ESM JavaScript. It writes 100 + its rank into shared
// memory, wakes the main thread, then blocks in Atomics.wait for up to a minute.
const JS_WORKER = `
import { workerData } from "node:worker_threads";
const a = new Int32Array(workerData.sab);
Atomics.store(a, workerData.rank, 100 + workerData.rank);
Atomics.notify(a, workerData.rank);
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
`;

function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (performance.now() > until) reject(new Error(`test: ${what} not within ${ms} ms`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

test("workerEntry: a .js module is started as is; a .ts module through an eval'd tsx boot line", () => {
  const js = new URL("file:///x/worker.js");
  assert.equal(workerEntry(js, { name: "a" }), { filename: js, options: { name: "a" } });
  const ts = workerEntry(new URL("file:///x/worker.ts"));
  assert.is(ts.options.eval, true);
  assert.match(String(ts.filename), /tsx.*register\(\).*file:\/\/\/x\/worker\.ts/);
  assert.is(siblingModule("worker", "file:///a/b/hybrid.ts").href, "file:///a/b/worker.ts");
  assert.is(siblingModule("worker", "file:///a/dist/hybrid.js").href, "file:///a/dist/worker.js");
});

test("startWorkers (compiled path): N persistent ranks through the pool; stop() ends them inside Atomics.wait", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-spawn-"));
  try {
    const file = join(dir, "rank.mjs");
    writeFileSync(file, JS_WORKER);
    const sab = new SharedArrayBuffer(4 * 3);
    const seen = new Int32Array(sab);
    const group = await startWorkers(3, pathToFileURL(file), (rank) => ({ sab, rank }));
    assert.is(group.workers.length, 3);
    await waitFor(() => [0, 1, 2].every((r) => Atomics.load(seen, r) === 100 + r), 20_000, "every rank wrote its mark");
    const t0 = performance.now();
    const left = await group.stop(5_000);
    assert.equal(left, []);
    assert.ok([0, 1, 2].every((r) => group.exited(r)));
    // Blocked for a minute, yet stopped at once (generous bound; the point is "not 60 s").
    assert.ok(performance.now() - t0 < 5_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("startWorkers: when one rank cannot start, the ones already started are stopped and the error is passed on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dlrm-spawn-"));
  try {
    const file = join(dir, "rank.mjs");
    writeFileSync(file, JS_WORKER);
    const threads = existsSync("/proc/self/task") ? readdirSync("/proc/self/task").length : null;
    const sab = new SharedArrayBuffer(4 * 2);
    // Rank 1's workerData holds a function, which cannot be cloned into a thread.
    const start = startWorkers(2, pathToFileURL(file), (rank) =>
      rank === 1 ? { sab, rank, bad: () => 0 } : { sab, rank },
    );
    try {
      await start;
      assert.unreachable("should reject");
    } catch (e) {
      assert.match(String(e), /could not be cloned/);
    }
    if (threads !== null) assert.is(readdirSync("/proc/self/task").length, threads, "rank 0 was stopped");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("spawnWorker (tsx path): a .ts worker runs and its shared-memory write reaches the main thread", async () => {
  const dir = mkdtempSync(join(new URL("../../", import.meta.url).pathname, ".tmp-spawn-"));
  try {
    // A .ts file inside the package, so that "type": "module" applies to it.
    const file = join(dir, "w.ts");
    writeFileSync(
      file,
      `import { workerData } from "node:worker_threads";\nconst a: Int32Array = new Int32Array(workerData as SharedArrayBuffer);\nAtomics.store(a, 0, 42);\n`,
    );
    const sab = new SharedArrayBuffer(4);
    const w = spawnWorker(pathToFileURL(file), { workerData: sab });
    const code = await new Promise<number>((resolve, reject) => {
      w.once("exit", resolve);
      w.once("error", reject);
    });
    assert.is(code, 0);
    assert.is(Atomics.load(new Int32Array(sab), 0), 42);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
