// The resident rows of one table piece kept on disk (src/dlrm/store/): C slots, each holding
// one row's record (its weights and optimizer state, src/dlrm/store/row_record.ts) in the
// resident arrays the step uses directly: the weights (C, W) are the parameter the
// embedding bag reads and the optimizer updates, and each state part is the optimizer's
// state array of that parameter. A step's ids are remapped to slots; the rows it updates
// are marked dirty and written back when they leave (eviction) or at a flush (a save). So
// the step's arithmetic is the in-memory step's, row for row: the same bits.
//
// Which row leaves: the trainer knows the batches of the next k steps (the data stream is
// read ahead), so every resident row's next use within that window is known exactly, and
// the one used farthest in the future leaves (Belady's rule); rows with no known use leave
// first, least recently used first. With k = 0 this is plain LRU (the comparison policy).
//
// Reading ahead (prefetch): after a batch is served, the rows of the next d ≤ k batches that
// are not resident are given slots now, taken only from rows with no known use (so nothing
// the step or a nearer batch needs leaves), and their reads are handed to the mover
// (row_mover.ts: a reader thread) to run while the step computes. Such a slot is "in flight":
// the step that needs it waits for its ticket. When no slot without a known use is left the
// read ahead stops, and the rest are read at their step as before. Every decision is made
// here, on the step's thread, from the batches alone, so the counts and the rows moved do
// not depend on how fast the thread is; only the waiting does.
//
// Bookkeeping, by tick (one tick per batch the cache serves, training or prediction):
//   nextUse[slot]   the tick of the row's next known use; == now: pinned (this batch's row);
//                   < now: none known
//   ticket[slot]    the mover's ticket of the last read into the slot (wait for it before use)
//   ahead[slot]     1 while a row read ahead has not been used yet (its use is not a hit)
//   the LRU list    the resident slots with no known next use, most recent first: victims
//                   come from its tail
// A row with a known use leaves the list when the window shows it, and goes back (as most
// recent) after the batch that used it. A slot whose known use passed without the batch
// coming (ticks spent on predictions in between) is found by a repair scan when the list
// runs dry.
//
// Glossary: R rows of the piece, C slots, W width, L lookups of a batch, k look-ahead batches.

import { OpError } from "../../tensor/shape.ts";
import { allocInt32 } from "../../tensor/storage.ts";
import { SyncMover, type RowIO, type RowMover, type SlotArray } from "./row_mover.ts";

export interface CacheCounts {
  /** Distinct rows asked for, batch by batch. */
  lookups: number;
  /** Of them, rows resident before the batch was foreseen (not read for it). */
  hits: number;
  /** Rows read from disk: at their step, or ahead of it. */
  reads: number;
  /** Of them, read ahead of their step (prefetch). */
  readAhead: number;
  /** Dirty rows written back (on eviction or flush). */
  writes: number;
  evictions: number;
  bytesRead: number;
  bytesWritten: number;
}

export function emptyCounts(): CacheCounts {
  return { lookups: 0, hits: 0, reads: 0, readAhead: 0, writes: 0, evictions: 0, bytesRead: 0, bytesWritten: 0 };
}

export class RowCache {
  readonly capacity: number;
  readonly #label: string;
  readonly #io: RowIO;
  #mover: RowMover | null = null;
  #moverId = -1;
  readonly #recordBytes: number;
  readonly #slotOf: Int32Array; // (R,) slot of a row, -1 when on disk only
  readonly #rowOf: Int32Array; // (C,) row of a slot, -1 when empty
  readonly #nextUse: Int32Array; // (C,) tick
  readonly #usedAt: Int32Array; // (C,) tick of its last batch
  readonly #dirty: Uint8Array; // (C,)
  readonly #ticket: Float64Array; // (C,) the mover's ticket of the last read into the slot
  readonly #ahead: Uint8Array; // (C,) read ahead, not used yet
  readonly #prev: Int32Array; // (C,) LRU list links, toward the most recent
  readonly #next: Int32Array; // (C,) toward the least recent
  readonly #inList: Uint8Array; // (C,)
  #head = -1; // most recent
  #tail = -1; // least recent
  #filled = 0; // slots [filled, C) have never held a row
  #tick = 0;
  #batchSlots: Int32Array; // the last batch's distinct slots
  #batchCount = 0;
  #need = 0; // the ticket the served batch waits for
  readonly counts: CacheCounts = emptyCounts();

