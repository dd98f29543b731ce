// Generated data, addressed by sample: sample i of stream s is drawn from its own
// generator, keyed by (seed, s, i) (sampleRng). So any range of samples — a training batch,
// an evaluation split, a whole --data-size set — is made without making what comes before
// it, in memory that grows with the range only, and the same on every worker count and
// after a resume. Streams keep apart what must not overlap (training, evaluation, the
// synthetic teacher's calibration). GeneratedSource serves endless generated data to the
// trainer batch by batch: step s is samples [s·B, (s+1)·B) of the training stream.
//
// The generators (src/data/random.ts, src/data/trace.ts, src/dlrm/synthetic.ts) differ in
// how a bag's length is drawn and how labels follow; drawSamples holds what they share.
//
// Glossary: N samples, Dd dense features, F tables, B batch size.

import { promised, stepPlace, type BagLimits, type BatchSource } from "./batch_source.ts";
import type { Dataset, SparseFeature } from "./dataset.ts";
import { Rng } from "../tensor/rng.ts";

/** Elements of the largest typed array. */
const MAX_ARRAY = 2 ** 32;

/** Streams of generated samples under one seed. */
export const STREAM = { train: 0, eval: 1, calibration: 0x7fffffff } as const;

/** Samples of the held-out split beside generated training data: a fifth of a finite
 *  --data-size set, at least 1000; beside the endless stream a fixed 50,000, so that
 *  evaluation stays bounded however long the run. */
export function heldOutSize(dataSize: number | null): number {
  return dataSize === null ? 50000 : Math.max(1000, Math.round(dataSize / 5));
}

