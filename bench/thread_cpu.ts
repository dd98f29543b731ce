// CPU time of every thread of a running process (Linux: /proc/<pid>/task/<tid>/schedstat,
// ns resolution), sampled while a `dlrm train` child runs: the busiest thread's CPU per
// step ("crit CPU ms", as bench/parallel.bench.ts reports it from the ranks) is what a
// step would cost with no waiting and no other process on the machine, the steadier figure
// on a shared machine.
//
// Glossary: tid a thread id.

import { readdirSync, readFileSync } from "node:fs";

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