  constructor(io: RowIO, capacity: number, label: string) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new OpError("RowCache", `${label}: a cache needs at least one row, got ${capacity}`);
    this.capacity = Math.min(capacity, io.rows);
    this.#label = label;
    this.#io = io;
    const C = this.capacity;
    this.#recordBytes = 4 * io.recordFloats;
    this.#slotOf = new Int32Array(io.rows).fill(-1);
    this.#rowOf = new Int32Array(C).fill(-1);
    this.#nextUse = new Int32Array(C);
    this.#usedAt = new Int32Array(C);
    this.#dirty = new Uint8Array(C);
    this.#ticket = new Float64Array(C);
    this.#ahead = new Uint8Array(C);
    this.#prev = new Int32Array(C).fill(-1);
    this.#next = new Int32Array(C).fill(-1);
    this.#inList = new Uint8Array(C);
    this.#batchSlots = new Int32Array(Math.min(C, 1024));
  }

  /**
   * The resident arrays of the record's parts, in record order (the weights first), and what
   * moves records between them and the io (default: at once, on this thread); file: the io's
   * open file, for a mover on another thread.
   */
  attach(
    arrays: readonly SlotArray[],
    mover: RowMover = new SyncMover(),
    file: { fd: number; path: string } | null = null,
  ): void {
    const floats = arrays.reduce((a, x) => a + x.perRow, 0);
    if (floats !== this.#io.recordFloats)
      throw new OpError(
        "RowCache",
        `${this.#label}: slot arrays of ${floats} floats per row for records of ${this.#io.recordFloats}`,
      );
    for (const x of arrays)
      if (x.data.length < this.capacity * x.perRow)
        throw new OpError(
          "RowCache",
          `${this.#label}: a slot array of ${x.data.length} floats for ${this.capacity} slots of ${x.perRow}`,
        );
    this.#mover = mover;
    this.#moverId = mover.register({
      io: this.#io,
      fd: file === null ? null : file.fd,
      label: file === null ? this.#label : file.path,
      arrays,
    });
  }

  /**
   * Serve one batch: window[0] its piece ids (L,), window[1..k] the ids of the next k
   * batches (their uses decide what leaves). Asks the mover for the missing rows, and
   * returns the batch's slots (L,) in the step's storage: the ids to look up in the resident
   * weights, once ready() has returned. Every id must be in [0, R) (the caller checks, naming
   * the bag).
   */
  serve(window: readonly Int32Array[]): Int32Array {
    const mover = this.#attached();
    const now = ++this.#tick;
    const R = this.#io.rows;
    // The known next uses: batch j of the window is used at tick now + j; the nearest wins.
    for (let j = window.length - 1; j >= 0; j--) {
      const ids = window[j];
      for (let l = 0; l < ids.length; l++) {
        const id = ids[l];
        if (id < 0 || id >= R) continue; // a later batch's bad id is reported at its step
        const s = this.#slotOf[id];
        if (s < 0) continue;
        this.#nextUse[s] = now + j;
        if (this.#inList[s] === 1) this.#unlink(s);
      }
    }
    // The previous batch's rows with no known use go back into the list, as the most recent.
    for (let i = 0; i < this.#batchCount; i++) {
      const s = this.#batchSlots[i];
      if (this.#nextUse[s] < now && this.#inList[s] === 0 && this.#rowOf[s] >= 0) this.#pushFront(s);
    }
    this.#batchCount = 0;

    const ids = window[0];
    const out = allocInt32(ids.length); // (L,)
    let need = 0;
    for (let l = 0; l < ids.length; l++) {
      const id = ids[l];
      let s = this.#slotOf[id];
      if (s < 0) {
        s = this.#victim(now);
        this.#take(s, id, now, mover);
      } else if (this.#usedAt[s] !== now) {
        if (this.#ahead[s] === 1) this.#ahead[s] = 0;
        else this.counts.hits++;
      }
      if (this.#usedAt[s] !== now) {
        this.#usedAt[s] = now;
        this.#remember(s);
        this.counts.lookups++;
        if (this.#ticket[s] > need) need = this.#ticket[s];
      }
      out[l] = s;
    }
    this.#need = need;
    return out;
  }

  /**
   * Read ahead the rows of window[1..depth] (the window serve() was given) that are not
   * resident, into slots of rows with no known use; stops when there are none left.
   */
  prefetch(window: readonly Int32Array[], depth: number): void {
    const mover = this.#attached();
    const now = this.#tick;
    const R = this.#io.rows;
    for (let j = 1; j <= depth && j < window.length; j++) {
      const ids = window[j];
      for (let l = 0; l < ids.length; l++) {
        const id = ids[l];
        if (id < 0 || id >= R || this.#slotOf[id] >= 0) continue;
        let s: number;
        if (this.#filled < this.capacity) s = this.#filled++;
        else if (this.#tail >= 0) {
          s = this.#tail;
          this.#unlink(s);
        } else return;
        this.#take(s, id, now + j, mover);
        this.#ahead[s] = 1;
        this.counts.readAhead++;
      }
    }
  }

  /** Start the moves asked for, and return once the served batch's rows are in their slots. */
  ready(): void {
    const mover = this.#attached();
    mover.submit();
    mover.wait(this.#need);
  }

  /** The last batch updated its rows: they are written back before they leave. */
  markDirty(): void {
    for (let i = 0; i < this.#batchCount; i++) this.#dirty[this.#batchSlots[i]] = 1;
  }

  /**
   * Write every dirty row back (they stay resident, clean), and wait until it is written. In
   * the order of the rows in the file: a record is smaller than a page, so written in slot
   * order (random positions) each would make the kernel read and write back a page of its own
   * far from the last; in file order the pages come one after another.
   */
  flush(): void {
    const mover = this.#attached();
    let count = 0;
    for (let s = 0; s < this.#filled; s++) if (this.#dirty[s] === 1) count++;
    const rows = new Int32Array(count);
    for (let s = 0, k = 0; s < this.#filled; s++) if (this.#dirty[s] === 1) rows[k++] = this.#rowOf[s] as number;
    rows.sort();
    let last = 0;
    for (const row of rows) {
      const s = this.#slotOf[row] as number;
      last = mover.move(this.#moverId, s, row, -1);
      this.#dirty[s] = 0;
      this.#wrote();
    }
    mover.submit();
    mover.wait(last);
  }

  #attached(): RowMover {
    if (this.#mover === null) throw new OpError("RowCache", `${this.#label}: no slot arrays attached`);
    return this.#mover;
  }

  /** Slot s (free or a victim) takes row id, next used at tick `use`: the old row written back if dirty, the new one read. */
  #take(s: number, id: number, use: number, mover: RowMover): void {
    const old = this.#rowOf[s];
    let out = -1;
    if (old >= 0) {
      if (this.#dirty[s] === 1) {
        out = old;
        this.#wrote();
      }
      this.#slotOf[old] = -1;
      this.counts.evictions++;
    }
    this.#ticket[s] = mover.move(this.#moverId, s, out, id);
    this.#slotOf[id] = s;
    this.#rowOf[s] = id;
    this.#dirty[s] = 0;
    this.#ahead[s] = 0;
    this.#nextUse[s] = use;
    this.counts.reads++;
    this.counts.bytesRead += this.#recordBytes;
  }

  #wrote(): void {
    this.counts.writes++;
    this.counts.bytesWritten += this.#recordBytes;
  }

  /** A slot for a missing row at tick now: a fresh one, the list's least recent, or the farthest known use. */
  #victim(now: number): number {
    if (this.#filled < this.capacity) return this.#filled++;
    if (this.#tail < 0) this.#repair(now);
    if (this.#tail >= 0) {
      const s = this.#tail;
      this.#unlink(s);
      return s;
    }
    let best = -1; // every resident row has a known use: Belady's farthest
    for (let s = 0; s < this.capacity; s++)
      if (this.#nextUse[s] > now && (best < 0 || this.#nextUse[s] > this.#nextUse[best])) best = s;
    if (best < 0)
      throw new OpError(
        "RowCache",
        `${this.#label}: the batch needs more distinct rows than the ${this.capacity} the cache holds; raise --table-cache-bytes`,
      );
    return best;
  }

  /** Put back into the list every resident, unpinned slot whose known use has passed. */
  #repair(now: number): void {
    for (let s = 0; s < this.capacity; s++)
      if (this.#rowOf[s] >= 0 && this.#inList[s] === 0 && this.#nextUse[s] < now) {
        this.#ahead[s] = 0; // read ahead for a use that did not come: no longer owed to it
        this.#pushBack(s);
      }
  }

  #remember(s: number): void {
    if (this.#batchCount === this.#batchSlots.length) {
      const grown = new Int32Array(Math.min(this.capacity, 2 * this.#batchSlots.length));
      grown.set(this.#batchSlots);
      this.#batchSlots = grown;
    }
    this.#batchSlots[this.#batchCount++] = s;
  }

  #unlink(s: number): void {
    const p = this.#prev[s];
    const n = this.#next[s];
    if (p >= 0) this.#next[p] = n;
    else this.#head = n;
    if (n >= 0) this.#prev[n] = p;
    else this.#tail = p;
    this.#prev[s] = -1;
    this.#next[s] = -1;
    this.#inList[s] = 0;
  }

  #pushFront(s: number): void {
    this.#prev[s] = -1;
    this.#next[s] = this.#head;
    if (this.#head >= 0) this.#prev[this.#head] = s;
    else this.#tail = s;
    this.#head = s;
    this.#inList[s] = 1;
  }

  #pushBack(s: number): void {
    this.#next[s] = -1;
    this.#prev[s] = this.#tail;
    if (this.#tail >= 0) this.#next[this.#tail] = s;
    else this.#head = s;
    this.#tail = s;
    this.#inList[s] = 1;
  }
}
