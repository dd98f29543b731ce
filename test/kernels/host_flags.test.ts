// The library leaves its host's V8 flags alone: training a step with the wasm kernels must not
// make the engine accept relaxed SIMD where it did not before (Node 20 accepts it only behind
// --experimental-wasm-relaxed-simd, which only enableRelaxedSimd(), the documented opt-in that
// the `dlrm` command calls, may turn on). Checked in a fresh process, since flags are per process.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const child = fileURLToPath(new URL("./host_flags_child.ts", import.meta.url));
const run = (arg: string): { before: boolean; after: boolean; build: string; buildNow: string } =>
  JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", child, arg], {
      encoding: "utf8",
      env: { ...process.env, DLRM_KERNELS: "wasm", DLRM_RELAXED_SIMD: "" },
    }),
  );

test("using the kernels does not change whether the engine compiles relaxed SIMD", () => {
  const r = run("library");
  assert.is(
    r.after,
    r.before,
    `relaxed SIMD compiled ${r.before ? "" : "not "}before and ${r.after ? "" : "not "}after a training step`,
  );
  assert.is(r.build, r.before ? "relaxed" : "plain");
});

test("enableRelaxedSimd() is the opt-in: afterwards the relaxed build runs", () => {
  const r = run("opt-in");
  assert.ok(r.after, "relaxed SIMD still not compiled after enableRelaxedSimd()");
  assert.is(r.build, "relaxed");
});

test("enableRelaxedSimd() after the kernels ran switches this thread to the relaxed build too", () => {
  // Worker threads started after the opt-in compile the relaxed build; a thread that kept the
  // plain one would round its sums differently from them (1 and 2 workers of one process, as
  // when tests call the CLI in-process, would disagree).
  const r = run("late-opt-in");
  assert.is(r.buildNow, "relaxed");
  assert.is(r.build, r.before ? "relaxed" : "plain");
});

test.run();
