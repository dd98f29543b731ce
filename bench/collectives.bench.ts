// The cost of the collectives of src/parallel/collectives.ts between real worker threads:
// barrier latency, all-reduce of the Kaggle-shaped DLRM's MLP gradients, and the all-to-all
// of pooled vectors at batch 128 and 2048. This file is both the main program and (in each
// worker) the rank: every rank runs the same loop, rank 0 reports its times.
//
//   node --import tsx bench/collectives.bench.ts [--ranks 2] [--reps 200]
//
// Glossary: N ranks, P floats all-reduced, B batch, F tables, E embedding dim.

import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { Communicator, createCommBuffers, type CommBuffers } from "../src/parallel/collectives.ts";
import { startWorkers } from "../src/parallel/spawn.ts";

// The Kaggle-shaped DLRM: bottom 13-512-256-64-16, top 367-512-256-1 (weights + biases).
const P = 13 * 512 + 512 + 512 * 256 + 256 + 256 * 64 + 64 + 64 * 16 + 16 + 367 * 512 + 512 + 512 * 256 + 256 + 256 + 1;
const F = 26;
const E = 16;

interface Job {
  buffers: CommBuffers;
  rank: number;
  reps: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}

/** One rank: time each collective reps times (after a warm-up), return median µs per call. */
function rank(job: Job): Record<string, number> {
  const comm = new Communicator(job.buffers, job.rank, { timeoutMs: 60_000 });
  const N = comm.size;
  const out: Record<string, number> = {};
  const time = (name: string, fn: () => void): void => {
    for (let i = 0; i < 10; i++) fn();
    const ts: number[] = [];
    for (let i = 0; i < job.reps; i++) {
      comm.barrier("align"); // start together, so the time is the collective's, not the skew
      const t = performance.now();
      fn();
      ts.push(performance.now() - t);
    }
    out[name] = median(ts) * 1000;
  };
  time("barrier", () => comm.barrier("barrier"));
  const grads = new Float32Array(P).fill(1);
  time(`all-reduce of ${P} floats (MLP gradients)`, () => comm.allReduce(grads, "all-reduce"));
  for (const B of [128, 2048]) {
    // Each rank owns F/N tables and sends every other rank its slice of the pooled vectors.
    const own = Math.ceil(F / N);
    const slice = Math.ceil(B / N);
    const counts = Array.from({ length: N }, () => slice * own * E);
    const send = new Float32Array(N * slice * own * E);
    const recv = new Float32Array(N * slice * own * E);
    time(`all-to-all of pooled vectors, batch ${B} (${(send.length * 4) / 1024} KiB out per rank)`, () =>
      comm.allToAll(send, counts, recv, counts, "all-to-all"),
    );
  }
  return out;
}

if (!isMainThread && parentPort !== null) {
  parentPort.postMessage(rank(workerData as Job));
} else {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const N = arg("ranks", 2);
  const reps = arg("reps", 200);
  const buffers = createCommBuffers(N, Math.max(P, 2048 * F * E));
  const group = await startWorkers(N, new URL(import.meta.url), (r) => ({ buffers, rank: r, reps }));
  const times = await new Promise<Record<string, number>>((resolve, reject) => {
    group.workers[0]?.once("message", resolve);
    for (const w of group.workers) w.once("error", reject);
  });
  await group.stop();
  console.log(`collectives between ${N} worker threads, median of ${reps} calls:`);
  for (const [name, us] of Object.entries(times)) console.log(`  ${name.padEnd(70)} ${us.toFixed(1).padStart(9)} µs`);
}
