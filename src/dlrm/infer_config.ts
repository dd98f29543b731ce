// The DLRM config of a checkpoint that records none (a reference state_dict saved as
// safetensors), read from its tensor shapes under the reference's names:
//   tables      emb_l.{t}.weight (R_t, E), t = 0 … F-1: the rows of each table and E;
//   bottom MLP  bot_l.{2i}.weight (out, in): [in of the first layer, out of each layer];
//   top MLP     top_l.{2i}.weight likewise, ending in 1; its first width W tells the
//               interaction: dot E + N(N-1)/2, dot with self-interaction E + N(N+1)/2,
//               cat E·N, with N = F + 1 features (src/ops/interaction.ts);
//   cross layers inter_arch.crossnet.W_kernels.{l} (N·E, r): dcn, L layers of rank r;
//               .kernels.{l} with the deep MLP inter_arch.deep.{2i}: cross
//               (src/dlrm/interaction_arch.ts), the top MLP's width then checked by parseConfig;
//   pooling     v_W_l.{t} (R_t,) for every table: the reference's learned weighted pooling
//               (--weighted-pooling learned); none: no weighting, or "fixed", whose weights
//               are ones kept out of the state_dict and compute the same numbers.
// The last layer is followed by a sigmoid, as in the reference (it has no parameters, so the
// file cannot say otherwise). What the shapes cannot tell is named in one line: a width that
// fits two interactions, or fits none. The rest of the config (loss, optimizer, data facts)
// takes parseConfig's defaults: they do not change what the model computes.
//
// checkpointConfig is what `dlrm predict` and `dlrm convert` use without --model: the config
// the file records (dlrm_config, written by dlrm train --save), else the one its shapes give.
//
// Glossary: E embedding dim, F tables, N = F + 1 interacting features, W top MLP input width.

import { ConfigError, parseConfig, type DLRMConfig } from "./config.ts";
import type { SafetensorsIndex } from "../io/safetensors.ts";
import { interactionWidth } from "../ops/interaction.ts";
import { isStateTensorName } from "../optim/make.ts";
import { formatShape } from "../tensor/shape.ts";

type Shapes = ReadonlyMap<string, readonly number[]>;

const PARAMETER =
  /^(bot_l|top_l|inter_arch\.deep)\.(\d+)\.(weight|bias)$|^emb_l\.(\d+)\.weight$|^v_W_l\.(\d+)$|^inter_arch\.crossnet\.(W_kernels|V_kernels|kernels|bias)\.\d+$/;

/** Why a tensor that is not a parameter of our DLRM is there, as far as its name tells. */
function foreignTensor(name: string, source: string): ConfigError {
  const what = /^(sparse_arch|dense_arch|over_arch|model\.sparse_arch)\./.test(name)
    ? "a TorchRec name: convert the file first with `dlrm convert <in> <out> --to reference`"
    : /^emb_l\.\d+\.(weight_q|weight_r|embs\.weight|proj\.weight)$/.test(name)
      ? "a QR or mixed-dimension embedding of the reference, which this DLRM does not have"
      : "not a parameter of the reference DLRM (bot_l.{2i}.weight/bias, top_l.{2i}.weight/bias, emb_l.{t}.weight)";
  return new ConfigError(`${source}: cannot infer the model config: tensor "${name}" is ${what}`);
}

