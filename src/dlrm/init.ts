// DLRM's initial parameters, as the reference draws them (dlrm_s_pytorch.py create_mlp and
// create_emb), but from counter-based streams (src/tensor/philox.ts) instead of one
// sequential generator:
//
//   bot_l.{2i}.weight, top_l.{2i}.weight (O, I)   N(0, sqrt(2 / (I + O)))
//   bot_l.{2i}.bias,   top_l.{2i}.bias   (O,)     N(0, sqrt(1 / O))
//   emb_l.{t}.weight                      (R, E)   U(-sqrt(1 / R), sqrt(1 / R))
//
// Each parameter is its own stream, keyed by (seed, state_dict name), and element i of the
// flattened parameter is element i of its stream. So the value of any element depends only
// on the seed, the parameter's name and the element's position: a rank that owns rows
// [a, b) of table t fills exactly those rows, in place, and every worker count and row split
// builds the same model bit for bit. (The distributions are the reference's; the numbers are
// not the reference's numpy draws, which no other framework reproduces either.)
//
// Glossary: R rows of a table, E embedding dim, I/O a Linear's input/output width.

import { fillNormal, fillUniform, streamKey } from "../tensor/philox.ts";
import type { FloatArray } from "../tensor/tensor.ts";

/** The distribution of one parameter, from its state_dict name and its full shape. */
export type InitRule = { kind: "normal"; std: number } | { kind: "uniform"; bound: number };

export function initRule(name: string, shape: readonly number[]): InitRule {
  if (/^emb_l\.\d+\.weight$/.test(name) && shape.length === 2) return { kind: "uniform", bound: Math.sqrt(1 / (shape[0] as number)) };
  if (/^(bot_l|top_l)\.\d+\.weight$/.test(name) && shape.length === 2) return { kind: "normal", std: Math.sqrt(2 / ((shape[0] as number) + (shape[1] as number))) };
  if (/^(bot_l|top_l)\.\d+\.bias$/.test(name) && shape.length === 1) return { kind: "normal", std: Math.sqrt(1 / (shape[0] as number)) };
  throw new Error(`initRule: no DLRM initialisation for parameter "${name}" of shape (${shape.join(", ")})`);
}

/**
 * Fill out with elements [first, first + out.length) of parameter `name` (full shape
 * `shape`) of the model with this seed: out is the whole parameter (first = 0) or a row
 * range of it (first = rowStart · E).
 */
export function fillInitial(seed: number, name: string, shape: readonly number[], out: FloatArray, first = 0): void {
  const rule = initRule(name, shape);
  const key = streamKey(seed, name);
  if (rule.kind === "uniform") fillUniform(out, key, first, -rule.bound, rule.bound);
  else fillNormal(out, key, first, 0, rule.std);
}
