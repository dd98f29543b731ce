// The collectives (src/parallel/collectives.ts) between real worker threads: barrier
// ordering, all-reduce against a naive sum in the specified order, all-to-all with uneven
// (and empty) blocks, ranks arriving at random times, a rank that stalls (timeout names it)
// and a rank that dies (the main thread aborts the others at once). Every run ends with the
// threads stopped; each wait in this file is bounded.

import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  abortAll,
  abortedBy,
  chunkBounds,
  CollectiveError,
  Communicator,
  createCommBuffers,
} from "../../src/parallel/collectives.ts";
import { startWorkers, type WorkerGroup } from "../../src/parallel/spawn.ts";
import { assertThrows } from "../../src/testing/index.ts";
import {
  allReduceInput,
  allToAllCount,
  allToAllValue,
  shardedStart,
  shardedUpdate,
  type ScenarioData,
} from "./collectives_worker.ts";

const WORKER = new URL("./collectives_worker.ts", import.meta.url);

interface RankReply {
  rank: number;
  ok: boolean;
  results?: Float32Array[];
  violations?: string[];
  error?: { message: string; reason?: string; peer?: number | null; phase?: string };
}

/** Within ms, or reject naming what was awaited. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test: ${what} took more than ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const SCENARIO_LIMIT_MS = 90_000;

/**
 * Run a scenario on N ranks; collect one reply per rank (a rank that exits instead counts
 * as replied; data.badRank of a "stall" is not waited for). onExit runs when a rank exits
 * early. The threads are always stopped.
 */
async function runScenario(
  N: number,
  capacity: number,
  data: Omit<ScenarioData, "buffers" | "rank">,
  onExit?: (rank: number, code: number, group: WorkerGroup, buffers: ReturnType<typeof createCommBuffers>) => void,
  gatherCapacity = 0,
): Promise<{ replies: (RankReply | null)[]; ms: number }> {
  const buffers = createCommBuffers(N, capacity, gatherCapacity);
  const group = await within(
    startWorkers(N, WORKER, (r) => ({ ...data, buffers, rank: r })),
    30_000,
    "starting the workers",
  );
  const started = performance.now();
  try {
    const replies = await within(
      new Promise<(RankReply | null)[]>((resolve) => {
        const out: (RankReply | null | undefined)[] = new Array(N).fill(undefined);
        const settle = (r: number, v: RankReply | null): void => {
          if (out[r] !== undefined) return;
          out[r] = v;
          if (out.every((x, q) => x !== undefined || (data.scenario === "stall" && q === data.badRank)))
            resolve(out.map((x) => x ?? null));
        };
        group.workers.forEach((w, r) => {
          w.on("message", (m: RankReply) => settle(r, m));
          w.on("error", (e) => settle(r, { rank: r, ok: false, error: { message: String(e) } }));
          w.on("exit", (code) => {
            if (out[r] === undefined) onExit?.(r, code, group, buffers);
            settle(r, null);
          });
        });
      }),
      // A guard against a hang, not a timing: the workers load their module (tsx compiles it)
      // before the scenario starts, which took over 20 s on a machine at load 8–10.
      SCENARIO_LIMIT_MS,
      `scenario ${data.scenario}`,
    );
    return { replies, ms: performance.now() - started };
  } finally {
    const left = await group.stop(5_000);
    assert.equal(left, [], "every worker thread exited");
  }
}

test("barrier: no rank passes barrier k before all ranks reached it (3 ranks, 40 rounds, random arrival)", async () => {
  const marks = new SharedArrayBuffer(4 * 3);
  const { replies } = await runScenario(3, 16, {
    scenario: "barrier",
    iterations: 40,
    marks,
    timeoutMs: 10_000,
    seed: 1,
  });
  for (const r of replies) {
    assert.ok(r?.ok, `rank ${r?.rank}: ${r?.error?.message}`);
    assert.equal(r?.violations, []);
  }
});

