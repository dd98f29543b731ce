// fast-check arbitraries for property tests of numerics: shapes (size-1 and empty dims
// included), float32 tensors on those shapes, and embedding-bag index bags (empty bags,
// repeated rows). fast-check is a peer dependency of dlrm-ts/testing (docs/testing.md).
//
// Glossary: R table rows, B bags, L lookups in all bags.

import fc from "fast-check";
import { fromArray, indexTensor, type IndexTensor, type Tensor } from "../tensor/tensor.ts";

export interface ShapeOptions {
  minRank?: number;
  maxRank?: number;
  /** Largest size of one dimension (default 5); 0 and 1 are always possible. */
  maxDim?: number;
  /** Whether a dimension may be 0 (default true). */
  allowEmpty?: boolean;
}

/** Shapes of rank minRank…maxRank (default 0…3), biased towards sizes 0 and 1. */
export function shapes(opts: ShapeOptions = {}): fc.Arbitrary<number[]> {
  const minDim = opts.allowEmpty === false ? 1 : 0;
  const maxDim = Math.max(minDim, opts.maxDim ?? 5);
  // fc.oneof weights: the edge sizes come up often instead of once in a few hundred runs.
  const dim = fc.oneof(
    { arbitrary: fc.constantFrom(...(minDim === 0 ? [0, 1] : [1])), weight: 1 },
    { arbitrary: fc.integer({ min: minDim, max: maxDim }), weight: 3 },
  );
  return fc.array(dim, { minLength: opts.minRank ?? 0, maxLength: opts.maxRank ?? 3 });
}

export interface TensorOptions extends ShapeOptions {
  /** Values lie in [-bound, bound] (default 10); always finite float32 numbers. */
  bound?: number;
  requiresGrad?: boolean;
  /** A fixed shape instead of a random one. */
  shape?: readonly number[];
}

/** Values for a given number of elements: finite float32, in [-bound, bound]. */
export function floats(n: number, bound = 10): fc.Arbitrary<number[]> {
  const b = Math.fround(bound);
  return fc.array(fc.float({ min: -b, max: b, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });
}

/** A float32 tensor on a random (or given) shape. */
export function tensors(opts: TensorOptions = {}): fc.Arbitrary<Tensor> {
  const shape = opts.shape !== undefined ? fc.constant([...opts.shape]) : shapes(opts);
  return shape.chain((s) =>
    floats(
      s.reduce((p, d) => p * d, 1),
      opts.bound,
    ).map((v) => fromArray(v, s, { requiresGrad: opts.requiresGrad ?? false })),
  );
}

/** Bags of row indices into a table of R rows, as embeddingBag takes them (indices, offsets). */
export interface IndexBags {
  indices: IndexTensor; // (L,)
  offsets: IndexTensor; // (B,), offsets[b] is where bag b starts in indices
  /** The same bags as plain arrays, for references. */
  bags: number[][];
}

export interface BagOptions {
  /** Rows in the table (R ≥ 1). */
  rows: number;
  minBags?: number;
  /** Default 6. */
  maxBags?: number;
  /** Largest bag (default 4); empty bags are always possible. */
  maxBagSize?: number;
}

/** Index bags with empty bags and repeated rows (a small R makes repeats common). */
export function indexBags(opts: BagOptions): fc.Arbitrary<IndexBags> {
  if (!Number.isInteger(opts.rows) || opts.rows < 1)
    throw new Error(`indexBags: rows must be a positive integer, got ${opts.rows}`);
  const bag = fc.array(fc.integer({ min: 0, max: opts.rows - 1 }), { maxLength: opts.maxBagSize ?? 4 });
  return fc.array(bag, { minLength: opts.minBags ?? 1, maxLength: opts.maxBags ?? 6 }).map((bags) => {
    const offsets: number[] = [];
    let at = 0;
    for (const b of bags) {
      offsets.push(at);
      at += b.length;
    }
    return { indices: indexTensor(Int32Array.from(bags.flat())), offsets: indexTensor(Int32Array.from(offsets)), bags };
  });
}
