// An ensemble of DLRMs: K models of one config, trained alike but each from its own seed
// (initialisation and shuffling), whose predicted click probabilities are averaged. The
// members' errors are partly independent (on MovieLens-100K the seed-to-seed spread of one
// model's test AUC is as large as most configuration changes), so the average ranks better
// than a typical member: docs/results.md has the numbers. `dlrm train --ensemble K` trains
// the members one after another; `dlrm predict` averages the checkpoints it is given.
//
// Glossary: K members, N samples.

import { OpError } from "../tensor/shape.ts";

/** The seed of member k of an ensemble started from `seed` (member 0 is a plain run's model). */
export function memberSeed(seed: number, k: number): number {
  return seed + k;
}

/**
 * Where member k of K is saved: the path itself for a single model, else the path with
 * `.member<k>` before its extension (model.safetensors → model.member0.safetensors, …).
 */
export function memberPath(path: string, k: number, K: number): string {
  if (K === 1) return path;
  const dot = path.lastIndexOf(".");
  const slash = path.lastIndexOf("/");
  return dot > slash + 1 ? `${path.slice(0, dot)}.member${k}${path.slice(dot)}` : `${path}.member${k}`;
}

/** The mean (N,) of K prediction vectors (N,) each, summed in float64. */
export function averagePredictions(preds: readonly Float32Array[]): Float32Array {
  const K = preds.length;
  if (K === 0) throw new OpError("averagePredictions", "needs at least one member's predictions, got none");
  const N = preds[0].length;
  preds.forEach((p, k) => {
    if (p.length !== N)
      throw new OpError("averagePredictions", `member ${k} has ${p.length} predictions, member 0 has ${N}`);
  });
  const out = new Float32Array(N); // (N,)
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += preds[k][i];
    out[i] = s / K;
  }
  return out;
}