test("allReduce: each chunk summed in float32 in ring order from its owner, bit-identical on every rank (3 ranks, lengths 0..2500, pieces beyond capacity)", async () => {
  const N = 3;
  const C = 1000;
  const lengths = [0, 1, 2, 3, 5, 64, 1001, 2500]; // capacity 1000: 1001 and 2500 go in pieces
  const seed = 11;
  const { replies } = await runScenario(N, C, { scenario: "allreduce", lengths, timeoutMs: 10_000, seed });
  lengths.forEach((n, k) => {
    // Tolerance: none. The order of the additions is specified, so the bits are: in each
    // piece of C floats, element i of chunk c is ((x_c + x_{c+1}) + x_{c+2}) rounded to float32 at each add.
    const inputs = Array.from({ length: N }, (_, r) => allReduceInput(seed, r, n));
    const expected = new Float32Array(n);
    for (let off = 0; off < n; off += C) {
      const m = Math.min(C, n - off);
      for (let c = 0; c < N; c++) {
        const [a, b] = chunkBounds(m, N, c);
        for (let i = off + a; i < off + b; i++) {
          let s = inputs[c]?.[i] as number;
          for (let j = 1; j < N; j++) s = Math.fround(s + (inputs[(c + j) % N]?.[i] as number));
          expected[i] = s;
        }
      }
    }
    for (const reply of replies) {
      assert.ok(reply?.ok, `rank ${reply?.rank}: ${reply?.error?.message}`);
      assert.equal(Array.from(reply?.results?.[k] ?? []), Array.from(expected), `rank ${reply?.rank}, length ${n}`);
    }
  });
});

test("reduceScatter, an update of each rank's chunk, allGather of two layers in pieces: every rank ends with the whole update on allReduce's sum (3 ranks)", async () => {
  const N = 3;
  const lengths = [0, 1, 2, 5, 64, 499];
  const seed = 12;
  const { replies } = await runScenario(N, 1000, { scenario: "sharded", lengths, timeoutMs: 10_000, seed });
  lengths.forEach((n, k) => {
    const { w, v } = shardedExpected(seed, N, n);
    for (const reply of replies) {
      assert.ok(reply?.ok, `rank ${reply?.rank}: ${reply?.error?.message}`);
      assert.equal(Array.from(reply?.results?.[2 * k] ?? []), Array.from(w), `rank ${reply?.rank}, w of ${n}`);
      assert.equal(Array.from(reply?.results?.[2 * k + 1] ?? []), Array.from(v), `rank ${reply?.rank}, v of ${n}`);
    }
  });
});

test("deferAllGather: the all-gather rides with the next all-to-all or is flushed; the same bits as allGather, the all-to-all's data intact (3 ranks)", async () => {
  const N = 3;
  const lengths = [5, 1, 64, 499, 0, 2];
  const seed = 13;
  const { replies } = await runScenario(
    N,
    500,
    { scenario: "deferred", lengths, timeoutMs: 10_000, seed },
    undefined,
    1000,
  );
  for (const reply of replies) {
    assert.ok(reply?.ok, `rank ${reply?.rank}: ${reply?.error?.message}`);
    const r = reply?.rank as number;
    const results = [...(reply?.results ?? [])];
    lengths.forEach((n, it) => {
      if (it % 2 === 0) {
        const expected: number[] = [];
        for (let q = 0; q < N; q++)
          for (let k = 0; k < allToAllCount(it, q, r); k++) expected.push(allToAllValue(it, q, r, k));
        assert.equal(Array.from(results.shift() ?? []), expected, `rank ${r}, all-to-all ${it}`);
      }
      const { w, v } = shardedExpected(seed, N, n);
      assert.equal(Array.from(results.shift() ?? []), Array.from(w), `rank ${r}, w of ${n}`);
      assert.equal(Array.from(results.shift() ?? []), Array.from(v), `rank ${r}, v of ${n}`);
    });
  }
});

