// DLRM's initial parameters, as the reference draws them (dlrm_s_pytorch.py create_mlp and
// create_emb, tricks/qr_embedding_bag.py, tricks/md_embedding_bag.py), but from
// counter-based streams (src/tensor/philox.ts) instead of one sequential generator:
//
//   bot_l.{2i}.weight, top_l.{2i}.weight (O, I)   N(0, sqrt(2 / (I + O)))
//   bot_l.{2i}.bias,   top_l.{2i}.bias   (O,)     N(0, sqrt(1 / O))
//   inter_arch.deep.{2i}.weight / .bias           as bot_l (cross's deep MLP)
//   inter_arch.crossnet.*kernels.{l} (a, b)       N(0, sqrt(2 / (a + b))), TorchRec's xavier_normal_
//   inter_arch.crossnet.bias.{l}                  zeros
//   the tables' parameters                        by their layout (src/dlrm/tables/)
//   v_W_l.{t} (R,)                                ones (a constant: no stream drawn)
//
// parameterSpecs gives every parameter its rule; fillInitial draws it.
// Each parameter is its own stream, keyed by (seed, state_dict name), and element i of the
// flattened parameter is element i of its stream. So the value of any element depends only
// on the seed, the parameter's name and the element's position: a rank that owns rows
// [a, b) of table t fills exactly those rows, in place, and every worker count and row split
// builds the same model bit for bit. (The distributions are the reference's; the numbers are
// not the reference's numpy draws, which no other framework reproduces either.)
//
// Glossary: I/O a Linear's input/output width.

import { fillNormal, fillUniform, fillUniformRows, streamKey } from "../tensor/philox.ts";
import type { Module } from "../nn/module.ts";
import type { FloatArray } from "../tensor/tensor.ts";
import type { DLRMConfig } from "./config.ts";
import { crossnetSpecs } from "./interaction_arch.ts";
import { tableLayout } from "./tables/layout.ts";
import type { InitRule, ParameterSpec } from "./tables/piece.ts";

export type { InitRule, ParameterSpec } from "./tables/piece.ts";

/** The rule of an MLP parameter (bot_l.*, top_l.*) from its name and shape. */
export function mlpInit(name: string, shape: readonly number[]): InitRule {
  if (/^(bot_l|top_l|inter_arch\.deep)\.\d+\.weight$/.test(name) && shape.length === 2)
    return { kind: "normal", std: Math.sqrt(2 / (shape[0] + shape[1])) };
  if (/^(bot_l|top_l|inter_arch\.deep)\.\d+\.bias$/.test(name) && shape.length === 1)
    return { kind: "normal", std: Math.sqrt(1 / shape[0]) };
  throw new Error(`mlpInit: no DLRM initialisation for parameter "${name}" of shape (${shape.join(", ")})`);
}

/**
 * Fill out with elements [first, first + out.length) of parameter `name` (drawn by rule)
 * of the model with this seed: out is the whole parameter (first = 0) or a row range of it
 * (first = rowStart · row length).
 */
export function fillInitial(seed: number, name: string, rule: InitRule, out: FloatArray, first = 0): void {
  const key = streamKey(seed, name);
  if (rule.kind === "constant") out.fill(rule.value);
  else if (rule.kind === "uniform") fillUniform(out, key, first, rule.lo, rule.hi);
  else fillNormal(out, key, first, 0, rule.std);
}

/**
 * fillInitial's elements [first, first + rows · width) of parameter `name`, written in rows of
 * width every ld elements of out (row k from out[k · ld]): rows of a table drawn into records
 * that hold more than the row (src/dlrm/store/). A uniform rule draws in one call.
 */
export function fillInitialRows(
  seed: number,
  name: string,
  rule: InitRule,
  out: Float32Array,
  first: number,
  rows: number,
  width: number,
  ld: number,
): void {
  if (rule.kind === "uniform") fillUniformRows(out, streamKey(seed, name), first, rows, width, ld, rule.lo, rule.hi);
  else
    for (let k = 0; k < rows; k++)
      fillInitial(seed, name, rule, out.subarray(k * ld, k * ld + width), first + k * width);
}

/** Every parameter of the model of config, in state_dict order (bottom, interaction, top, tables, pooling weights). */
export function parameterSpecs(config: DLRMConfig): ParameterSpec[] {
  const mlp = (prefix: string, sizes: readonly number[]): ParameterSpec[] =>
    sizes.slice(1).flatMap((out, i) => {
      // nn.Sequential numbering: the Linear layers are children 0, 2, 4, … (activations between)
      const w = { name: `${prefix}.${2 * i}.weight`, shape: [out, sizes[i]] };
      const b = { name: `${prefix}.${2 * i}.bias`, shape: [out] };
      return [w, b].map((p) => ({ ...p, init: mlpInit(p.name, p.shape) }));
    });
  return [
    ...mlp("bot_l", config.bottom_mlp),
    ...crossnetSpecs(config),
    ...(config.deep_mlp === undefined ? [] : mlp("inter_arch.deep", config.deep_mlp)),
    ...mlp("top_l", config.top_mlp),
    ...tableLayout(config).specs(),
  ];
}

/** Fill every parameter of a module (named as in config's model) from the counter-based streams of this seed. */
export function initialiseParameters(m: Module, seed: number, config: DLRMConfig): void {
  const specs = new Map(parameterSpecs(config).map((s) => [s.name, s]));
  for (const [name, p] of m.namedParameters()) {
    const spec = specs.get(name);
    if (spec === undefined) throw new Error(`initialiseParameters: "${name}" is not a parameter of this model`);
    fillInitial(seed, name, spec.init, p.data);
  }
}
