// `npm test`: the type check and every uvu suite, sharded over the cores, ending with the
// plain line `N passed, M failed` and a non-zero exit code when anything failed.
//
//   npm test                 everything
//   npm test -- embedding    only test files whose path contains "embedding"
//
// The type check and the formatter's check count as one test each. Shards run their files in one process each; files
// are dealt to shards by size so that the shards finish at about the same time. The files
// in ALSO_UNDER_JS run a second time with DLRM_KERNELS=js (the shard's second process):
// the TypeScript twins of the kernels on the op and training paths, and the step arena's
// plain-buffer path, which the default run (wasm kernels) never takes. A test a file
// skips (test.skip: absent fixtures) is counted in the closing line. A shard
// still running after DLRM_TEST_TIMEOUT_S seconds (default 600) is killed and counted as a
// failure, with its files and its output so far: a hanging test must not hang the run.

import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function listTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out.sort();
}

interface Result {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  output: string;
}

const timeoutSeconds = Number(process.env.DLRM_TEST_TIMEOUT_S ?? 600);

/** Path prefixes of the test files that also run with the reference kernels (DLRM_KERNELS=js). */
const ALSO_UNDER_JS = [
  "test/ops/",
  "test/optim/",
  "test/autograd.test.ts",
  "test/tensor.test.ts",
  "test/kernels/step_arena.test.ts",
  "test/interop/quantized/",
  "test/kernels/memory.test.ts",
  "test/dlrm/golden.test.ts",
  "test/parallel/hybrid.test.ts",
];

function runProcess(
  name: string,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: "0", ...env } });
    let output = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutSeconds * 1000);
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", (e) => done({ code: 1, output: `${name}: ${e.message}` }));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut)
        output += `\n${name}: killed after ${timeoutSeconds} s (DLRM_TEST_TIMEOUT_S); it ran ${args.filter((a) => a.endsWith(".test.ts")).join(" ")}\n`;
      done({ code: timedOut ? 1 : (code ?? 1), output });
    });
  });
}

async function typecheck(): Promise<Result> {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const { code, output } = await runProcess("tsc", process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"]);
  return { name: "tsc --noEmit", passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0, output };
}

/** The formatter's check (prettier, .prettierrc.json): one test, failing on any file it would change. */
async function formatCheck(): Promise<Result> {
  const prettier = join(root, "node_modules", "prettier", "bin", "prettier.cjs");
  const globs = ["src/**/*.ts", "test/**/*.ts", "bench/**/*.ts", "kernels/**/*.ts", "bin/dlrm.js"];
  const { code, output } = await runProcess("prettier", process.execPath, [prettier, "--check", ...globs]);
  return {
    name: "prettier --check (npm run format fixes it)",
    passed: code === 0 ? 1 : 0,
    failed: code === 0 ? 0 : 1,
    skipped: 0,
    output,
  };
}

async function shard(name: string, files: string[], env: Record<string, string> = {}): Promise<Result> {
  const { code, output } = await runProcess(
    name,
    process.execPath,
    ["--import", "tsx", "test/shard.ts", ...files],
    env,
  );
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const num = (label: string): number | null => {
    const m = new RegExp(`^\\s*${label}:\\s+(\\d+)`, "m").exec(plain);
    return m ? Number(m[1]) : null;
  };
  const total = num("Total");
  const passed = num("Passed");
  const skipped = num("Skipped") ?? 0;
  if (total === null || passed === null) {
    // The shard died before uvu could print its summary: count it as one failure.
    return { name, passed: 0, failed: 1, skipped: 0, output: plain };
  }
  // uvu's Total counts the tests that ran; skipped ones are counted apart.
  let failed = Math.max(0, total - passed);
  if (code !== 0 && failed === 0) failed = 1; // e.g. an exception outside any test
  return { name, passed, failed, skipped, output: plain };
}

const files = listTests(join(root, "test")).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
interface Job {
  file: string;
  js: boolean;
}
const jobs: Job[] = [
  ...files.map((file) => ({ file, js: false })),
  ...files.filter((f) => ALSO_UNDER_JS.some((p) => f.startsWith(p))).map((file) => ({ file, js: true })),
];
const nShards = Math.max(1, Math.min(availableParallelism(), files.length));
const shards: Job[][] = Array.from({ length: nShards }, () => []);
const load = new Array<number>(nShards).fill(0);
for (const job of [...jobs].sort((a, b) => statSync(join(root, b.file)).size - statSync(join(root, a.file)).size)) {
  const k = load.indexOf(Math.min(...load));
  (shards[k] as Job[]).push(job);
  load[k] += statSync(join(root, job.file)).size;
}

/** Shard i: its files with the default kernels, then (in a second process) those under DLRM_KERNELS=js. */
async function runShard(i: number, shardJobs: Job[]): Promise<Result[]> {
  const out: Result[] = [];
  const wasmFiles = shardJobs.filter((j) => !j.js).map((j) => j.file);
  const jsFiles = shardJobs.filter((j) => j.js).map((j) => j.file);
  if (wasmFiles.length > 0) out.push(await shard(`shard ${i}`, wasmFiles));
  if (jsFiles.length > 0) out.push(await shard(`shard ${i}, DLRM_KERNELS=js`, jsFiles, { DLRM_KERNELS: "js" }));
  return out;
}

const started = Date.now();
const results = (
  await Promise.all([
    filters.length === 0 ? Promise.all([typecheck(), formatCheck()]) : Promise.resolve([]),
    ...shards.map((s, i) => runShard(i, s)),
  ])
).flat();
let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of results) {
  process.stdout.write(`\n── ${r.name} ──\n${r.output.trimEnd()}\n`);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
}
console.log(
  `\n${files.length} test files (${jobs.length - files.length} of them also with DLRM_KERNELS=js), ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exitCode = failed > 0 ? 1 : 0;
