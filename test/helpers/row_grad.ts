// A random row-sparse gradient for the optimizer tests: L lookups of random rows in the first
// half of a (R, E) table (so ids repeat and some rows are never touched), each with E values
// in [-1, 1), accumulated into the parameter by accumulateRows (which merges repeated ids, as
// embeddingBag's backward does). Returns the float64 dense sum of the lookups' values, to
// feed a float64 reference, and the rows touched.

import { accumulateRows } from "../../src/autograd/grad.ts";
import type { Rng } from "../../src/tensor/rng.ts";
import type { Tensor } from "../../src/tensor/tensor.ts";

export function randomRowGrad(
  p: Tensor,
  R: number,
  E: number,
  L: number,
  rng: Rng,
): { g: Float64Array; touched: Set<number> } {
  const ids = new Int32Array(L);
  const values = new Float32Array(L * E);
  for (let l = 0; l < L; l++) ids[l] = rng.int(Math.max(1, Math.floor(R / 2)));
  for (let i = 0; i < values.length; i++) values[i] = rng.uniformIn(-1, 1);
  accumulateRows(p, ids, values, E);
  const g = new Float64Array(R * E);
  for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) g[(ids[l] as number) * E + e] += values[l * E + e] as number;
  return { g, touched: new Set(ids) };
}
