// Running `dlrm <verb>` from a checkout the way a user does, timed by /usr/bin/time -v, for the
// benchmarks that measure whole commands (bench/stream.bench.ts, bench/kaggle_e2e.ts).

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Timed {
  wallS: number;
  /** User + system CPU time: less swayed than the wall time by other jobs on a shared machine. */
  cpuS: number;
  peakRssMiB: number;
  stdout: string;
}

/** Runs `dlrm <argv>` from checkout `dir` under /usr/bin/time -v; throws with the tail of stderr on failure. */
export function dlrmTimed(dir: string, argv: string[]): Timed {
  const r = spawnSync(
    "/usr/bin/time",
    ["-v", process.execPath, "--import", "tsx", join(dir, "src/cli/main.ts"), ...argv],
    {
      cwd: dir,
      encoding: "utf8",
      maxBuffer: 1 << 28,
    },
  );
  if (r.status !== 0) throw new Error(`dlrm ${argv.join(" ")} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const user = /User time \(seconds\): ([\d.]+)/.exec(r.stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(r.stderr);
  if (rss === null || wall === null || user === null || sys === null)
    throw new Error(`no /usr/bin/time figures in:\n${r.stderr.slice(-2000)}`);
  const wallS = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const cpuS = Math.round((Number(user[1]) + Number(sys[1])) * 100) / 100;
  return { wallS, cpuS, peakRssMiB: Math.round(Number(rss[1]) / 1024), stdout: r.stdout };
}

/** Samples/s of the steps in a `--log` file after the first 10 (compilation and warm-up). */
export function samplesPerSecond(log: string, batch: number): number {
  const t = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step?: number; t_ms?: number })
    .filter((l) => l.t_ms !== undefined)
    .map((l) => l.t_ms as number);
  const from = 10;
  return Math.round(((t.length - 1 - from) * batch) / (((t.at(-1) as number) - (t[from] as number)) / 1000));
}
