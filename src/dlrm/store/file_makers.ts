// The threads that make table files from the seed (src/dlrm/store/disk_tables.ts) when there
// is more than one core: each file's rows are cut into one contiguous range per thread, and
// each thread makes its ranges a chunk of records at a time: the wasm Philox kernel
// (kernels/philox.wat) draws the chunk's weights straight into the records in the wasm memory
// (shared with this thread; each maker has its own resident chunk), the state parts are set
// around them, and the chunk goes to the file with one positional write. The bytes are those
// of the one-thread path (every value is a pure function of the seed, the name and the
// position), only made in parallel.
//
// The thread's code is plain JavaScript evaluated by the Worker (no loader: the kernel comes
// as a compiled WebAssembly.Module and the memory as the WebAssembly.Memory itself), like the
// reader thread (row_thread.ts). The caller waits (Atomics.wait) until every chunk is written:
// the table store is made synchronously, before the first step.
//
// Glossary: F floats per record, W a piece's width, T threads.

import { Worker } from "node:worker_threads";
import { heapOfBuffer } from "../../kernels/memory.ts";
import { wasmModuleBytes } from "../../kernels/wasm.ts";
import { isResident } from "../../tensor/storage.ts";
import { chunkRows } from "./row_file.ts";

/** One file to make: rows [rowStart, rowStart + rows) of a piece, into the open descriptor fd. */
export interface FileJob {
  fd: number;
  path: string;
  /** The piece's row of the file's first record. */
  rowStart: number;
  rows: number;
  /** Floats per record, and the weights' width at its start. */
  F: number;
  W: number;
  /** The weights' stream key and uniform bounds (src/dlrm/init.ts). */
  key: readonly [number, number];
  lo: number;
  hi: number;
  /** The state parts after the weights: where each starts, how many floats, its fresh value. */
  state: readonly { offset: number; perRow: number; initial: number }[];
}

/** A wait with no chunk written for this long is a dead thread, not a slow disk. */
const STALL_MS = 300_000;
/** Bytes of the control block: the chunks done and the error's length (two int32), then the error's text. */
const ERROR_AT = 8;
const CONTROL_BYTES = ERROR_AT + 1024;

const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { memory, module, control: controlBuffer, ptr } = workerData;
const control = new Int32Array(controlBuffer, 0, 2);
const errorText = new Uint8Array(controlBuffer, ${ERROR_AT});
let failed = false;
function fail(e) {
  failed = true;
  const text = new TextEncoder().encode(String(e && e.message ? e.message : e)).subarray(0, errorText.length);
  errorText.set(text);
  Atomics.store(control, 1, text.length);
  Atomics.notify(control, 0);
}
let philox = null;
try {
  philox = new WebAssembly.Instance(module, { env: { memory } }).exports.philox_uniform_f32;
} catch (e) {
  fail(e);
}
parentPort.on("message", (chunks) => {
  for (const c of chunks) {
    if (!failed) {
      const j = c.job;
      try {
        const n = c.n;
        philox(n * j.W, j.W, j.F, ptr, (j.rowStart + c.row) * j.W, j.key[0] | 0, j.key[1] | 0, j.lo, j.hi);
        const rec = new Float32Array(memory.buffer, ptr, n * j.F);
        for (const s of j.state) {
          if (s.perRow === 1) for (let k = 0; k < n; k++) rec[k * j.F + s.offset] = s.initial;
          else for (let k = 0; k < n; k++) rec.fill(s.initial, k * j.F + s.offset, k * j.F + s.offset + s.perRow);
        }
        const bytes = new Uint8Array(memory.buffer, ptr, n * j.F * 4);
        for (let done = 0; done < bytes.length; ) {
          const w = writeSync(j.fd, bytes, done, bytes.length - done, c.row * j.F * 4 + done);
          if (w === 0) throw new Error("cannot write row " + c.row + " (the disk is full?)");
          done += w;
        }
      } catch (e) {
        fail(j.path + ": " + (e && e.message ? e.message : e));
      }
    }
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
  }
});
`;

/** Whether chunk lives in the wasm memory the makers can share (the wasm kernels are on; before or after the memory grew). */
export function makersCanShare(chunk: Float32Array): boolean {
  return isResident(chunk);
}

/**
 * Make every job's file on T threads, each drawing into its own chunk of the wasm memory
 * (chunks[t], at least chunkRows(F) records of the widest job); returns once all are written.
 */
export function makeFilesOnThreads(jobs: readonly FileJob[], chunks: readonly Float32Array[]): void {
  const T = chunks.length;
  const plan: { job: FileJob; row: number; n: number }[][] = chunks.map(() => []);
  for (const job of jobs) {
    const per = chunkRows(job.F);
    const span = Math.ceil(job.rows / T);
    for (let t = 0; t < T; t++) {
      const end = Math.min(job.rows, (t + 1) * span);
      for (let row = t * span; row < end; row += per) plan[t]?.push({ job, row, n: Math.min(per, end - row) });
    }
  }
  const total = plan.reduce((a, p) => a + p.length, 0);
  if (total === 0) return;
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const counts = new Int32Array(control, 0, 2);
  // The chunks' own memory (this thread's default one, or a table memory: src/dlrm/tables/memories.ts).
  const heap = heapOfBuffer((chunks[0] as Float32Array).buffer);
  if (heap === null || chunks.some((c) => heapOfBuffer(c.buffer) !== heap))
    throw new Error("makeFilesOnThreads: the chunks are not all in one wasm memory");
  const memory = heap.memory;
  const module = new WebAssembly.Module(wasmModuleBytes("philox"));
  const workers = chunks.map((chunk, t) => {
    const w = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: { memory, module, control, ptr: chunk.byteOffset },
      name: `table files ${t}`,
    });
    w.unref();
    w.postMessage(plan[t]);
    return w;
  });
  try {
    let seen = 0;
    let since = performance.now();
    for (;;) {
      const done = Atomics.load(counts, 0);
      if (Atomics.load(counts, 1) > 0) {
        const text = new TextDecoder().decode(new Uint8Array(control, ERROR_AT, Atomics.load(counts, 1)).slice());
        throw new Error(`table files: ${text}`);
      }
      if (done === total) return;
      if (done !== seen) {
        seen = done;
        since = performance.now();
      } else if (performance.now() - since > STALL_MS)
        throw new Error(`table files: no chunk written in ${STALL_MS / 1000} s (${done} of ${total} done)`);
      Atomics.wait(counts, 0, done, 1000);
    }
  } finally {
    for (const w of workers) void w.terminate();
  }
}
