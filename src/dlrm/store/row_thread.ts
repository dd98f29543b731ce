// The reader thread of tables on disk (src/dlrm/store/): a RowMover (row_mover.ts) whose
// moves run on their own thread, so that the rows a coming batch needs are read, and the
// rows that leave are written back, while the current step computes. The thread works on
// the caches' slot arrays directly: they are views of the wasm memory (a SharedArrayBuffer),
// handed to it once; a move copies one record between the file (positional I/O on the
// same descriptor) and a slot. Moves run one at a time in the order asked for; after each,
// the thread raises a shared counter, so a ticket is the counter's value once its move is
// done and the cache blocks (Atomics.wait) only until the moves of its own batch are.
//
// The thread's code is plain JavaScript evaluated by the Worker (a CommonJS script, no
// loader): src/dlrm/ sits below src/parallel/, whose spawnWorker starts .ts modules under
// tsx, and these forty lines need nothing from either.
//
// Glossary: F floats per record.

import { Worker } from "node:worker_threads";
import type { MoverTarget, RowMover } from "./row_mover.ts";

/** A wait with no move finished for this long is a dead thread, not a slow disk. */
const STALL_MS = 120_000;
/** Bytes of the control block: the moves done and the error's length (two int64), then the error's text. */
const ERROR_AT = 16;
const CONTROL_BYTES = ERROR_AT + 1024;

const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { readSync, writeSync } = require("node:fs");
const control = new BigInt64Array(workerData.control, 0, 2);
const errorText = new Uint8Array(workerData.control, ${ERROR_AT});
const targets = [];
let done = 0n;
let failed = false;
function all(op, fd, rec, at, path, row) {
  const bytes = new Uint8Array(rec.buffer, rec.byteOffset, rec.byteLength);
  for (let k = 0; k < bytes.length; ) {
    const n = op(fd, bytes, k, bytes.length - k, at + k);
    if (n === 0) throw new Error(path + ": " + (op === readSync ? "the file ends before row " + row + " (it was cut short?)" : "cannot write row " + row + " (the disk is full?)"));
    k += n;
  }
}
parentPort.on("message", (m) => {
  if (m.kind === "register") {
    targets[m.c] = { fd: m.fd, path: m.path, arrays: m.arrays, rec: new Float32Array(m.floats) };
    return;
  }
  const ops = m.ops;
  for (let i = 0; i < ops.length; i += 4) {
    if (!failed) {
      try {
        const t = targets[ops[i]], s = ops[i + 1], out = ops[i + 2], into = ops[i + 3];
        const rec = t.rec, F = rec.length;
        if (out >= 0) {
          let at = 0;
          for (const a of t.arrays) { rec.set(a.data.subarray(s * a.perRow, (s + 1) * a.perRow), at); at += a.perRow; }
          all(writeSync, t.fd, rec, out * F * 4, t.path, out);
        }
        if (into >= 0) {
          all(readSync, t.fd, rec, into * F * 4, t.path, into);
          let at = 0;
          for (const a of t.arrays) { a.data.set(rec.subarray(at, at + a.perRow), s * a.perRow); at += a.perRow; }
        }
      } catch (e) {
        failed = true;
        const text = new TextEncoder().encode(String(e && e.message ? e.message : e)).subarray(0, errorText.length);
        errorText.set(text);
        Atomics.store(control, 1, BigInt(text.length));
      }
    }
    done++;
    Atomics.store(control, 0, done);
    Atomics.notify(control, 0);
  }
});
`;

/** Moves on a reader thread; every slot array it is given must be shared memory. */
export class ThreadMover implements RowMover {
  #waited = 0;
  readonly #worker: Worker;
  readonly #control: BigInt64Array; // [moves done, error length]
  readonly #errorText: Uint8Array;
  #count = 0; // targets registered
  #issued = 0; // moves asked for: the last ticket
  #pending: Int32Array = new Int32Array(4 * 1024); // moves not yet submitted, 4 ints each
  #pendingLength = 0;
  #closed = false;

  constructor() {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.#control = new BigInt64Array(control, 0, 2);
    this.#errorText = new Uint8Array(control, ERROR_AT);
    this.#worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { control }, name: "table rows" });
    this.#worker.unref();
  }

  /** Whether a cache with these slot arrays can hand them to the thread. */
  static canServe(target: MoverTarget): boolean {
    return target.fd !== null && target.arrays.every((a) => a.data.buffer instanceof SharedArrayBuffer);
  }

  get waitedMs(): number {
    return this.#waited;
  }

  register(t: MoverTarget): number {
    if (!ThreadMover.canServe(t))
      throw new Error("ThreadMover: the reader thread needs a file descriptor and slot arrays in shared memory");
    const c = this.#count++;
    this.#worker.postMessage({
      kind: "register",
      c,
      fd: t.fd,
      path: t.label,
      floats: t.io.recordFloats,
      arrays: t.arrays,
    });
    return c;
  }

  move(c: number, s: number, out: number, into: number): number {
    if (this.#pendingLength + 4 > this.#pending.length) {
      const grown = new Int32Array(2 * this.#pending.length);
      grown.set(this.#pending);
      this.#pending = grown;
    }
    this.#pending.set([c, s, out, into], this.#pendingLength);
    this.#pendingLength += 4;
    return ++this.#issued;
  }

  submit(): void {
    if (this.#pendingLength === 0) return;
    const ops = this.#pending.slice(0, this.#pendingLength);
    this.#pendingLength = 0;
    this.#worker.postMessage({ kind: "moves", ops }, [ops.buffer]);
  }

  wait(ticket: number): void {
    if (ticket <= 0) return;
    this.submit();
    const want = BigInt(ticket);
    const t0 = performance.now();
    for (;;) {
      this.#checkError();
      const done = Atomics.load(this.#control, 0);
      if (done >= want) break;
      if (Atomics.wait(this.#control, 0, done, STALL_MS) === "timed-out" && Atomics.load(this.#control, 0) === done)
        throw new Error(
          `table store: the reader thread finished no move in ${STALL_MS / 1000} s (${done} of ${ticket} done)`,
        );
    }
    this.#waited += performance.now() - t0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.wait(this.#issued);
    } finally {
      void this.#worker.terminate();
    }
  }

  #checkError(): void {
    const n = Number(Atomics.load(this.#control, 1));
    if (n > 0) throw new Error(new TextDecoder().decode(this.#errorText.slice(0, n)));
  }
}