test("reduceScatterFrom and deferAllGather with the peers' arrays read in place: the same bits as by copies (3 ranks)", async () => {
  const N = 3;
  const lengths = [5, 1, 64, 499, 0, 2];
  const seed = 14;
  const sab = (n: number): SharedArrayBuffer[] => Array.from({ length: N }, () => new SharedArrayBuffer(4 * n));
  const direct = lengths.map((n) => ({ g: sab(n), w: sab(n), v: sab(n) }));
  const run = (d: typeof direct | undefined) =>
    runScenario(
      N,
      500,
      { scenario: "deferred", lengths, timeoutMs: 10_000, seed, ...(d ? { direct: d } : {}) },
      undefined,
      1000,
    );
  const [inPlace, copied] = [await run(direct), await run(undefined)];
  inPlace.replies.forEach((reply, r) => {
    assert.ok(reply?.ok, `rank ${r}: ${reply?.error?.message}`);
    const other = copied.replies[r];
    assert.ok(other?.ok, `rank ${r} (copies): ${other?.error?.message}`);
    assert.equal(
      (reply?.results ?? []).map((x) => Array.from(x)),
      (other?.results ?? []).map((x) => Array.from(x)),
      `rank ${r}`,
    );
  });
});

test("deferAllGather refuses a second deferral and layers larger than the room beside a round", () => {
  const comm = new Communicator(createCommBuffers(2, 8, 4), 0, { timeoutMs: 100 });
  assert.throws(
    () => comm.deferAllGather([[new Float32Array(5)]], "big"),
    /1 × 5 floats do not fit beside a round's data \(4 floats\)/,
  );
  comm.deferAllGather([[new Float32Array(4)]], "first");
  assert.throws(
    () => comm.deferAllGather([[new Float32Array(4)]], "second"),
    /an all-gather is already deferred \(first\)/,
  );
});

test("allToAll: uneven and empty blocks land in rank order (3 ranks, 12 rounds of changing splits)", async () => {
  const N = 3;
  const iterations = 12;
  const { replies } = await runScenario(N, 64, { scenario: "alltoall", iterations, timeoutMs: 10_000, seed: 5 });
  for (const reply of replies) {
    assert.ok(reply?.ok, `rank ${reply?.rank}: ${reply?.error?.message}`);
    const r = reply?.rank as number;
    for (let it = 0; it < iterations; it++) {
      const expected: number[] = [];
      for (let q = 0; q < N; q++)
        for (let k = 0; k < allToAllCount(it, q, r); k++) expected.push(allToAllValue(it, q, r, k));
      assert.equal(Array.from(reply?.results?.[it] ?? []), expected, `rank ${r}, round ${it}`);
    }
  }
});

test("a rank that never arrives: the others time out with an error naming it and the phase", async () => {
  const { replies } = await runScenario(3, 16, { scenario: "stall", badRank: 2, timeoutMs: 300, seed: 2 });
  for (const r of [0, 1]) {
    const reply = replies[r];
    assert.ok(reply !== null && !reply.ok, `rank ${r} reported an error`);
    assert.is(reply?.error?.reason, "timeout");
    assert.is(reply?.error?.peer, 2);
    assert.match(
      reply?.error?.message ?? "",
      new RegExp(`^rank ${r}: phase under test: timed out after 300 ms waiting for rank 2$`),
    );
  }
});

test("a rank that dies: the main thread aborts, the others stop waiting at once and say why", async () => {
  let abortAt = 0;
  const { replies } = await runScenario(
    2,
    16,
    { scenario: "die", badRank: 1, timeoutMs: 60_000, seed: 3 },
    (rank, code, _group, buffers) => {
      assert.is(rank, 1);
      assert.is(code, 3);
      abortAt = performance.now();
      abortAll(buffers);
      assert.is(abortedBy(buffers), -1);
    },
  );
  assert.is(replies[1], null);
  const reply = replies[0];
  assert.ok(reply !== null && !reply.ok);
  assert.is(reply?.error?.reason, "aborted");
  assert.match(reply?.error?.message ?? "", /^rank 0: phase under test: aborted: the main thread stopped the run$/);
  // The wait was 60 s; the abort ended it as soon as the main thread saw the exit.
  assert.ok(abortAt > 0);
});

