// `npm test`: the type check and every uvu suite, sharded over the cores, ending with the
// plain line `N passed, M failed` and a non-zero exit code when anything failed.
//
//   npm test                 everything
//   npm test -- embedding    only test files whose path contains "embedding"
//
// The type check counts as one test. Shards run their files in one process each; files
// are dealt to shards by size so that the shards finish at about the same time. A shard
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

function runProcess(name: string, cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, FORCE_COLOR: "0" } });
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
      if (timedOut) output += `\n${name}: killed after ${timeoutSeconds} s (DLRM_TEST_TIMEOUT_S); it ran ${args.filter((a) => a.endsWith(".test.ts")).join(" ")}\n`;
      done({ code: timedOut ? 1 : (code ?? 1), output });
    });
  });
}

async function typecheck(): Promise<Result> {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const { code, output } = await runProcess("tsc", process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"]);
  return { name: "tsc --noEmit", passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0, output };
}

async function shard(i: number, files: string[]): Promise<Result> {
  const { code, output } = await runProcess(`shard ${i}`, process.execPath, ["--import", "tsx", "test/shard.ts", ...files]);
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
    return { name: `shard ${i}`, passed: 0, failed: 1, skipped: 0, output: plain };
  }
  // uvu's Total counts the tests that ran; skipped ones are counted apart.
  let failed = Math.max(0, total - passed);
  if (code !== 0 && failed === 0) failed = 1; // e.g. an exception outside any test
  return { name: `shard ${i}`, passed, failed, skipped, output: plain };
}

const files = listTests(join(root, "test")).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const nShards = Math.max(1, Math.min(availableParallelism(), files.length));
const shards: string[][] = Array.from({ length: nShards }, () => []);
const load = new Array<number>(nShards).fill(0);
for (const f of [...files].sort((a, b) => statSync(join(root, b)).size - statSync(join(root, a)).size)) {
  const k = load.indexOf(Math.min(...load));
  (shards[k] as string[]).push(f);
  load[k] += statSync(join(root, f)).size;
}

const started = Date.now();
const results = await Promise.all([
  filters.length === 0 ? typecheck() : Promise.resolve(null),
  ...shards.map((s, i) => (s.length > 0 ? shard(i, s) : Promise.resolve(null))),
]);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of results) {
  if (r === null) continue;
  process.stdout.write(`\n── ${r.name} ──\n${r.output.trimEnd()}\n`);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
}
console.log(`\n${files.length} test files, ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exitCode = failed > 0 ? 1 : 0;
