// Moving row records between a table piece's file and its cache slots (src/dlrm/store/): the
// one way a row cache (row_cache.ts) reads or writes a row. A move is "write slot s's record
// to row `out`, then read row `into` into slot s" (either half may be absent); moves are done
// in the order they were asked for, so a row written back is read again only after the write.
//
//   SyncMover    does each move at once, on the calling thread (a cache over memory in tests,
//                and arrays that are not shared memory, e.g. DLRM_KERNELS=js)
//   ThreadMover  hands the moves to a reader thread (row_thread.ts), which works on the slot
//                arrays in shared memory while the step computes; the cache waits only for
//                the moves of the rows its batch needs (a ticket per move)
//
// Glossary: C slots of a cache, F floats per record.

/** Positional access to a piece's records (a file, or memory in tests). */
export interface RowIO {
  readonly rows: number;
  /** Floats per record. */
  readonly recordFloats: number;
  read(row: number, into: Float32Array): void;
  write(row: number, from: Float32Array): void;
}

/** A resident array holding one part of every slot's record: slot s at [s·perRow, (s+1)·perRow). */
export interface SlotArray {
  data: Float32Array;
  perRow: number;
}

/** A cache's records (io; fd: its file's descriptor, null for records in memory; label: its file's path, for errors) and its slot arrays (C · perRow each). */
export interface MoverTarget {
  io: RowIO;
  fd: number | null;
  label: string;
  arrays: readonly SlotArray[];
}

export interface RowMover {
  /** Take moves for this cache; returns the number its moves name it by. */
  register(target: MoverTarget): number;
  /** Slot s of cache c: write its record to row out (-1: none), then read row into into it (-1: none); the move's ticket. */
  move(c: number, s: number, out: number, into: number): number;
  /** Start the moves asked for since the last submit. */
  submit(): void;
  /** Return once the move with this ticket, and every move before it, is done (0: nothing to wait for). */
  wait(ticket: number): void;
  /** Milliseconds spent in wait() so far. */
  readonly waitedMs: number;
  /** Finish every move asked for, then stop. */
  close(): void;
}

/** Record of slot s gathered from the slot arrays into rec (F). */
export function gatherRecord(arrays: readonly SlotArray[], s: number, rec: Float32Array): void {
  let at = 0;
  for (const a of arrays) {
    rec.set(a.data.subarray(s * a.perRow, (s + 1) * a.perRow), at);
    at += a.perRow;
  }
}

/** Record rec (F) scattered into slot s of the slot arrays. */
export function scatterRecord(arrays: readonly SlotArray[], s: number, rec: Float32Array): void {
  let at = 0;
  for (const a of arrays) {
    a.data.set(rec.subarray(at, at + a.perRow), s * a.perRow);
    at += a.perRow;
  }
}

interface SyncTarget {
  io: RowIO;
  arrays: readonly SlotArray[];
  rec: Float32Array; // (F,) one record in passing
}

/** Every move done at once on this thread. */
export class SyncMover implements RowMover {
  readonly waitedMs = 0;
  readonly #targets: SyncTarget[] = [];

  register(t: MoverTarget): number {
    this.#targets.push({ io: t.io, arrays: t.arrays, rec: new Float32Array(t.io.recordFloats) });
    return this.#targets.length - 1;
  }

  move(c: number, s: number, out: number, into: number): number {
    const t = this.#targets[c] as SyncTarget;
    if (out >= 0) {
      gatherRecord(t.arrays, s, t.rec);
      t.io.write(out, t.rec);
    }
    if (into >= 0) {
      t.io.read(into, t.rec);
      scatterRecord(t.arrays, s, t.rec);
    }
    return 0;
  }

  submit(): void {}

  wait(_ticket: number): void {}

  close(): void {}
}
