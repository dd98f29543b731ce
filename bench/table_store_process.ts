// What the table store benchmarks (bench/table_store*.bench.ts) share: heavy-headed
// Criteo-shaped data written once as a batch file, and one `dlrm train` process watched from
// outside: its step times (the --log t_ms), peak RSS (VmHWM of /proc/<pid>/status) and the
// bytes it made the disk move (read_bytes / write_bytes of /proc/<pid>/io, polled), and the
// table store's line on stderr.
//
// Glossary: R rows of a table, n samples.

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeBatchFile } from "../src/data/batch_file.ts";
import { offsetsFromLengths } from "../src/data/dataset.ts";
import { Rng } from "../src/tensor/rng.ts";

/**
 * n samples of 13 uniform dense features, labels 1 a quarter of the time, and one id per table:
 * rank floor((R+1)^u) - 1 (log-uniform, Zipf ≈ 1), scattered over the rows by a multiplicative hash.
 */
export function heavyHeadedBatchFile(path: string, tables: readonly number[], n: number): void {
  const rng = new Rng(27);
  const dense = new Float32Array(n * 13);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.uniform();
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) labels[i] = rng.uniform() < 0.25 ? 1 : 0;
  const sparse = tables.map((R) => {
    const lengths = new Int32Array(n).fill(1);
    const indices = new Int32Array(n);
    const mult = 2654435761 % R === 0 ? 40503 : 2654435761; // odd, and coprime with R for these sizes
    for (let i = 0; i < n; i++) {
      const rank = Math.min(R - 1, Math.floor(Math.exp(rng.uniform() * Math.log(R + 1))) - 1);
      indices[i] = Number((BigInt(rank) * BigInt(mult)) % BigInt(R));
    }
    return { lengths, offsets: offsetsFromLengths(lengths), indices, weights: null };
  });
  writeBatchFile(path, { n, denseFeatures: 13, dense, labels, sparse });
}

export interface TrainProcess {
  code: number | null;
  stderr: string;
  wallS: number;
  peakKiB: number;
  /** Bytes the process had the block layer read and write (page-cache hits are not counted). */
  diskReadBytes: number;
  diskWriteBytes: number;
  /** The t_ms of each step's log line (ms since the process started). */
  stepMs: number[];
  /** The loss of each step's log line. */
  losses: number[];
  /** The disk counters as polled: ms since spawn, bytes read and written so far. */
  ioTrace: { ms: number; read: number; write: number }[];
  /** The table store's line, parsed (null without --table-dir, or on ranks). */
  tableStore: Record<string, unknown> | null;
}

/** Run `dlrm train ...args --log log` from root, under the niceness this process has. */
export function trainProcess(root: string, args: readonly string[], log: string): Promise<TrainProcess> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "train", ...args, "--log", log], {
      cwd: root,
    });
    let stderr = "";
    let peakKiB = 0;
    let diskReadBytes = 0;
    let diskWriteBytes = 0;
    const ioTrace: { ms: number; read: number; write: number }[] = [];
    const poll = setInterval(() => {
      try {
        const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m !== null) peakKiB = Math.max(peakKiB, Number(m[1]));
        const io = readFileSync(`/proc/${child.pid}/io`, "utf8");
        diskReadBytes = Number(/^read_bytes:\s+(\d+)/m.exec(io)?.[1] ?? diskReadBytes);
        diskWriteBytes = Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? diskWriteBytes);
        ioTrace.push({ ms: performance.now() - t0, read: diskReadBytes, write: diskWriteBytes });
      } catch {
        // gone
      }
    }, 100);
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", () => undefined);
    child.on("close", (code) => {
      clearInterval(poll);
      const wallS = (performance.now() - t0) / 1000;
      let steps: { t_ms: number; loss: number }[] = [];
      try {
        steps = readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as { t_ms?: number; loss: number })
          .filter((o): o is { t_ms: number; loss: number } => typeof o.t_ms === "number");
      } catch {
        // no log: the run failed before its first step
      }
      const stepMs = steps.map((o) => o.t_ms);
      const losses = steps.map((o) => o.loss);
      const m = /table store: (\{.*\})/.exec(stderr);
      const tableStore = m === null ? null : (JSON.parse(m[1] as string) as Record<string, unknown>);
      done({ code, stderr, wallS, peakKiB, diskReadBytes, diskWriteBytes, stepMs, losses, ioTrace, tableStore });
    });
  });
}

/**
 * The disk bytes read and written between ms a and b since spawn, from the polled counters
 * (the last poll at or before each; polls are 100 ms apart).
 */
export function diskBytesBetween(
  trace: readonly { ms: number; read: number; write: number }[],
  a: number,
  b: number,
): { read: number; write: number } {
  const at = (ms: number): { read: number; write: number } => {
    let last = { read: 0, write: 0 };
    for (const p of trace) if (p.ms <= ms) last = p;
    return last;
  };
  const x = at(a);
  const y = at(b);
  return { read: y.read - x.read, write: y.write - x.write };
}

/** The median gap between consecutive steps after the first `warmup` steps (ms). */
export function medianStepMs(t: readonly number[], warmup: number): number {
  const gaps = t
    .slice(warmup + 1)
    .map((x, i) => x - (t[warmup + i] as number))
    .sort((a, b) => a - b);
  return gaps[gaps.length >> 1] ?? Number.NaN;
}
