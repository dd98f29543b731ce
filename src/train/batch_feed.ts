// What the training loop takes batches from: whatever `train({ data })` was given — an
// in-memory Dataset, a BatchSource (a file read by position, a generator), or an iterable or
// async iterable of Datasets (a user's own code) — as one feed that hands out the batch of
// each step in turn and asks for the next ones ahead (prefetch), so that a step never waits
// for a batch that could have been made while the step before it ran.
//
// Evaluation reads its data the same way, in order: predictions and labels come out whole
// (N_eval floats each: the metrics need them all), the samples themselves one batch at a time.
//
// Glossary: B batch size, P batches asked for ahead, N_eval evaluation samples.

import {
  DatasetSource,
  isBatchSource,
  stepPlace,
  type BatchSource,
  type EpochOrderState,
} from "../data/batch_source.ts";
import type { Dataset } from "../data/dataset.ts";
import type { RngState } from "../tensor/rng.ts";
import type { Executor } from "./executor.ts";

/** What the trainer trains on: in-memory data, a source of batches by step, or batches in turn. */
export type TrainData = Dataset | BatchSource | Iterable<Dataset> | AsyncIterable<Dataset>;

/** Batches asked for ahead of the step being trained, unless told otherwise. */
export const DEFAULT_PREFETCH = 4;

export interface FeedOptions {
  batchSize: number;
  /** For in-memory data: a fresh permutation each epoch, from this seed (or from `from`). */
  shuffle: boolean;
  seed: number;
  /** The step the run starts at, and the order generator's state at the start of its epoch (a checkpoint's). */
  first: number;
  orderRng: RngState | null;
  /** Steps the run goes to (nothing is asked for past them). */
  end: number;
  prefetch: number;
}

/** The batches of steps first, first + 1, … in turn. */
export interface BatchFeed {
  /** Samples per epoch, or null when unknown (an iterable). */
  readonly samplesPerEpoch: number | null;
  /** The batch of the next step, or null when an iterable has ended. */
  next(): Promise<Dataset | null>;
  /**
   * The batches of the next up to k steps after the one next() last handed out, without
   * taking them: what an executor plans its table caches with. Fewer near the end, and none
   * from a sync iterable (it may reuse a batch's buffers once the next is asked for).
   */
  peek(k: number): Promise<Dataset[]>;
  /** The order generator's state at the start of the epoch of step `step` (in-memory data with shuffling), else null. */
  orderState(step: number): RngState | null;
  /** Stops asking ahead; lets an iterable clean up. */
  close(): Promise<void>;
}

function isDataset(x: TrainData): x is Dataset {
  return (x as Dataset).dense instanceof Float32Array && typeof (x as Dataset).n === "number";
}

/** The feed of `data`; throws on data that is none of the TrainData forms. */
export function batchFeed(data: TrainData, o: FeedOptions): BatchFeed {
  if (isDataset(data)) {
    const K = Math.ceil(data.n / o.batchSize);
    const from: EpochOrderState | null =
      o.shuffle && o.orderRng !== null && data.n > 0 ? { epoch: Math.floor(o.first / K), rng: o.orderRng } : null;
    const src = new DatasetSource(data, { shuffle: o.shuffle, seed: o.seed, from });
    return sourceFeed(
      src,
      o,
      (step) => src.orderState(stepPlace(data.n, step, o.batchSize, "train").epoch)?.rng ?? null,
    );
  }
  if (isBatchSource(data)) {
    if (data.withOrder === undefined) return sourceFeed(data, o, () => null);
    const ordered = data.withOrder({ shuffle: o.shuffle, seed: o.seed }); // a file: the run decides its order
    const feed = sourceFeed(ordered, o, () => null);
    return {
      ...feed,
      async close() {
        await feed.close();
        await ordered.close();
      },
    };
  }
  if (typeof (data as AsyncIterable<Dataset>)[Symbol.asyncIterator] === "function")
    return iteratorFeed((data as AsyncIterable<Dataset>)[Symbol.asyncIterator](), o.prefetch);
  if (typeof (data as Iterable<Dataset>)[Symbol.iterator] === "function")
    return iteratorFeed((data as Iterable<Dataset>)[Symbol.iterator](), 0);
  throw new TypeError("train: data must be a Dataset, a BatchSource, or an iterable or async iterable of Datasets");
}

