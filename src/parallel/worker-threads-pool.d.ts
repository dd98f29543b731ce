// Types for worker-threads-pool 2.0 (the package ships none): the part this project uses.
declare module "worker-threads-pool" {
  import type { Worker, WorkerOptions } from "node:worker_threads";

  class Pool {
    constructor(opts?: { max?: number; maxWaiting?: number });
    /** Workers currently holding a slot. */
    readonly size: number;
    /** Start `new Worker(filename, opts)` when a slot is free; the worker holds the slot until it exits. */
    acquire(
      filename: string | URL,
      opts: WorkerOptions | undefined,
      cb: (err: Error | null, worker?: Worker) => void,
    ): void;
    /** Terminate every worker holding a slot. */
    destroy(cb?: () => void): void;
  }
  export = Pool;
}
