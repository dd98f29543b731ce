// Where training batches come from: a BatchSource hands the trainer the batch of any step,
// so that data of any size (a file read by position, a generator, a user's own code) feeds
// the same loop, and prefetching and resuming need nothing but the step number.
//
// The contract (every implementation keeps it; the trainer relies on it):
//   - batch(step, B) is a pure function of the source's configuration (its seed, its file)
//     and of (step, B): the trainer may ask for steps ahead of the one it trains (prefetch),
//     several at once and in any order, and a resumed run asks for the steps it had not done;
//   - steps count across epochs. With samplesPerEpoch = N finite, epoch e = ⌊step / K⌋ with
//     K = ⌈N / B⌉ batches per epoch, and step s is batch k = s mod K of that epoch: samples
//     [k·B, min(N, (k+1)·B)) of the epoch's order, so the last batch of an epoch may be short.
//     With N = Infinity (endless generated data) every batch has B samples;
//   - a batch is a fresh Dataset of its own (the caller may keep it while later batches are
//     made) with the source's denseFeatures and `tables` sparse features;
//   - close() releases files and threads; no call may follow it.
//
// DatasetSource adapts an in-memory Dataset: file order, or a fresh permutation of all N
// samples each epoch (EpochPermutations: the order the trainer always gave in-memory data).
//
// Glossary: N samples per epoch, B batch size, K batches per epoch, e epoch, k a batch's
// index within its epoch.

import { selectSamples, sliceDataset, type Dataset } from "./dataset.ts";
import { Rng, type RngState } from "../tensor/rng.ts";

export interface BatchSource {
  /** Dense features per sample (Dd). */
  readonly denseFeatures: number;
  /** Sparse features (tables, F) of every batch. */
  readonly tables: number;
  /** Samples in one pass over the data (N); Infinity for endless generated data. */
  readonly samplesPerEpoch: number;
  /** The batch of global step `step` (from 0, across epochs) at batch size B. */
  batch(step: number, batchSize: number): Promise<Dataset>;
  /** Releases the source's files and threads. */
  close(): Promise<void>;
  /** When known: the longest bag of each table over all batches, and whether its lookups carry
   *  weights (what the ranks' shared batch-slot memory is sized from, src/parallel/batch_slots.ts). */
  readonly bags?: BagLimits | undefined;
  /** For sources whose order the run decides (a file: in file order or shuffled): the same
   *  samples in that order, as a new source sharing this one's resources (close it; closing
   *  this one ends both). train() calls it with its `shuffle` and `seed`; sources without it
   *  (generators) have the one order of their seed. */
  withOrder?(order: { shuffle: boolean; seed: number }): BatchSource;
}

/** Per table: the longest bag and whether lookups carry weights. */
export interface BagLimits {
  readonly longest: readonly number[];
  readonly weighted: readonly boolean[];
}

/** Whether x is a BatchSource (as opposed to a Dataset or an iterable of batches). */
export function isBatchSource(x: unknown): x is BatchSource {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as BatchSource).batch === "function" &&
    typeof (x as BatchSource).samplesPerEpoch === "number"
  );
}

/** Batches per pass over N samples (the last one may be short); Infinity for endless data. */
export function batchesPerEpoch(n: number, batchSize: number): number {
  return n === Infinity ? Infinity : Math.ceil(n / batchSize);
}

/** Where step `step` falls: its epoch, its batch k within the epoch, and its samples
 *  [start, start + count) of that epoch's order. */
export interface StepPlace {
  epoch: number;
  k: number;
  start: number;
  count: number;
}

/** f's value as a promise, and what it throws as a rejection: a source whose batches are made on
 *  this thread still fails through the promise, as one that reads a file does. */
