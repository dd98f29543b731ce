// The interaction as `dlrm train` flags: --interaction dot|cat|dcn|cross, with
// --dcn-num-layers and --dcn-low-rank-dim (TorchRec's DLRM_DCN arguments, its defaults 3 and
// 512) and --deep-mlp (cross's deep network, hidden widths). They rewrite the config's
// interaction fields of the model that --model, --init or the built-in model gives, and its
// top MLP's first width, which the interaction decides (src/dlrm/config.ts topInputWidth);
// the top MLP's other widths stay. docs/dlrm.md draws each interaction.

import { ConfigError, crossWidth, DCN_DEFAULTS, parseConfig, topInputWidth, type DLRMConfig } from "../dlrm/config.ts";
import { getString, positiveInt, UsageError, type FlagSpecs, type ParsedFlags } from "./args.ts";

export const INTERACTION_FLAGS: FlagSpecs = {
  interaction: {
    type: "string",
    placeholder: "dot|cat|dcn|cross",
    help: "how the bottom vector and the tables' vectors meet (default: the model's): the reference's dot or cat; dcn, TorchRec's DLRM_DCN (a low-rank cross network, DCN-v2); cross, DCN (Wang et al. 2017: cross layers beside a deep MLP); the top MLP's first width follows",
  },
  "dcn-num-layers": {
    type: "int",
    help: "dcn, cross: the number of cross layers (default 3, TorchRec's)",
  },
  "dcn-low-rank-dim": {
    type: "int",
    help: "dcn: the rank r of each cross layer's W (N, r) · V (r, N), N = (tables + 1) × E (default 512, TorchRec's)",
  },
  "deep-mlp": {
    type: "string",
    placeholder: "w1-w2-…",
    help: "cross: the deep network's hidden widths, ReLU after each (default: the top MLP's hidden widths)",
  },
};

export const INTERACTION_FLAG_NAMES = Object.keys(INTERACTION_FLAGS);

/** config with the interaction the flags ask for (unchanged without them). */
export function withInteraction(config: DLRMConfig, f: ParsedFlags): DLRMConfig {
  const flag = getString(f, "interaction");
  if (flag === undefined && !INTERACTION_FLAG_NAMES.some((n) => f.has(n))) return config;
  if (flag !== undefined && !["dot", "cat", "dcn", "cross"].includes(flag))
    throw new UsageError(`train: --interaction must be dot, cat, dcn or cross, got "${flag}"`);
  const interaction = (flag ?? config.interaction) as DLRMConfig["interaction"];
  const goes: [string, readonly string[]][] = [
    ["dcn-num-layers", ["dcn", "cross"]],
    ["dcn-low-rank-dim", ["dcn"]],
    ["deep-mlp", ["cross"]],
  ];
  for (const [name, with_] of goes)
    if (f.has(name) && !with_.includes(interaction))
      throw new UsageError(`train: --${name} goes with --interaction ${with_.join(" or ")}, not ${interaction}`);

  const { dcn_num_layers, dcn_low_rank_dim, deep_mlp, ...rest } = config;
  const same = interaction === config.interaction;
  const out: DLRMConfig = {
    ...rest,
    interaction,
    interaction_itself: interaction === "dot" && config.interaction_itself,
  };
  if (interaction === "dcn" || interaction === "cross")
    out.dcn_num_layers = positiveInt("train", f, "dcn-num-layers", dcn_num_layers ?? DCN_DEFAULTS.dcn_num_layers);
  if (interaction === "dcn")
    out.dcn_low_rank_dim = positiveInt(
      "train",
      f,
      "dcn-low-rank-dim",
      dcn_low_rank_dim ?? DCN_DEFAULTS.dcn_low_rank_dim,
    );
  if (interaction === "cross")
    out.deep_mlp = [crossWidth(config), ...deepHidden(f, same ? deep_mlp : undefined, config)];
  out.top_mlp = [topInputWidth(out), ...config.top_mlp.slice(1)];
  try {
    return parseConfig(out, `train: the model with --interaction ${interaction}`);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

/** The deep MLP's hidden widths: --deep-mlp, else the config's own, else the top MLP's hidden widths. */
function deepHidden(f: ParsedFlags, own: readonly number[] | undefined, config: DLRMConfig): number[] {
  const text = getString(f, "deep-mlp");
  if (text !== undefined) {
    const widths = text.split("-").map(Number);
    if (text === "" || widths.some((w) => !Number.isInteger(w) || w < 1))
      throw new UsageError(`train: --deep-mlp must be positive widths joined by "-" (such as 512-256), got "${text}"`);
    return widths;
  }
  if (own !== undefined) return own.slice(1);
  const hidden = config.top_mlp.slice(1, -1);
  if (hidden.length === 0)
    throw new UsageError("train: --interaction cross needs --deep-mlp: the top MLP has no hidden widths to take");
  return hidden;
}
