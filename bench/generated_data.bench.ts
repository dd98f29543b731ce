// Generated data batch by batch (issue 23, item 3), measured through the command users run:
//
//   node --import tsx bench/generated_data.bench.ts [--seconds 25] [--rounds 1] [--no-in-memory]
//        [--out bench/generated_data_results.json] [--docs]
//   node --import tsx bench/generated_data.bench.ts --from <results.json>   (render a saved run into the docs)
//
// Runs `dlrm train --data synthetic --workers 2 --log steps.jsonl` as a child process in two forms:
//   - endless: `--steps 10000000`, the issue's target (first progress line within 20 s, peak RSS
//     ≤ 1 GiB, Ctrl-C stops it cleanly): nothing is generated ahead of its step;
//   - in memory: `--steps 20000 --data-size 5120000`, the 20000 × 256 samples that `--steps 20000`
//     generated before its first step until now (the issue's 1.25 GiB), for contrast.
// Each run is watched for --seconds after its first progress line, then sent SIGINT. Reported:
// spawn → first progress line on stderr (a line every 100 steps), peak RSS (VmHWM of
// /proc/<pid>/status, sampled every 50 ms; worker threads share the process), samples/s over
// the steps after the first 100 (batch / the median step time from the log's t_ms), SIGINT →
// exit, the exit code and the last stdout line. The machine is shared: the two forms run
// interleaved, and their samples/s are compared as a ratio within the run.
// --docs rewrites this program's section of docs/benchmarks.md (bench/docs_sections.ts).

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { replaceSection } from "./docs_sections.ts";
import { machine } from "./markdown.ts";

export const GENERATED_DATA_SECTION = "generated-data";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1024 * 1024;
const BATCH = 256; // the built-in model's batch size

interface Form {
  name: "endless" | "in memory";
  args: string[];
}

const FORMS: Form[] = [
  { name: "endless", args: ["--steps", "10000000"] },
  { name: "in memory", args: ["--steps", "20000", "--data-size", "5120000"] },
];

interface RunResult {
  form: string;
  round: number;
  command: string;
  firstProgressS: number | null;
  peakRssMiB: number;
  steps: number;
  samplesPerSec: number | null;
  stopS: number | null;
  exitCode: number | null;
  lastLine: string;
  loadAvg: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function vmHwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0; // the process has exited
  }
}

/** batch / the median of the step times after the first 100 steps (t_ms differences). */
function samplesPerSec(log: string): { steps: number; rate: number | null } {
  if (!existsSync(log)) return { steps: 0, rate: null };
  const t = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { t_ms?: number })
    .filter((o) => o.t_ms !== undefined)
    .map((o) => o.t_ms as number);
  const d = t.slice(101).map((x, i) => x - (t[100 + i] as number));
  if (d.length < 10) return { steps: t.length, rate: null };
  d.sort((a, b) => a - b);
  return { steps: t.length, rate: BATCH / ((d[d.length >> 1] as number) / 1000) };
}

function runForm(form: Form, round: number, seconds: number, dir: string): Promise<RunResult> {
  const log = join(dir, `steps-${round}-${form.name.replace(" ", "-")}.jsonl`);
  const args = ["--import", "tsx", "src/cli/main.ts", "train", "--data", "synthetic", "--workers", "2"]
    .concat(form.args)
    .concat(["--log", log]);
  const command = `node ${args.join(" ")}`;
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT });
    let stderr = "";
    let stdout = "";
    let first: number | null = null;
    let sentAt: number | null = null;
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, vmHwmKiB(child.pid as number));
      if (first !== null && sentAt === null && performance.now() - first > seconds * 1000) {
        sentAt = performance.now();
        child.kill("SIGINT");
      }
    }, 50);
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (first === null && stderr.includes("train step")) first = performance.now();
    });
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.on("close", (code) => {
      clearInterval(poll);
      const end = performance.now();
      const { steps, rate } = samplesPerSec(log);
      if (code !== 130 && code !== 0) process.stderr.write(stderr);
      done({
        form: form.name,
        round,
        command,
        firstProgressS: first === null ? null : (first - t0) / 1000,
        peakRssMiB: peak / 1024,
        steps,
        samplesPerSec: rate,
        stopS: sentAt === null ? null : (end - sentAt) / 1000,
        exitCode: code,
        lastLine: stdout.trim().split("\n").at(-1) ?? "",
        loadAvg: loadavg()[0] as number,
      });
    });
  });
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? "—" : x.toFixed(digits);
}

