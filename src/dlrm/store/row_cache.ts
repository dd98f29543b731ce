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
// Bookkeeping, by tick (one tick per batch the cache serves, training or prediction):
//   nextUse[slot]   the tick of the row's next known use; == now: pinned (this batch's row);
//                   < now: none known
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

export interface CacheCounts {
  /** Distinct rows asked for, batch by batch. */
  lookups: number;
  hits: number;
  /** Rows read from disk. */
  misses: number;
  /** Dirty rows written back (on eviction or flush). */
  writes: number;
  evictions: number;
  bytesRead: number;
  bytesWritten: number;
}

export function emptyCounts(): CacheCounts {
  return { lookups: 0, hits: 0, misses: 0, writes: 0, evictions: 0, bytesRead: 0, bytesWritten: 0 };
}

export class RowCache {
  readonly capacity: number;
  readonly #label: string;
  readonly #io: RowIO;
  #arrays: readonly SlotArray[] = [];
  readonly #record: Float32Array;
  readonly #slotOf: Int32Array; // (R,) slot of a row, -1 when on disk only
  readonly #rowOf: Int32Array; // (C,) row of a slot, -1 when empty
  readonly #nextUse: Int32Array; // (C,) tick
  readonly #usedAt: Int32Array; // (C,) tick of its last batch
  readonly #dirty: Uint8Array; // (C,)
  readonly #prev: Int32Array; // (C,) LRU list links, toward the most recent
  readonly #next: Int32Array; // (C,) toward the least recent
  readonly #inList: Uint8Array; // (C,)
  #head = -1; // most recent
  #tail = -1; // least recent
  #filled = 0; // slots [filled, C) have never held a row
  #tick = 0;
  #batchSlots: Int32Array; // the last batch's distinct slots
  #batchCount = 0;
  readonly counts: CacheCounts = emptyCounts();

  constructor(io: RowIO, capacity: number, label: string) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new OpError("RowCache", `${label}: a cache needs at least one row, got ${capacity}`);
    this.capacity = Math.min(capacity, io.rows);
    this.#label = label;
    this.#io = io;
    const C = this.capacity;
    this.#record = new Float32Array(io.recordFloats);
    this.#slotOf = new Int32Array(io.rows).fill(-1);
    this.#rowOf = new Int32Array(C).fill(-1);
    this.#nextUse = new Int32Array(C);
    this.#usedAt = new Int32Array(C);
    this.#dirty = new Uint8Array(C);
    this.#prev = new Int32Array(C).fill(-1);
    this.#next = new Int32Array(C).fill(-1);
    this.#inList = new Uint8Array(C);
    this.#batchSlots = new Int32Array(Math.min(C, 1024));
  }

  /** The resident arrays of the record's parts, in record order (the weights first). */
  attach(arrays: readonly SlotArray[]): void {
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
    this.#arrays = arrays;
  }

  /**
   * Serve one batch: window[0] its piece ids (L,), window[1..k] the ids of the next k
   * batches (their uses decide what leaves). Reads the missing rows, and returns the
   * batch's slots (L,) in the step's storage: the ids to look up in the resident weights.
   * Every id must be in [0, R) (the caller checks, naming the bag).
   */
  serve(window: readonly Int32Array[]): Int32Array {
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
    for (let l = 0; l < ids.length; l++) {
      const id = ids[l];
      let s = this.#slotOf[id];
      if (s < 0) {
        s = this.#victim(now);
        this.#evict(s);
        this.#load(id, s);
        this.#nextUse[s] = now;
        this.counts.misses++;
      } else if (this.#usedAt[s] !== now) this.counts.hits++;
      if (this.#usedAt[s] !== now) {
        this.#usedAt[s] = now;
        this.#remember(s);
        this.counts.lookups++;
      }
      out[l] = s;
    }
    return out;
  }

  /** The last batch updated its rows: they are written back before they leave. */
  markDirty(): void {
    for (let i = 0; i < this.#batchCount; i++) this.#dirty[this.#batchSlots[i]] = 1;
  }

  /** Write every dirty row back (they stay resident, clean). */
  flush(): void {
    for (let s = 0; s < this.#filled; s++) if (this.#dirty[s] === 1) this.#writeBack(s);
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
      if (this.#rowOf[s] >= 0 && this.#inList[s] === 0 && this.#nextUse[s] < now) this.#pushBack(s);
  }

  #evict(s: number): void {
    const row = this.#rowOf[s];
    if (row < 0) return;
    if (this.#dirty[s] === 1) this.#writeBack(s);
    this.#slotOf[row] = -1;
    this.#rowOf[s] = -1;
    this.counts.evictions++;
  }

  #writeBack(s: number): void {
    const rec = this.#record;
    let at = 0;
    for (const a of this.#arrays) {
      rec.set(a.data.subarray(s * a.perRow, (s + 1) * a.perRow), at);
      at += a.perRow;
    }
    this.#io.write(this.#rowOf[s], rec);
    this.#dirty[s] = 0;
    this.counts.writes++;
    this.counts.bytesWritten += rec.byteLength;
  }

  #load(row: number, s: number): void {
    const rec = this.#record;
    this.#io.read(row, rec);
    let at = 0;
    for (const a of this.#arrays) {
      a.data.set(rec.subarray(at, at + a.perRow), s * a.perRow);
      at += a.perRow;
    }
    this.#slotOf[row] = s;
    this.#rowOf[s] = row;
    this.#dirty[s] = 0;
    this.counts.bytesRead += rec.byteLength;
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
