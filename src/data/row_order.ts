// The order a streamed source reads its N rows in, epoch after epoch, in memory bounded by a
// window of rows: what turns "rows [a, b) of the file, read by position" (a batch file, an
// MLPerf .bin, TorchRec's .npy days) into the batch of any step (BatchSource's contract).
//
//   - in file order (no shuffling): step s is rows [k·B, (k+1)·B) of the range, exactly what
//     the in-memory DatasetSource gives;
//   - shuffled, within bounded memory: the range is cut into blocks of R rows (the last one
//     may be short); each epoch e takes the blocks in a fresh random order (a permutation
//     drawn from (seed, e)), groups them W at a time into windows, and reads each window's rows
//     in a random order of its own (a permutation drawn from (seed, e, window)). So every row
//     is seen once per epoch, a batch mixes rows of W random blocks, and rows of one block stay
//     within a window of W·R positions: a block's neighbours in the file are likely to share
//     a batch, unlike a full shuffle. Memory: the windows in use and the next one, read
//     ahead (at most three, W·R rows each);
//   - shuffled, a range of at most W·R rows (one window holds it all): read once and kept,
//     in the full permutation of its rows each epoch that the in-memory DatasetSource draws
//     (EpochPermutations, same seed, same draws), so a small file trains exactly as it
//     would in memory (the demo page reads files in memory; `dlrm train` streams them).
// Either way the order is a pure function of (seed, epoch), so a resumed run needs only its step.
//
// Glossary: N rows of the range, B batch size, R rows per shuffle block, W blocks per window,
// e epoch, k a batch's index within its epoch.

import { EpochPermutations, stepPlace } from "./batch_source.ts";
import { concatDatasets, selectSamples, type Dataset } from "./dataset.ts";
import { Rng } from "../tensor/rng.ts";

/** Rows per shuffle block and blocks per window, unless told otherwise. */
export const DEFAULT_SHUFFLE_BLOCK_ROWS = 4096;
export const DEFAULT_WINDOW_BLOCKS = 32;

export interface RowOrderOptions {
  /** Shuffle in bounded memory (blocks, then rows within windows); default: file order. */
  shuffle?: boolean;
  seed?: number;
  /** R: rows per shuffle block. */
  blockRows?: number;
  /** W: blocks per shuffle window. */
  windowBlocks?: number;
}

/** Rows [a, b) of the range (0 ≤ a ≤ b ≤ N), in file order, as a fresh Dataset. */
export type ReadRows = (a: number, b: number) => Promise<Dataset>;

/** One shuffle window of an epoch: its rows (block after block) and their order. */
interface Window {
  data: Dataset;
  order: Int32Array;
}

/** A range one window holds, shuffled whole: its epochs' permutations and its rows, read at the first batch. */
interface WholeRange {
  orders: EpochPermutations;
  rows: Promise<Dataset> | null;
}

/** The batches of N rows read through `read`, in file order or shuffled (the head of this file). */
export class RowOrder {
  readonly n: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly blockRows: number;
  readonly windowBlocks: number;
  readonly #name: string;
  readonly #read: ReadRows;
  readonly #windows = new Map<string, Promise<Window>>(); // at most three, most recent last
  readonly #plans = new Map<number, EpochPlan>(); // the two latest epochs'
  /** With shuffle, when one window holds the range (else null). */
  readonly #whole: WholeRange | null;

  /** `name` (a file) goes in errors. */
  constructor(name: string, n: number, read: ReadRows, o: RowOrderOptions = {}) {
    this.#name = name;
    this.n = n;
    this.#read = read;
    this.shuffle = o.shuffle ?? false;
    this.seed = o.seed ?? 0;
    this.blockRows = o.blockRows ?? DEFAULT_SHUFFLE_BLOCK_ROWS;
    this.windowBlocks = o.windowBlocks ?? DEFAULT_WINDOW_BLOCKS;
    for (const [what, v] of [
      ["blockRows", this.blockRows],
      ["windowBlocks", this.windowBlocks],
    ] as const)
      if (!Number.isSafeInteger(v) || v < 1)
        throw new RangeError(`${name}: ${what} must be a positive integer, got ${v}`);
    this.#whole =
      this.shuffle && n <= this.blockRows * this.windowBlocks
        ? { orders: new EpochPermutations(n, this.seed, null, name), rows: null }
        : null;
  }