export function promised<T>(f: () => T): Promise<T> {
  try {
    return Promise.resolve(f());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The place of a step in a source of N samples per epoch (N may be Infinity); checks the
 *  step and the batch size, naming `who` in errors. */
export function stepPlace(n: number, step: number, batchSize: number, who: string): StepPlace {
  if (!Number.isSafeInteger(step) || step < 0)
    throw new RangeError(`${who}: step must be a non-negative integer, got ${step}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new RangeError(`${who}: the batch size must be a positive integer, got ${batchSize}`);
  if (n === Infinity) return { epoch: 0, k: step, start: step * batchSize, count: batchSize };
  if (!(Number.isSafeInteger(n) && n > 0)) throw new RangeError(`${who}: the data has no samples (N = ${n})`);
  const K = batchesPerEpoch(n, batchSize);
  const epoch = Math.floor(step / K);
  const k = step - epoch * K;
  const start = k * batchSize;
  return { epoch, k, start, count: Math.min(n, start + batchSize) - start };
}

/** A data order's generator at the start of an epoch (what a checkpoint records for in-memory data). */
export interface EpochOrderState {
  epoch: number;
  rng: RngState;
}

export interface DatasetSourceOptions {
  /** A fresh permutation of all samples each epoch (default: file order). */
  shuffle?: boolean;
  /** Seed of the permutations (default 0). */
  seed?: number;
  /** Continue from this generator state at the start of this epoch (a checkpoint's) instead
   *  of from the seed; earlier epochs are then out of reach. */
  from?: EpochOrderState | null;
}

/**
 * The per-epoch permutations of N samples: epoch e's order is the e-th draw of one generator
 * seeded by `seed` (Fisher–Yates over the identity, the draws one after the other), so epoch
 * e is a pure function of (seed, e), and of the generator's state at an earlier epoch. The
 * order in-memory data trains in, and a streamed file small enough to shuffle whole
 * (BatchFileSource), so that both give the same batches. The orders of the two latest epochs
 * asked for are kept (prefetching crosses an epoch's end).
 */
export class EpochPermutations {
  readonly n: number;
  readonly #known = new Map<number, RngState>(); // generator state at the start of an epoch
  readonly #orders = new Map<number, Int32Array>(); // (N,) the order of an epoch, at most two
  readonly #first: number;
  readonly #who: string;

  /** `from`: continue from this generator state at the start of its epoch instead of from the
   *  seed; earlier epochs are then out of reach. `who` is named in errors. */
  constructor(n: number, seed: number, from: EpochOrderState | null, who: string) {
    this.n = n;
    this.#who = who;
    this.#first = from?.epoch ?? 0;
    this.#known.set(this.#first, from?.rng ?? new Rng(seed).getState());
  }

  /** The generator's state at the start of `epoch`. */
  stateAt(epoch: number): EpochOrderState {
    this.orderOf(epoch);
    return { epoch, rng: this.#known.get(epoch) as RngState };
  }

  /** (N,) the samples of `epoch` in their order. */
  orderOf(epoch: number): Int32Array {
    const kept = this.#orders.get(epoch);
    if (kept !== undefined) return kept;
    if (epoch < this.#first)
      throw new RangeError(`${this.#who}: epoch ${epoch} is before epoch ${this.#first}, where this order starts`);
    let e = epoch;
    while (!this.#known.has(e)) e--;
    const rng = Rng.fromState(this.#known.get(e) as RngState);
    let order = new Int32Array(0);
    for (; e <= epoch; e++) {
      this.#known.set(e, rng.getState());
      order = rng.shuffle(Int32Array.from({ length: this.n }, (_, i) => i));
    }
    this.#known.set(epoch + 1, rng.getState());
    this.#orders.set(epoch, order);
    for (const old of this.#orders.keys()) if (this.#orders.size > 2 && old !== epoch) this.#orders.delete(old);
    return order;
  }
}

/** An in-memory Dataset as a BatchSource: file order, or with shuffle the EpochPermutations of `seed`. */
export class DatasetSource implements BatchSource {
  readonly data: Dataset;
  readonly shuffle: boolean;
  readonly #orders: EpochPermutations;

  constructor(data: Dataset, o: DatasetSourceOptions = {}) {
    if (data.n === 0) throw new RangeError("DatasetSource: the data has no samples");
    this.data = data;
    this.shuffle = o.shuffle ?? false;
    this.#orders = new EpochPermutations(data.n, o.seed ?? 0, o.from ?? null, "DatasetSource");
  }

  get denseFeatures(): number {
    return this.data.denseFeatures;
  }
  get tables(): number {
    return this.data.sparse.length;
  }
  get samplesPerEpoch(): number {
    return this.data.n;
  }
  get bags(): BagLimits {
    return {
      longest: this.data.sparse.map((f) => {
        let m = 0;
        for (let i = 0; i < this.data.n; i++) m = Math.max(m, f.offsets[i + 1] - f.offsets[i]);
        return m;
      }),
      weighted: this.data.sparse.map((f) => f.weights !== null),
    };
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    return promised(() => this.batchNow(step, batchSize));
  }

  /** batch() without the promise, for callers on this thread. */
  batchNow(step: number, batchSize: number): Dataset {
    const p = stepPlace(this.data.n, step, batchSize, "DatasetSource");
    if (!this.shuffle) return sliceDataset(this.data, p.start, p.start + p.count);
    return selectSamples(this.data, this.orderOf(p.epoch).subarray(p.start, p.start + p.count));
  }

  /** The order generator's state at the start of `epoch` (null without shuffling). */
  orderState(epoch: number): EpochOrderState | null {
    return this.shuffle ? this.#orders.stateAt(epoch) : null;
  }

  /** (N,) the samples of `epoch` in their order. */
  orderOf(epoch: number): Int32Array {
    return this.#orders.orderOf(epoch);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
