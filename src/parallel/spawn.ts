// Starting worker threads in Node, from the TypeScript sources (tsx: tests, development) and
// from the compiled output (dist/) alike, and starting the N long-lived rank workers of a run
// through worker-threads-pool, with a teardown that leaves no thread behind. startNodeRanks
// is Node's StartRanks (src/parallel/rank_threads.ts), the one the hybrid executor uses
// unless told otherwise; a browser has its own (spawn_browser.ts).
//
// Glossary: N ranks (worker threads), r a rank.

import { Worker, type WorkerOptions } from "node:worker_threads";
import Pool from "worker-threads-pool";
import type { RankInit, RankMessage } from "./protocol.ts";
import type { RankGroup, StartRanks } from "./rank_threads.ts";

/**
 * What to hand to `new Worker(…)` for a worker module at `url`. From compiled output that
 * is the file itself. From .ts sources it is an eval'd one-liner that registers tsx first:
 * Node 20 workers do not inherit the loader of the thread that starts them. tsx is resolved
 * from this module, so it works from any working directory, and only on this path: the
 * compiled library never touches it.
 */
export function workerEntry(url: URL, options: WorkerOptions = {}): { filename: string | URL; options: WorkerOptions } {
  if (!url.pathname.endsWith(".ts")) return { filename: url, options };
  const tsxApi = import.meta.resolve("tsx/esm/api");
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return { filename: boot, options: { ...options, eval: true } };
}

/** A worker thread running the module at url (a .ts source under tsx, or a compiled .js). */
export function spawnWorker(url: URL, options: WorkerOptions = {}): Worker {
  const { filename, options: opts } = workerEntry(url, options);
  return new Worker(filename, opts);
}

/** The sibling module `name` (without extension) of the module at `base`, with base's own extension. */
export function siblingModule(name: string, base: string): URL {
  const ext = base.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${name}${ext}`, base);
}

/** N persistent workers started through one pool, and how to stop them all. */
export interface WorkerGroup {
  readonly workers: readonly Worker[];
  /** Whether worker r has exited. */
  exited(r: number): boolean;
  /**
   * Terminate every worker still running and wait (at most timeoutMs) until all have
   * exited; resolves to the ranks that did not exit in time (normally none).
   */
  stop(timeoutMs?: number): Promise<number[]>;
}

/**
 * Start N workers of the module at url, each with its own workerData, through
 * worker-threads-pool: `new Pool({ max: N })` and N acquire calls. A rank worker never
 * exits on its own during a run, so each holds its pool slot for the whole run.
 */
export function startWorkers(
  N: number,
  url: URL,
  workerData: (r: number) => unknown,
  options: WorkerOptions = {},
): Promise<WorkerGroup> {
  if (!Number.isInteger(N) || N < 1)
    return Promise.reject(new Error(`startWorkers: N must be a positive integer, got ${N}`));
  const pool = new Pool({ max: N });
  const workers: Worker[] = [];
  const exits: Promise<void>[] = [];
  const done = new Array<boolean>(N).fill(false);
  const group: WorkerGroup = {
    workers,
    exited: (q) => done[q] === true,
    stop: async (timeoutMs = 10_000) => {
      // terminate() stops a thread even inside Atomics.wait. The Promise form is used
      // (pool.destroy() passes a callback, which Node 20 reports as deprecated), then
      // destroy() runs on the emptied pool to release it.
      for (let q = 0; q < workers.length; q++) if (workers[q] !== undefined && !done[q]) void workers[q]?.terminate();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((res) => {
        timer = setTimeout(res, timeoutMs);
      });
      await Promise.race([Promise.all(exits.filter((e) => e !== undefined)), timedOut]);
      clearTimeout(timer);
      const left = workers.flatMap((w, q) => (w !== undefined && !done[q] ? [q] : []));
      if (left.length === 0) pool.destroy();
      return left;
    },
  };
  return new Promise<WorkerGroup>((resolve, reject) => {
    let pending = N;
    let failed: Error | null = null;
    const settle = (): void => {
      if (--pending > 0) return;
      if (failed === null) resolve(group);
      else void group.stop().then(() => reject(failed)); // never leave the others running
    };
    for (let r = 0; r < N; r++) {
      try {
        const { filename, options: opts } = workerEntry(url, { ...options, workerData: workerData(r) });
        pool.acquire(filename, opts, (err, worker) => {
          if (err !== null || worker === undefined) {
            failed ??= err ?? new Error(`startWorkers: the pool gave no worker for rank ${r}`);
          } else {
            workers[r] = worker;
            exits[r] = new Promise<void>((res) =>
              worker.once("exit", () => {
                done[r] = true;
                res();
              }),
            );
          }
          settle();
        });
      } catch (e) {
        // new Worker throws at once for bad options, e.g. workerData that cannot be cloned.
        failed ??= e instanceof Error ? e : new Error(String(e));
        settle();
      }
    }
  });
}

/** Node's StartRanks: the rank entry worker.ts (beside this module) on N worker threads, each with its RankInit as workerData. */
export const startNodeRanks: StartRanks = async (N: number, init: (r: number) => RankInit): Promise<RankGroup> => {
  const group = await startWorkers(N, siblingModule("worker", import.meta.url), init);
  return {
    threads: group.workers.map((w) => ({
      postMessage: (m) => w.postMessage(m),
      listen: (on) => {
        const message = (m: RankMessage): void => on.message(m);
        const error = (e: Error): void => on.error(e);
        const exit = (code: number): void => on.exit(code);
        w.on("message", message);
        w.on("error", error);
        w.on("exit", exit);
        return () => {
          w.off("message", message);
          w.off("error", error);
          w.off("exit", exit);
        };
      },
    })),
    stop: (timeoutMs) => group.stop(timeoutMs),
  };
};