test("one rank (in-process): barrier passes, allReduce is the identity, allToAll copies, bad counts and sizes are named", () => {
  const comm = new Communicator(createCommBuffers(1, 8), 0, { timeoutMs: 100 });
  comm.barrier("b");
  const x = Float32Array.of(1.5, -2, 3);
  comm.allReduce(x, "r");
  assert.equal(Array.from(x), [1.5, -2, 3]);
  const recv = new Float32Array(3);
  comm.allToAll(x, [3], recv, [3], "a");
  assert.equal(Array.from(recv), [1.5, -2, 3]);
  assert.equal(comm.reduceScatter(x, "rs"), [0, 3]);
  comm.allGather([[x], [x.subarray(0, 1), x.subarray(1)]], "ag");
  assert.equal(Array.from(x), [1.5, -2, 3]);
  assertThrows(
    () => comm.reduceScatter(new Float32Array(9), "rs"),
    /^rank 0: rs: 1 × 9 floats do not fit in one exchange of 8$/,
  );
  assertThrows(
    () => comm.allGather([[x], [x], [x]], "ag"),
    /^rank 0: ag: 3 × 3 floats do not fit in one exchange of 8$/,
  );
  assertThrows(
    () => comm.allGather([[x], [x.subarray(1)]], "ag"),
    /^rank 0: ag: all-gather layer 1 has 2 floats, layer 0 3$/,
  );
  assertThrows(
    () => comm.allToAll(x, [3], new Float32Array(2), [2], "shuffle"),
    /^rank 0: shuffle: expects 2 floats from rank 0, which sends 3$/,
  );
  assertThrows(
    () => comm.allToAll(x, [2], recv, [3], "shuffle"),
    /^rank 0: shuffle: send counts add up to 2 but the send buffer holds 3 floats$/,
  );
  assertThrows(
    () => comm.allToAll(new Float32Array(9), [9], new Float32Array(9), [9], "big"),
    /sends 9 floats, more than the exchange capacity of 8/,
  );
  assertThrows(
    () => new Communicator(createCommBuffers(2, 8), 2, { timeoutMs: 100 }),
    /rank 2 is out of range for 2 ranks/,
  );
});

test("abort: a rank's later collectives throw, naming who aborted", () => {
  const buffers = createCommBuffers(2, 8);
  const a = new Communicator(buffers, 0, { timeoutMs: 100 });
  const b = new Communicator(buffers, 1, { timeoutMs: 100 });
  b.abort();
  assert.is(abortedBy(buffers), 1);
  try {
    a.barrier("next phase");
    assert.unreachable("barrier after abort");
  } catch (e) {
    assert.ok(e instanceof CollectiveError);
    assert.is(e.reason, "aborted");
    assert.is(e.peer, 1);
    assert.match(e.message, /^rank 0: next phase: aborted: rank 1 failed$/);
  }
});

test("chunkBounds: N chunks cover [0, n) in order, sizes differ by at most one", () => {
  for (const [n, N] of [
    [0, 3],
    [1, 3],
    [7, 3],
    [10, 4],
    [5, 5],
  ] as const) {
    let at = 0;
    const sizes: number[] = [];
    for (let c = 0; c < N; c++) {
      const [lo, hi] = chunkBounds(n, N, c);
      assert.is(lo, at);
      sizes.push(hi - lo);
      at = hi;
    }
    assert.is(at, n);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  }
});

test.run();

/** What every rank holds after the sharded update of n values: allReduce's sum (ring order from each chunk's owner), updated. */
function shardedExpected(seed: number, N: number, n: number): { w: Float32Array; v: Float32Array } {
  const inputs = Array.from({ length: N }, (_, r) => allReduceInput(seed, r, n));
  const g = new Float32Array(n);
  for (let c = 0; c < N; c++) {
    const [a, b] = chunkBounds(n, N, c);
    for (let i = a; i < b; i++) {
      let s = inputs[c]?.[i] as number;
      for (let j = 1; j < N; j++) s = Math.fround(s + (inputs[(c + j) % N]?.[i] as number));
      g[i] = s;
    }
  }
  const { w, v } = shardedStart(seed, n);
  shardedUpdate(g, w, v, 0, n);
  return { w, v };
}
