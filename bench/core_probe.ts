// How much of two cores this VM gives at the moment: the same fixed loop on one thread, then
// on two at once. A host that runs other guests' work on our second vCPU (invisible in this
// guest's /proc/stat) makes the two-thread run slower, and caps every 2-worker figure with
// it; bench/parallel.bench.ts measures this before each round and prints it beside the round.
//
// scaling = 2 · t(one thread) / t(two threads at once): 2.0 on two free cores, 1.0 on one.

import { Worker } from "node:worker_threads";

// Eight independent multiply-add chains: enough to keep a core's floating-point units busy
// (a single chain would wait on its own latency and leave them idle, hiding a host that
// shares the core's other hyperthread), no memory traffic, no allocation.
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const ctl = new Int32Array(workerData.ctl);
const out = new Float64Array(workerData.out);
const me = workerData.index;
let seen = 0;
for (;;) {
  Atomics.wait(ctl, me, seen);
  seen = Atomics.load(ctl, me);
  if (seen < 0) break;
  const t0 = performance.now();
  let a = 1, b = 1.1, c = 1.2, d = 1.3, e = 1.4, f = 1.5, g = 1.6, h = 1.7;
  for (let i = 0; i < workerData.iterations; i++) {
    a = a * 0.9999999 + 1e-9; b = b * 0.9999999 + 1e-9; c = c * 0.9999999 + 1e-9; d = d * 0.9999999 + 1e-9;
    e = e * 0.9999999 + 1e-9; f = f * 0.9999999 + 1e-9; g = g * 0.9999999 + 1e-9; h = h * 0.9999999 + 1e-9;
  }
  out[me] = performance.now() - t0 + (a + b + c + d + e + f + g + h === 0 ? 1 : 0);
  Atomics.add(ctl, 2, 1);
  Atomics.notify(ctl, 2);
}
`;

export class CoreProbe {
  readonly #workers: Worker[];
  readonly #ctl = new Int32Array(new SharedArrayBuffer(4 * 3)); // [go 0, go 1, done]
  readonly #out = new Float64Array(new SharedArrayBuffer(8 * 2)); // ms per thread

  constructor(iterations = 40_000_000) {
    this.#workers = [0, 1].map(
      (index) =>
        new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: { ctl: this.#ctl.buffer, out: this.#out.buffer, index, iterations },
        }),
    );
  }

  /** Run the loop on the given threads at once; the slowest thread's ms. */
  #run(threads: number[]): number {
    const done0 = Atomics.load(this.#ctl, 2);
    for (const k of threads) {
      Atomics.add(this.#ctl, k, 1);
      Atomics.notify(this.#ctl, k);
    }
    while (Atomics.load(this.#ctl, 2) - done0 < threads.length) {
      const seen = Atomics.load(this.#ctl, 2);
      Atomics.wait(this.#ctl, 2, seen, 5_000); // Node's main thread may block
    }
    return Math.max(...threads.map((k) => this.#out[k] as number));
  }

  /** 2 · t(one thread) / t(two at once), the best of `reps` tries of each. */
  scaling(reps = 3): number {
    let one = Infinity;
    let two = Infinity;
    for (let r = 0; r < reps; r++) {
      one = Math.min(one, this.#run([0]));
      two = Math.min(two, this.#run([0, 1]));
    }
    return (2 * one) / two;
  }

  async close(): Promise<void> {
    for (let k = 0; k < 2; k++) {
      Atomics.store(this.#ctl, k, -1);
      Atomics.notify(this.#ctl, k);
    }
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