/** Steps first … end - 1 of a source, each asked for up to P steps before it is trained. */
function sourceFeed(src: BatchSource, o: FeedOptions, orderState: (step: number) => RngState | null): BatchFeed {
  const ahead = new Map<number, Promise<Dataset>>();
  let next = o.first; // the step next() hands out
  let asked = o.first; // the first step not yet asked for
  const ask = (depth = Math.max(1, o.prefetch)): void => {
    while (asked < o.end && asked < next + depth) {
      const p = src.batch(asked, o.batchSize);
      p.catch(() => undefined); // a batch asked ahead and never trained (a stop) fails unheard
      ahead.set(asked, p);
      asked++;
    }
  };
  return {
    samplesPerEpoch: src.samplesPerEpoch,
    async next() {
      ask();
      const p = ahead.get(next);
      if (p === undefined) return null;
      ahead.delete(next);
      next++;
      ask();
      return p;
    },
    async peek(k) {
      ask(k);
      const out: Promise<Dataset>[] = [];
      for (let s = next; s < next + k && ahead.has(s); s++) out.push(ahead.get(s) as Promise<Dataset>);
      return Promise.all(out);
    },
    orderState,
    async close() {
      await Promise.allSettled([...ahead.values()]);
      ahead.clear();
    },
  };
}

/** Batches of an iterator, in turn: a sync one asked for each batch when it is due (it may
 *  reuse its buffers once the step is trained), an async one up to P batches ahead. */
function iteratorFeed(it: Iterator<Dataset> | AsyncIterator<Dataset>, prefetch: number): BatchFeed {
  const ahead: Promise<IteratorResult<Dataset>>[] = [];
  let ended = false;
  const ask = (upTo: number): void => {
    while (!ended && ahead.length < upTo) {
      const p = Promise.resolve(it.next());
      p.catch(() => undefined);
      ahead.push(p);
    }
  };
  return {
    samplesPerEpoch: null,
    async next() {
      ask(1);
      const p = ahead.shift();
      if (p === undefined) return null;
      const r = await p;
      if (r.done === true) {
        ended = true;
        return null;
      }
      ask(prefetch);
      return r.value;
    },
    async peek(k) {
      ask(Math.min(k, prefetch)); // a sync iterator (prefetch 0) is asked nothing ahead
      const out: Dataset[] = [];
      for (const p of ahead.slice(0, k)) {
        const r = await p;
        if (r.done === true) break;
        out.push(r.value);
      }
      return out;
    },
    orderState: () => null,
    async close() {
      ended = true;
      await Promise.allSettled(ahead);
      ahead.length = 0;
      await it.return?.();
    },
  };
}

/** Predictions (N,) of every sample of `data`, in order, and its labels (N,): a Dataset at
 *  once, a source one batch of B after the other (its epoch 0, two batches asked ahead). */
export async function predictAll(
  executor: Pick<Executor, "predict">,
  data: Dataset | BatchSource,
  batchSize: number,
): Promise<{ preds: Float32Array; labels: Float32Array }> {
  if (!isBatchSource(data)) return { preds: await executor.predict(data, batchSize), labels: data.labels };
  const N = data.samplesPerEpoch;
  if (!Number.isSafeInteger(N) || N < 1)
    throw new RangeError(`evaluation data must have a finite, positive number of samples, got ${N}`);
  const K = Math.ceil(N / batchSize);
  const preds = new Float32Array(N);
  const labels = new Float32Array(N);
  const feed = sourceFeed(
    data,
    { batchSize, shuffle: false, seed: 0, first: 0, orderRng: null, end: K, prefetch: 2 },
    () => null,
  );
  try {
    for (let k = 0, at = 0; k < K; k++) {
      const b = (await feed.next()) as Dataset;
      preds.set(await executor.predict(b, batchSize), at);
      labels.set(b.labels, at);
      at += b.n;
    }
  } finally {
    await feed.close();
  }
  return { preds, labels };
}
