// CPU time of every thread of a running process (Linux: /proc/<pid>/task/<tid>/schedstat,
// ns resolution), sampled while a `dlrm train` child runs: the busiest thread's CPU per
// step ("crit CPU ms", as bench/parallel.bench.ts reports it from the ranks) is what a
// step would cost with no waiting and no other process on the machine, the steadier figure
// on a shared machine. runWithThreadCpu runs one `dlrm train` and measures it so
// (bench/cli_ab.ts, bench/scaling_limit.ts).
//
// Glossary: tid a thread id.

import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { machineBusyMs } from "./cli_train.bench.ts";

/** tid → { name ("main" for the main thread), CPU ms so far } for every thread of pid; empty when the process is gone or elsewhere than Linux. */
export function threadCpu(pid: number): Map<number, { name: string; ms: number }> {
  const out = new Map<number, { name: string; ms: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
      const name = Number(t) === pid ? "main" : readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      out.set(Number(t), { name, ms: ns / 1e6 });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/**
 * Per thread, CPU ms per step between two samples taken `steps` steps apart, busiest first
 * (threads that started after the first sample count from zero).
 */
export function cpuPerStep(
  a: Map<number, { name: string; ms: number }>,
  b: Map<number, { name: string; ms: number }>,
  steps: number,
): { tid: number; name: string; msPerStep: number }[] {
  const rows = [...b].map(([tid, t]) => ({
    tid,
    name: t.name,
    msPerStep: (t.ms - (a.get(tid)?.ms ?? 0)) / steps,
  }));
  return rows.sort((x, y) => y.msPerStep - x.msPerStep);
}

/** Step lines in a --log JSONL so far. */
function loggedSteps(log: string): number {
  if (!existsSync(log)) return 0;
  let n = 0;
  for (const line of readFileSync(log, "utf8").split("\n")) if (line.startsWith('{"step"')) n++;
  return n;
}

/**
 * Run `dlrm train` in dir and sample its threads' CPU time every 100 ms: once the warm-up's
 * steps are logged, and last before the final step. crit CPU: the busiest thread's CPU per
 * step between the two (a rank with 2 workers, the main thread with 1); other cores: the
 * machine's busy CPU minus this process's, over the same wall time.
 */
export function runWithThreadCpu(
  dir: string,
  args: string[],
  log: string,
  warmupSteps: number,
  steps: number,
): Promise<{
  status: number | null;
  stderrTail: string;
  wallS: number;
  critCpuMs: number;
  busiest: string;
  otherCores: number;
}> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const pid = child.pid as number;
  type Sample = { steps: number; at: number; machine: number | null; threads: ReturnType<typeof threadCpu> };
  let first: Sample | null = null;
  let last: Sample | null = null;
  const timer = setInterval(() => {
    const done = loggedSteps(log);
    if (done < warmupSteps || done >= steps) return;
    const s: Sample = { steps: done, at: performance.now(), machine: machineBusyMs(), threads: threadCpu(pid) };
    if (first === null) first = s;
    else last = s;
  }, 100);
  return new Promise((resolve) => {
    child.on("close", (status) => {
      clearInterval(timer);
      const a = first as Sample | null;
      const b = last as Sample | null;
      let critCpuMs = Number.NaN;
      let busiest = "–";
      let otherCores = Number.NaN;
      if (a !== null && b !== null && b.steps > a.steps) {
        const rows = cpuPerStep(a.threads, b.threads, b.steps - a.steps);
        critCpuMs = rows[0]?.msPerStep ?? Number.NaN;
        busiest = rows
          .slice(0, 3)
          .map((r) => `${r.name} ${r.msPerStep.toFixed(2)}`)
          .join(", ");
        const ours = rows.reduce((x, r) => x + r.msPerStep, 0) * (b.steps - a.steps);
        if (a.machine !== null && b.machine !== null)
          otherCores = Math.max(0, (b.machine - a.machine - ours) / (b.at - a.at));
      }
      resolve({
        status,
        stderrTail: stderr.trim().split("\n").slice(-3).join(" | "),
        wallS: (performance.now() - t0) / 1000,
        critCpuMs,
        busiest,
        otherCores,
      });
    });
  });
}
