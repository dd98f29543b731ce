// A worker for test/parallel/collectives.test.ts: one rank that runs a scenario of
// collectives (src/parallel/collectives.ts) and posts what it saw to the test.
//
// Glossary: N ranks, r this rank, q a peer.

import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { CollectiveError, Communicator, type CommBuffers } from "../../src/parallel/collectives.ts";
import { Rng } from "../../src/tensor/rng.ts";

export interface ScenarioData {
  buffers: CommBuffers;
  rank: number;
  timeoutMs: number;
  scenario: "allreduce" | "sharded" | "deferred" | "alltoall" | "barrier" | "stall" | "die";
  /** allreduce, sharded, deferred: the vector lengths, one call each. */
  lengths?: number[];
  /** alltoall: iterations. barrier: rounds. */
  iterations?: number;
  /** barrier: Int32 (N,) where each rank writes the round it reached. */
  marks?: SharedArrayBuffer;
  /** deferred: per length, each rank's g, w and v in shared memory (by rank), read in place by the peers
   *  (reduceScatterFrom, deferAllGather with the peers' arrays); absent: exchanged by copies. */
  direct?: { g: SharedArrayBuffer[]; w: SharedArrayBuffer[]; v: SharedArrayBuffer[] }[];
  /** stall / die: the rank that misbehaves. */
  badRank?: number;
  seed: number;
}

/** Rank r's input to the allreduce of length n: float32 values in [-1, 1). Shared with the test. */
export function allReduceInput(seed: number, r: number, n: number): Float32Array {
  const rng = new Rng(seed * 7919 + r * 104729 + n);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.uniformIn(-1, 1);
  return x;
}

/**
 * The sharded update of a vector of n (scenario "sharded"): parameters w (n,) in two arrays
 * [0, n/3) and [n/3, n) and a state v (n,) alike, updated from the summed g where a rank owns
 * it: v = v/2 + g, w -= v/4 (float32). Shared with the test, which applies it whole.
 */
export function shardedStart(seed: number, n: number): { w: Float32Array; v: Float32Array } {
  return { w: allReduceInput(seed + 1, 99, n), v: allReduceInput(seed + 2, 99, n) };
}

export function shardedUpdate(g: Float32Array, w: Float32Array, v: Float32Array, lo: number, hi: number): void {
  for (let j = lo; j < hi; j++) {
    v[j] = v[j] / 2 + g[j];
    w[j] -= v[j] / 4;
  }
}

/** How many floats rank `from` sends to rank `to` in all-to-all iteration it (0 is allowed). Shared with the test. */
export function allToAllCount(it: number, from: number, to: number): number {
  return (from * 3 + to * 5 + it * 7) % 6;
}

/** The k-th float rank `from` sends to rank `to` in iteration it; exact in float32. Shared with the test. */
export function allToAllValue(it: number, from: number, to: number, k: number): number {
  return it * 100000 + from * 1000 + to * 10 + k;
}