function markdown(o: {
  date: string;
  machine: Record<string, string | number>;
  seconds: number;
  runs: RunResult[];
}): string {
  const best = (name: string): RunResult | undefined =>
    o.runs
      .filter((r) => r.form === name && r.firstProgressS !== null)
      .sort((a, b) => (a.firstProgressS as number) - (b.firstProgressS as number))[0];
  const endless = best("endless");
  const inMemory = best("in memory");
  const ratio =
    endless?.samplesPerSec != null && inMemory?.samplesPerSec != null
      ? (endless.samplesPerSec / inMemory.samplesPerSec).toFixed(2)
      : "—";
  const rows = o.runs.map(
    (r) =>
      `| ${r.form} | ${r.round} | ${fmt(r.firstProgressS)} | ${fmt(r.peakRssMiB, 0)} | ${r.steps} | ${fmt(r.samplesPerSec, 0)} | ${fmt(r.stopS, 2)} | ${r.exitCode} | ${r.loadAvg.toFixed(1)} |`,
  );
  const pass = (ok: boolean): string => (ok ? "met" : "NOT met");
  return `## Generated data, batch by batch (bench/generated_data.bench.ts)

Issue 23's target for generated data, through the command: \`dlrm train --data synthetic --workers 2
--steps 10000000\` (endless: each batch is made when its step asks for it) against
\`--steps 20000 --data-size 5120000\` (in memory: the 20000 × 256 samples that \`--steps 20000\`
generated before its first step until then). Each run is sent SIGINT ${o.seconds} s after its first
progress line. *first progress*: spawn to the first \`train step\` line on stderr (every 100 steps);
*peak RSS*: VmHWM of the process (worker threads included), sampled every 50 ms; *samples/s*:
batch / the median step time after step 100 (from the log's \`t_ms\`); *stop*: SIGINT to exit;
*load*: the 1-minute load average at the end. Written by \`node --import tsx
bench/generated_data.bench.ts --docs\`. **This machine was shared** (see the load column: 2 cores).

- date: ${o.date}
- CPU: ${o.machine.cpu}, ${o.machine.cores} cores; Node ${o.machine.node}

| form | round | first progress (s) | peak RSS (MiB) | steps done | samples/s | stop (s) | exit | load |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Targets (issue 23): first progress line within 20 s: ${endless === undefined ? "—" : `${fmt(endless.firstProgressS)} s, ${pass((endless.firstProgressS as number) <= 20)}`};
peak RSS ≤ 1 GiB: ${endless === undefined ? "—" : `${fmt(endless.peakRssMiB, 0)} MiB, ${pass(endless.peakRssMiB <= 1024)}`};
Ctrl-C stops cleanly: ${endless === undefined ? "—" : `exit ${endless.exitCode}, last line \`${endless.lastLine}\``}.
Samples/s endless / in memory (same run): ${ratio}. With one round of each on a loaded machine
the ratio is a rough one; it says that making each batch on the main thread, a few steps ahead,
does not hold the steps below what they reach from a set in memory (which gathers every
shuffled batch from a ${inMemory === undefined ? "—" : fmt(inMemory.peakRssMiB, 0)} MiB process).

### JSON of this run

\`\`\`json
${JSON.stringify(o, null, 2)}
\`\`\`
`;
}

function writeDocs(result: Parameters<typeof markdown>[0]): void {
  const path = join(ROOT, "docs", "benchmarks.md");
  writeFileSync(path, replaceSection(readFileSync(path, "utf8"), GENERATED_DATA_SECTION, markdown(result)));
}

async function main(): Promise<void> {
  const from = arg("from");
  if (from !== undefined) {
    // Render a saved run (its --out JSON) into the docs without running again.
    writeDocs(JSON.parse(readFileSync(from, "utf8")) as Parameters<typeof markdown>[0]);
    return;
  }
  const seconds = Number(arg("seconds") ?? 25);
  const rounds = Number(arg("rounds") ?? 1);
  const forms = process.argv.includes("--no-in-memory") ? FORMS.slice(0, 1) : FORMS;
  const dir = mkdtempSync(join(tmpdir(), "dlrm-gen-bench-"));
  const runs: RunResult[] = [];
  try {
    for (let round = 1; round <= rounds; round++)
      for (const form of forms) {
        const r = await runForm(form, round, seconds, dir);
        process.stderr.write(`${JSON.stringify(r)}\n`);
        runs.push(r);
      }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const result = { date: new Date().toISOString(), machine: machine(), seconds, runs };
  writeFileSync(
    arg("out") ?? join(ROOT, "bench", "generated_data_results.json"),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  if (process.argv.includes("--docs")) writeDocs(result);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