  /** The batch of global step `step` at batch size B (BatchSource.batch). */
  batch(step: number, batchSize: number): Promise<Dataset> {
    let p;
    try {
      p = stepPlace(this.n, step, batchSize, this.#name);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.shuffle) return this.#read(p.start, p.start + p.count);
    if (this.#whole !== null) return this.#wholeShuffled(p.epoch, p.start, p.count);
    return this.#shuffled(p.epoch, p.start, p.count);
  }

  /** The rows of the range in step `step`'s batch, in batch order. */
  rowsOf(step: number, batchSize: number): Int32Array {
    const p = stepPlace(this.n, step, batchSize, this.#name);
    const out = new Int32Array(p.count);
    if (!this.shuffle) {
      for (let i = 0; i < p.count; i++) out[i] = p.start + i;
      return out;
    }
    if (this.#whole !== null) {
      out.set(this.#whole.orders.orderOf(p.epoch).subarray(p.start, p.start + p.count));
      return out;
    }
    const plan = this.#epochPlan(p.epoch);
    for (let i = 0; i < p.count;) {
      const w = plan.windowAt(p.start + i);
      const [wStart, wEnd] = plan.windowRange(w);
      const rows = plan.blocksOf(w).flatMap((blk) => {
        const a = blk * this.blockRows;
        const b = Math.min(this.n, a + this.blockRows);
        return Array.from({ length: b - a }, (_, j) => a + j);
      });
      const order = plan.windowOrder(w, rows.length);
      for (; i < p.count && p.start + i < wEnd; i++) out[i] = rows[order[p.start + i - wStart]];
    }
    return out;
  }

  /** Waits for the reads in flight and forgets the rows held (the source is closing). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#windows.values(), this.#whole?.rows]);
    this.#windows.clear();
    if (this.#whole !== null) this.#whole.rows = null;
  }

  /** Samples [start, start + count) of epoch `epoch`'s full permutation of the range (held whole). */
  async #wholeShuffled(epoch: number, start: number, count: number): Promise<Dataset> {
    const whole = this.#whole as WholeRange;
    whole.rows ??= this.#read(0, this.n);
    const rows = await whole.rows;
    return selectSamples(rows, whole.orders.orderOf(epoch).subarray(start, start + count));
  }

  /** Samples [start, start + count) of epoch `epoch`'s shuffled order. */
  async #shuffled(epoch: number, start: number, count: number): Promise<Dataset> {
    const plan = this.#epochPlan(epoch);
    const parts: Dataset[] = [];
    for (let at = start; at < start + count;) {
      const w = plan.windowAt(at);
      const [wStart, wEnd] = plan.windowRange(w);
      const win = await this.#window(epoch, w, plan);
      const to = Math.min(start + count, wEnd);
      parts.push(selectSamples(win.data, win.order.subarray(at - wStart, to - wStart)));
      at = to;
      if (w + 1 < plan.windows)
        void this.#window(epoch, w + 1, plan).catch(() => undefined); // read ahead
      else void this.#window(epoch + 1, 0, this.#epochPlan(epoch + 1)).catch(() => undefined);
    }
    return parts.length === 1 ? parts[0] : concatDatasets(parts);
  }

  #epochPlan(epoch: number): EpochPlan {
    let p = this.#plans.get(epoch);
    if (p === undefined) {
      p = new EpochPlan(this.n, this.blockRows, this.windowBlocks, this.seed, epoch);
      this.#plans.set(epoch, p);
      for (const old of this.#plans.keys()) if (this.#plans.size > 2 && old !== epoch) this.#plans.delete(old);
    }
    return p;
  }

  #window(epoch: number, w: number, plan: EpochPlan): Promise<Window> {
    const key = `${epoch}:${w}`;
    const kept = this.#windows.get(key);
    if (kept !== undefined) {
      this.#windows.delete(key);
      this.#windows.set(key, kept); // most recent last
      return kept;
    }
    const load = (async (): Promise<Window> => {
      const parts = await Promise.all(
        plan.blocksOf(w).map((blk) => {
          const a = blk * this.blockRows;
          return this.#read(a, Math.min(this.n, a + this.blockRows));
        }),
      );
      const data = parts.length === 1 ? parts[0] : concatDatasets(parts);
      return { data, order: plan.windowOrder(w, data.n) };
    })();
    this.#windows.set(key, load);
    while (this.#windows.size > 3) this.#windows.delete(this.#windows.keys().next().value as string);
    return load;
  }
}

/** An epoch's shuffled order of blocks, cut into windows. */
class EpochPlan {
  readonly windows: number;
  readonly #blocks: Int32Array; // block numbers in the epoch's order
  readonly #R: number;
  readonly #W: number;
  readonly #short: number; // rows the last block of the range lacks (0 when it is whole)
  readonly #shortWindow: number; // the window holding the short block
  readonly #seed: number;
  readonly #epoch: number;

  constructor(n: number, R: number, W: number, seed: number, epoch: number) {
    const nBlocks = Math.ceil(n / R);
    this.#R = R;
    this.#W = W;
    this.#seed = seed;
    this.#epoch = epoch;
    this.#blocks = new Rng(derivedSeed(seed, epoch, -1)).shuffle(Int32Array.from({ length: nBlocks }, (_, i) => i));
    this.windows = Math.ceil(nBlocks / W);
    this.#short = nBlocks * R - n;
    this.#shortWindow = Math.floor(this.#blocks.indexOf(nBlocks - 1) / W);
  }

  /** The epoch's positions [start, end) that window w covers. */
  windowRange(w: number): [number, number] {
    const span = this.#W * this.#R;
    const start = w * span - (w > this.#shortWindow ? this.#short : 0);
    const blocks = Math.min(this.#W, this.#blocks.length - w * this.#W);
    return [start, start + blocks * this.#R - (w === this.#shortWindow ? this.#short : 0)];
  }

  /** The window that holds position p. */
  windowAt(p: number): number {
    const span = this.#W * this.#R;
    let w = Math.floor(p / span);
    if (w >= this.#shortWindow) w = Math.floor((p + this.#short) / span);
    return Math.min(w, this.windows - 1);
  }

  blocksOf(w: number): number[] {
    return Array.from(this.#blocks.subarray(w * this.#W, (w + 1) * this.#W));
  }

  /** (rows,) the order of window w's rows (a permutation drawn from (seed, epoch, w)). */
  windowOrder(w: number, rows: number): Int32Array {
    return new Rng(derivedSeed(this.#seed, this.#epoch, w)).shuffle(Int32Array.from({ length: rows }, (_, i) => i));
  }
}

/** A 32-bit seed for the stream of (seed, epoch, part): murmur3's finaliser over the three, so
 *  that nearby triples give unrelated generators. */
export function derivedSeed(seed: number, epoch: number, part: number): number {
  let h = seed >>> 0;
  for (const x of [epoch, part]) {
    h = (h ^ Math.imul((x | 0) + 0x7f4a7c15, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}