/** One step of a 32-bit hash: for a fixed h, a bijection of x (xor, odd multiply, xorshift). */
function mix(h: number, x: number): number {
  h = Math.imul(h ^ x, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The generator of sample i (an integer in [0, 2^53)) of stream `stream` under `seed`. Its four
 *  state words are four hashes of (seed, stream, i); each is a bijection of i's low word, so
 *  samples of one stream below 2^32 never share a state. */
export function sampleRng(seed: number, stream: number, i: number): Rng {
  return reseedSample(new Rng(0), seed, stream, i);
}

/** rng continued as sampleRng(seed, stream, i) starts, in place: a batch's samples reuse one
 *  generator (a new one per sample was most of the time it took to make a batch). */
function reseedSample(rng: Rng, seed: number, stream: number, i: number): Rng {
  const lo = i >>> 0;
  const hi = Math.floor(i / 0x100000000) >>> 0;
  const s = seed | 0;
  const w0 = mix(mix(mix(mix(0x9e3779b9, s), stream), hi), lo);
  const w1 = mix(mix(mix(mix(0x7f4a7c15, s), stream), hi), lo);
  const w2 = mix(mix(mix(mix(0xf39cc060, s), stream), hi), lo);
  const w3 = mix(mix(mix(mix(0x5ced1e6b, s), stream), hi), lo);
  // xoshiro's one forbidden state (all zero) becomes w0 = 1
  rng.setWords((w0 | w1 | w2 | w3) === 0 ? 1 : w0, w1, w2, w3);
  return rng;
}

/** What one generated sample holds. */
export interface SampleShape {
  denseFeatures: number;
  tableSizes: readonly number[];
  /** The most lookups a bag can have (sizes the buffers). */
  maxBag: number;
  /** Draw a per-lookup weight uniform in [0, 1) for every lookup. */
  weights: boolean;
}

/** A sample's shape, and how its bags are drawn. */
export interface SampleLayout extends SampleShape {
  /** A bag's length for a table of R rows. */
  bagLength(rng: Rng, R: number): number;
}

export interface DrawnSamples {
  /** The samples; their labels are left 0 for the caller to set. */
  data: Dataset;
  /** (N,) one more uniform draw per sample, for its label. */
  labelDraws: Float64Array;
}

/** Samples [first, first + n) of a stream. Each sample draws, from its own generator: its
 *  Dd dense values uniform in [0, 1); per table a bag length, then its ids uniform over the
 *  table and their weights; last, the uniform its label is decided by. */
export function drawSamples(
  layout: SampleLayout,
  seed: number,
  stream: number,
  first: number,
  n: number,
): DrawnSamples {
  if (!Number.isSafeInteger(first) || first < 0)
    throw new Error(`generated data: the first sample must be a non-negative integer, got ${first}`);
  if (!Number.isInteger(n) || n < 0) throw new Error(`generated data: n must be a non-negative integer, got ${n}`);
  const Dd = layout.denseFeatures;
  const F = layout.tableSizes.length;
  if (n * Dd > MAX_ARRAY || n * layout.maxBag > MAX_ARRAY) {
    throw new Error(
      `generated data: ${n} samples × ${Math.max(Dd, layout.maxBag)} values (dense features or lookups per bag) are more than one array holds (${MAX_ARRAY})`,
    );
  }
  // Every table's arrays are views of one array per kind (a handful of allocations per batch
  // instead of four per table: on the main thread their garbage cost more than the drawing).
  const M = n * layout.maxBag; // room for the longest bags; cut to the drawn lookups at the end
  const dense = new Float32Array(n * Dd);
  const lengths = new Int32Array(F * n); // table t's at t·n
  const ids = new Int32Array(F * M); // table t's at t·M
  const weights = layout.weights ? new Float32Array(F * M) : null;
  const used = new Int32Array(F);
  const labelDraws = new Float64Array(n);
  const rng = new Rng(0);
  for (let i = 0; i < n; i++) {
    reseedSample(rng, seed, stream, first + i);
    for (let j = 0; j < Dd; j++) dense[i * Dd + j] = rng.uniform();
    for (let t = 0; t < F; t++) {
      const R = layout.tableSizes[t];
      const len = layout.bagLength(rng, R);
      lengths[t * n + i] = len;
      const at = t * M + used[t];
      for (let l = 0; l < len; l++) {
        ids[at + l] = rng.int(R);
        if (weights !== null) weights[at + l] = rng.uniform();
      }
      used[t] += len;
    }
    labelDraws[i] = rng.uniform();
  }
  // The drawn lookups of the tables back to back (the arrays as drawn when every bag is full).
  let total = 0;
  for (let t = 0; t < F; t++) total += used[t];
  const full = total === F * M;
  const indices = full ? ids : new Int32Array(total);
  const kept = full || weights === null ? weights : new Float32Array(total);
  const offsets = new Int32Array(F * (n + 1)); // table t's at t·(n + 1)
  const sparse: SparseFeature[] = [];
  for (let t = 0, from = 0; t < F; t++) {
    const L = used[t];
    if (!full) {
      indices.set(ids.subarray(t * M, t * M + L), from);
      if (weights !== null) (kept as Float32Array).set(weights.subarray(t * M, t * M + L), from);
    }
    const o = offsets.subarray(t * (n + 1), (t + 1) * (n + 1));
    for (let i = 0; i < n; i++) o[i + 1] = o[i] + lengths[t * n + i];
    sparse.push({
      lengths: lengths.subarray(t * n, (t + 1) * n),
      offsets: o,
      indices: indices.subarray(from, from + L),
      weights: kept === null ? null : kept.subarray(from, from + L),
    });
    from += full ? M : L;
  }
  return { data: { n, denseFeatures: Dd, dense, labels: new Float32Array(n), sparse }, labelDraws };
}

/**
 * Endless generated data, batch by batch (a BatchSource, src/data/batch_source.ts): step s
 * at batch size B is samples [s·B, (s + 1)·B) of the training stream, made when asked for
 * by `draw` (a pure function of the range), so nothing is held between steps and a run of
 * any length starts at once.
 */
export class GeneratedSource implements BatchSource {
  readonly shape: SampleShape;
  readonly samplesPerEpoch = Infinity;
  readonly #draw: (first: number, n: number) => Dataset;

  constructor(shape: SampleShape, draw: (first: number, n: number) => Dataset) {
    this.shape = shape;
    this.#draw = draw;
  }

  get denseFeatures(): number {
    return this.shape.denseFeatures;
  }
  get tables(): number {
    return this.shape.tableSizes.length;
  }

  /** Every bag has at most maxBag lookups; all tables have weights or none. */
  get bags(): BagLimits {
    return {
      longest: this.shape.tableSizes.map(() => this.shape.maxBag),
      weighted: this.shape.tableSizes.map(() => this.shape.weights),
    };
  }

  batch(step: number, batchSize: number): Promise<Dataset> {
    return promised(() => this.batchNow(step, batchSize));
  }

  /** batch() without the promise. */
  batchNow(step: number, batchSize: number): Dataset {
    const { start } = stepPlace(Infinity, step, batchSize, "generated data");
    if (!Number.isSafeInteger(start + batchSize))
      throw new RangeError(`generated data: step ${step} × batch ${batchSize} is past 2^53 samples`);
    return this.#draw(start, batchSize);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