/** The rank's scenario; runs only inside a worker (the test imports the helpers above). */
function run(port: MessagePort, d: ScenarioData): void {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const rng = new Rng(d.seed * 31 + d.rank);
  /** Sleep up to maxMs, so ranks reach each collective at different times. */
  const jitter = (maxMs: number): void => {
    Atomics.wait(sleeper, 0, 0, rng.uniform() * maxMs);
  };

  try {
    const comm = new Communicator(d.buffers, d.rank, { timeoutMs: d.timeoutMs });
    const N = comm.size;
    if (d.scenario === "allreduce") {
      const results: Float32Array[] = [];
      for (const n of d.lengths ?? []) {
        const x = allReduceInput(d.seed, d.rank, n);
        jitter(3);
        comm.allReduce(x, `all-reduce of ${n}`);
        results.push(x);
      }
      port.postMessage({ rank: d.rank, ok: true, results });
    } else if (d.scenario === "sharded") {
      const results: Float32Array[] = [];
      for (const n of d.lengths ?? []) {
        const g = allReduceInput(d.seed, d.rank, n);
        const { w, v } = shardedStart(d.seed, n);
        const k = Math.floor(n / 3);
        jitter(3);
        const [lo, hi] = comm.reduceScatter(g, `reduce-scatter of ${n}`);
        shardedUpdate(g, w, v, lo, hi);
        jitter(3);
        comm.allGather(
          [
            [w.subarray(0, k), w.subarray(k)],
            [v.subarray(0, k), v.subarray(k)],
          ],
          `all-gather of 2 × ${n}`,
        );
        results.push(w, v);
      }
      port.postMessage({ rank: d.rank, ok: true, results });
    } else if (d.scenario === "deferred") {
      // "sharded" with the all-gather deferred: taken along by the all-to-all of the next
      // iteration (even ones) or flushed (odd ones); the all-to-all's own data still arrives.
      const results: Float32Array[] = [];
      (d.lengths ?? []).forEach((n, it) => {
        const shared = d.direct?.[it];
        const own = (bufs: SharedArrayBuffer[] | undefined, x: Float32Array): Float32Array => {
          if (bufs === undefined) return x;
          const y = new Float32Array(bufs[d.rank] as SharedArrayBuffer);
          y.set(x);
          return y;
        };
        const g = own(shared?.g, allReduceInput(d.seed, d.rank, n));
        const start = shardedStart(d.seed, n);
        const w = own(shared?.w, start.w);
        const v = own(shared?.v, start.v);
        const k = Math.floor(n / 3);
        const cut = (x: Float32Array): Float32Array[] => [x.subarray(0, k), x.subarray(k)];
        jitter(3);
        const phase = `reduce-scatter of ${n}`;
        const [lo, hi] =
          shared === undefined
            ? comm.reduceScatter(g, phase)
            : comm.reduceScatterFrom(
                g,
                shared.g.map((b) => new Float32Array(b)),
                phase,
              );
        shardedUpdate(g, w, v, lo, hi);
        // the peers' w and v as this thread views them, cut unlike this rank's (one array each)
        const peers = shared?.w.map((b, q) => [
          [new Float32Array(b)],
          [new Float32Array(shared.v[q] as SharedArrayBuffer)],
        ]);
        comm.deferAllGather([cut(w), cut(v)], `all-gather of 2 × ${n}`, peers);
        if (N > 1 && !comm.gatherDeferred) throw new Error("the all-gather was not deferred");
        jitter(3);
        if (it % 2 === 1) comm.flushAllGather("flush");
        else {
          const counts = Array.from({ length: N }, (_, q) => allToAllCount(it, d.rank, q));
          const recvCounts = Array.from({ length: N }, (_, q) => allToAllCount(it, q, d.rank));
          const send = new Float32Array(counts.reduce((a, b) => a + b, 0));
          let at = 0;
          for (let q = 0; q < N; q++) for (let j = 0; j < counts[q]; j++) send[at++] = allToAllValue(it, d.rank, q, j);
          const recv = new Float32Array(recvCounts.reduce((a, b) => a + b, 0));
          comm.allToAll(send, counts, recv, recvCounts, `all-to-all ${it}`);
          results.push(recv);
        }
        if (comm.gatherDeferred) throw new Error("the all-gather is still deferred");
        results.push(Float32Array.from(w), Float32Array.from(v));
      });
      port.postMessage({ rank: d.rank, ok: true, results });
    } else if (d.scenario === "alltoall") {
      const results: Float32Array[] = [];
      for (let it = 0; it < (d.iterations ?? 1); it++) {
        const sendCounts = Array.from({ length: N }, (_, q) => allToAllCount(it, d.rank, q));
        const recvCounts = Array.from({ length: N }, (_, q) => allToAllCount(it, q, d.rank));
        const send = new Float32Array(sendCounts.reduce((a, b) => a + b, 0));
        let at = 0;
        for (let q = 0; q < N; q++)
          for (let k = 0; k < (sendCounts[q] as number); k++) send[at++] = allToAllValue(it, d.rank, q, k);
        const recv = new Float32Array(recvCounts.reduce((a, b) => a + b, 0));
        jitter(2);
        comm.allToAll(send, sendCounts, recv, recvCounts, `all-to-all ${it}`);
        results.push(recv);
      }
      port.postMessage({ rank: d.rank, ok: true, results });
    } else if (d.scenario === "barrier") {
      const marks = new Int32Array(d.marks as SharedArrayBuffer);
      const violations: string[] = [];
      for (let k = 1; k <= (d.iterations ?? 1); k++) {
        jitter(2);
        Atomics.store(marks, d.rank, k);
        comm.barrier(`barrier ${k}`);
        // Every rank stored k before this barrier; none can be past the next one.
        for (let q = 0; q < N; q++) {
          const m = Atomics.load(marks, q);
          if (m < k || m > k + 1) violations.push(`after barrier ${k}, rank ${q} is at ${m}`);
        }
      }
      port.postMessage({ rank: d.rank, ok: true, violations });
    } else if (d.scenario === "stall") {
      // Everyone is up (threads start at different times) before the short timeout applies.
      comm.timeoutMs = 30_000;
      comm.barrier("warm-up");
      comm.timeoutMs = d.timeoutMs;
      if (d.rank === d.badRank) {
        Atomics.wait(sleeper, 0, 0, 60_000); // never joins; the test terminates this thread
      } else {
        comm.barrier("phase under test");
      }
      port.postMessage({ rank: d.rank, ok: true });
    } else {
      comm.barrier("warm-up");
      if (d.rank === d.badRank) process.exit(3); // dies without a word, as a crash would
      comm.barrier("phase under test");
      port.postMessage({ rank: d.rank, ok: true });
    }
  } catch (e) {
    const err =
      e instanceof CollectiveError
        ? { message: e.message, reason: e.reason, peer: e.peer, phase: e.phase }
        : { message: String(e) };
    port.postMessage({ rank: d.rank, ok: false, error: err });
  }
}

if (parentPort !== null) run(parentPort, workerData as ScenarioData);
