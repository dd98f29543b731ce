// test/run.ts itself, run on small selections: the files of the op and training suites run
// a second time with the reference kernels, and tests skipped for want of fixtures are
// counted in the closing line instead of vanishing from it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFile } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;

/** Run `npm test -- filter` (test/run.ts) with extra environment; its whole output. */
function runTests(filter: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "test/run.ts", filter],
      { cwd: root, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        if (err !== null && err.code !== 1) fail(new Error(`test/run.ts ${filter}: ${err.message}\n${stderr}`));
        else done(stdout);
      },
    );
  });
}

test("an op suite runs under both kernel sets, each run counted", async () => {
  const out = await runTests("test/ops/reduce.test.ts");
  const sections = [...out.matchAll(/^── (shard \d+(?:, DLRM_KERNELS=js)?) ──$/gm)].map((m) => m[1]);
  assert.equal(sections.map((s) => s?.endsWith("DLRM_KERNELS=js")).sort(), [false, true], out);
  const totals = [...out.matchAll(/^\s*Total:\s+(\d+)/gm)].map((m) => Number(m[1]));
  assert.is(totals.length, 2);
  assert.is(totals[0], totals[1]);
  assert.ok((totals[0] as number) > 0);
  assert.match(out, new RegExp(`^${2 * (totals[0] as number)} passed, 0 failed$`, "m"));
});

test("without the shared folder the golden suite registers a skipped test, counted in the closing line", async () => {
  const out = await runTests("test/dlrm/golden.test.ts", { DLRM_SHARED: "/nonexistent-dlrm-shared" });
  assert.match(out, /skipped: no golden cases at \/nonexistent-dlrm-shared\/golden\//);
  assert.match(out, /^0 passed, 0 failed, 2 skipped$/m); // once per kernel set
});

test.run();