/** [in, out_0, out_1, …] of the Linear layers prefix.{2i}, checked to chain. */
function mlpWidths(shapes: Shapes, prefix: "bot_l" | "top_l" | "inter_arch.deep", source: string): number[] {
  const layers = [...shapes.keys()]
    .filter((n) => n.startsWith(`${prefix}.`) && n.endsWith(".weight"))
    .map((n) => Number(n.slice(prefix.length + 1).split(".")[0]));
  layers.sort((a, b) => a - b);
  if (layers.length === 0)
    throw new ConfigError(
      `${source}: cannot infer the model config: no ${prefix}.0.weight (the ${prefix === "bot_l" ? "bottom" : prefix === "top_l" ? "top" : "deep"} MLP)`,
    );
  const widths: number[] = [];
  layers.forEach((k, i) => {
    const name = `${prefix}.${k}.weight`;
    if (k !== 2 * i)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${prefix} has layer ${k} where layer ${2 * i} should be (the Linear layers are ${prefix}.0, ${prefix}.2, …)`,
      );
    const w = shapes.get(name) as readonly number[];
    const bias = shapes.get(`${prefix}.${k}.bias`);
    if (w.length !== 2)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${name} has shape ${formatShape(w)}, not (out, in)`,
      );
    const [out, inp] = w as [number, number];
    if (bias === undefined)
      throw new ConfigError(`${source}: cannot infer the model config: ${name} has no ${prefix}.${k}.bias`);
    if (bias.length !== 1 || bias[0] !== out)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${prefix}.${k}.bias has shape ${formatShape(bias)} but ${name} is ${formatShape(w)}`,
      );
    if (i === 0) widths.push(inp);
    else if (inp !== widths[i])
      throw new ConfigError(
        `${source}: cannot infer the model config: ${name} takes ${inp} inputs but the layer before gives ${widths[i]}`,
      );
    widths.push(out);
  });
  for (const n of shapes.keys()) {
    const m = /^(bot_l|top_l|inter_arch\.deep)\.(\d+)\.bias$/.exec(n);
    if (m !== null && m[1] === prefix && !shapes.has(`${prefix}.${m[2]}.weight`))
      throw new ConfigError(`${source}: cannot infer the model config: ${n} has no ${prefix}.${m[2]}.weight`);
  }
  return widths;
}

/** Whether the tables have learned pooling weights: v_W_l.{t} (R_t,) for every table t, or for none. */
function learnedPooling(params: Shapes, tableSizes: readonly number[], source: string): boolean {
  const names = [...params.keys()].filter((n) => n.startsWith("v_W_l."));
  if (names.length === 0) return false;
  tableSizes.forEach((R, t) => {
    const name = `v_W_l.${t}`;
    const s = params.get(name);
    if (s === undefined)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${names.length} learned pooling weights (v_W_l) for ${tableSizes.length} tables, but no ${name} (learned weighted pooling gives every table one)`,
      );
    if (s.length !== 1 || s[0] !== R)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${name} has shape ${formatShape(s)} but emb_l.${t}.weight has ${R} rows (one pooling weight per row: (${R},))`,
      );
  });
  if (names.length !== tableSizes.length) {
    const extra = names.find((n) => !tableSizes.some((_, t) => n === `v_W_l.${t}`)) as string;
    throw new ConfigError(
      `${source}: cannot infer the model config: ${extra} is not the pooling weights of a table (emb_l.0 … emb_l.${tableSizes.length - 1})`,
    );
  }
  return true;
}

const INTERACTIONS = [
  { interaction: "dot", interaction_itself: false, label: "dot" },
  { interaction: "dot", interaction_itself: true, label: "dot with self-interaction" },
  { interaction: "cat", interaction_itself: false, label: "cat" },
] as const;

/** The config of a model with these parameter shapes (state_dict names); optimizer state tensors are ignored. */
export function inferConfig(shapes: Shapes, source: string): DLRMConfig {
  const params = new Map([...shapes].filter(([name]) => !isStateTensorName(name)));
  for (const name of params.keys()) if (!PARAMETER.test(name)) throw foreignTensor(name, source);

  const F = [...params.keys()].filter((n) => n.startsWith("emb_l.")).length;
  const tableSizes: number[] = [];
  let E: number | null = null;
  for (let t = 0; t < F; t++) {
    const name = `emb_l.${t}.weight`;
    const s = params.get(name);
    if (s === undefined)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${F} tables but no ${name} (tables are emb_l.0 … emb_l.${F - 1})`,
      );
    if (s.length !== 2)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${name} has shape ${formatShape(s)}, not (rows, dim)`,
      );
    const [rows, dim] = s as [number, number];
    if (E !== null && dim !== E)
      throw new ConfigError(
        `${source}: cannot infer the model config: ${name} has dim ${dim} but emb_l.0.weight has ${E} (every table must have the same dim)`,
      );
    E = dim;
    tableSizes.push(rows);
  }
  const weighted = learnedPooling(params, tableSizes, source);
  const bottom = mlpWidths(params, "bot_l", source);
  const top = mlpWidths(params, "top_l", source);
  const bottomOut = bottom[bottom.length - 1];
  if (E !== null && bottomOut !== E)
    throw new ConfigError(
      `${source}: cannot infer the model config: the bottom MLP ends in ${bottomOut} but the tables have dim ${E} (they must match to interact)`,
    );
  const dim = E ?? bottomOut;
  if (top[top.length - 1] !== 1)
    throw new ConfigError(
      `${source}: cannot infer the model config: the top MLP ends in ${top[top.length - 1]}, not 1 (one click probability)`,
    );

  const cross = crossFields(params, source);
  if (cross !== null)
    return parseConfig(
      {
        dense_features: bottom[0],
        bottom_mlp: bottom,
        embedding_dim: dim,
        table_sizes: tableSizes,
        ...cross,
        top_mlp: top,
        ...(weighted ? { weighted_pooling: "learned" } : {}),
      },
      `${source} (config inferred from its shapes)`,
    );
  const W = top[0];
  const fits = INTERACTIONS.filter((c) => interactionWidth(dim, F, c.interaction, c.interaction_itself) === W);
  // With no tables, dot and cat both pass the bottom vector on alone: the same model.
  const distinct = F === 0 ? fits.filter((c) => c.label !== "cat") : fits;
  const N = F + 1;
  if (distinct.length === 0) {
    const widths = INTERACTIONS.map(
      (c) => `${c.label} ${interactionWidth(dim, F, c.interaction, c.interaction_itself)}`,
    ).join(", ");
    throw new ConfigError(
      `${source}: cannot infer the model config: top_l.0.weight takes ${W} inputs, which fits no interaction of ${F} tables of dim ${dim} (N = ${N} features: ${widths})`,
    );
  }
  if (distinct.length > 1) {
    throw new ConfigError(
      `${source}: the interaction is ambiguous: top_l.0.weight takes ${W} inputs, which fits ${distinct.map((c) => `"${c.label}"`).join(" and ")} for ${F} tables of dim ${dim}; give --model with "interaction" and "interaction_itself"`,
    );
  }
  const chosen = distinct[0];
  return parseConfig(
    {
      dense_features: bottom[0],
      bottom_mlp: bottom,
      embedding_dim: dim,
      table_sizes: tableSizes,
      interaction: chosen.interaction,
      interaction_itself: chosen.interaction_itself,
      top_mlp: top,
      ...(weighted ? { weighted_pooling: "learned" } : {}),
    },
    `${source} (config inferred from its shapes)`,
  );
}

/**
 * The interaction fields of a model with cross layers (inter_arch.crossnet.*): dcn, from
 * W_kernels.{l} (N, r), or cross, from kernels.{l} (N, 1) and the deep MLP inter_arch.deep;
 * null for one without (dot or cat). parseConfig then checks N against the tables and the top MLP.
 */
function crossFields(params: Shapes, source: string): Record<string, unknown> | null {
  const count = (what: string): number => {
    let l = 0;
    while (params.has(`inter_arch.crossnet.${what}.${l}`)) l++;
    return l;
  };
  const layers = [...params.keys()].filter((n) => /^inter_arch\.crossnet\.bias\.\d+$/.test(n)).length;
  if (layers === 0) return null;
  const [lowRank, vector] = [count("W_kernels"), count("kernels")];
  const L = lowRank > 0 ? lowRank : vector;
  const bad = (what: string): never => {
    throw new ConfigError(`${source}: cannot infer the model config: ${what}`);
  };
  if (lowRank > 0 === vector > 0 || count("bias") !== layers || L !== layers)
    bad(
      `its cross layers are neither DCN-v2's (W_kernels, V_kernels, bias .0 … .L-1) nor DCN's (kernels, bias .0 … .L-1): ${lowRank} W_kernels, ${vector} kernels, ${layers} biases`,
    );
  if (lowRank > 0) {
    const W = params.get("inter_arch.crossnet.W_kernels.0") as readonly number[];
    if (W.length !== 2) bad(`inter_arch.crossnet.W_kernels.0 has shape ${formatShape(W)}, not (N, r)`);
    return { interaction: "dcn", dcn_num_layers: L, dcn_low_rank_dim: W[1] };
  }
  return { interaction: "cross", dcn_num_layers: L, deep_mlp: mlpWidths(params, "inter_arch.deep", source) };
}

/** The config a checkpoint records (its dlrm_config metadata), else the one its shapes give: its index (header) alone. */
export function checkpointConfig(index: SafetensorsIndex): DLRMConfig {
  const path = index.path;
  const recorded = index.metadata["dlrm_config"];
  if (recorded === undefined) return inferConfig(new Map([...index.entries].map(([name, e]) => [name, e.shape])), path);
  let json: unknown;
  try {
    json = JSON.parse(recorded);
  } catch {
    throw new ConfigError(`${path}: its dlrm_config metadata is not JSON; give --model`);
  }
  return parseConfig(json, `${path} (dlrm_config metadata)`);
}
