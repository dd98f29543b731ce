// The DLRM configuration: the JSON fields of ../shared/golden/README.md (model and run),
// validated with errors that name the file and the field.

import { interactionWidth } from "../ops/interaction.ts";

export interface DLRMConfig {
  /** Dense features per sample (Dd). */
  dense_features: number;
  /** Bottom MLP widths: first = dense_features, last = embedding_dim. */
  bottom_mlp: number[];
  /** Embedding width (E). */
  embedding_dim: number;
  /** Rows of each table. */
  table_sizes: number[];
  pooling: "sum" | "mean";
  /**
   * How the bottom vector and the tables' vectors meet (docs/dlrm.md): the reference's "dot"
   * and "cat"; "dcn", TorchRec's DLRM_DCN (a low-rank cross network, DCN-v2, over the
   * concatenated vectors); "cross", DCN (Wang et al. 2017: cross layers beside a deep MLP).
   */
  interaction: Interaction;
  /** dot only: include each feature's dot with itself. */
  interaction_itself: boolean;
  /** dcn and cross: the number of cross layers (TorchRec's dcn_num_layers). */
  dcn_num_layers?: number;
  /** dcn only: the rank r of each layer's W (N, r) · V (r, N) (TorchRec's dcn_low_rank_dim). */
  dcn_low_rank_dim?: number;
  /** cross only: the deep network's widths, first = the cross width N, ReLU after every layer. */
  deep_mlp?: number[];
  /** Top MLP widths: first = the interaction width, last = 1. */
  top_mlp: number[];
  /** bce: sigmoid output and binary cross-entropy (the reference's `--loss-function=bce`); mse: squared error on the sigmoid output. */
  loss: "bce" | "mse";
  optimizer: "sgd" | "adagrad" | "rowwise-adagrad" | "adam";
  lr: number;
  batch_size: number;
  steps: number;
  /** Facts of generated data: [min, max] lookups per bag, and the index dtype written. */
  bag_size: [number, number];
  index_dtype: "int32" | "int64";
  /** Whether samples carry per-lookup weights. */
  per_sample_weights: boolean;
  /** Quotient-remainder tables (the reference's --qr-flag; docs/tricks.md). */
  qr?: QRConfig;
  /** Mixed-dimension tables (the reference's --md-flag; docs/tricks.md). */
  md?: MDConfig;
  /**
   * The reference's --weighted-pooling: "learned" gives each table a weight per row,
   * v_W_l.{t} (R,) starting at ones, that scales the row's lookups before pooling; "fixed"
   * keeps those weights at one (the same numbers as no weighting). Absent: none.
   */
  weighted_pooling?: "fixed" | "learned";
}

/** A table of more than `threshold` rows becomes two: ids // collisions and ids % collisions, pooled apart, combined by `operation`. */
export interface QRConfig {
  threshold: number;
  collisions: number;
  operation: "mult" | "add" | "concat";
}

/** A table of more than `threshold` rows gets the md_solver's width (alpha-power rule) and a bias-free projection up to E. */
export interface MDConfig {
  threshold: number;
  temperature: number;
  round_dims: boolean;
}

export type Interaction = "dot" | "cat" | "dcn" | "cross";

/** TorchRec's defaults (torchrec_dlrm's --dcn_num_layers, --dcn_low_rank_dim), taken when a dcn config leaves them out. */
export const DCN_DEFAULTS = { dcn_num_layers: 3, dcn_low_rank_dim: 512 } as const;

/** N, the width the cross networks work in: the bottom vector and the F tables' vectors side by side. */
export function crossWidth(config: Pick<DLRMConfig, "embedding_dim" | "qr" | "table_sizes">): number {
  return (config.table_sizes.length + 1) * interactionDim(config);
}

/** The interaction's output width, the top MLP's first: dot and cat as the reference's, N for dcn, N + the deep MLP's last for cross. */
export function topInputWidth(
  config: Pick<DLRMConfig, "embedding_dim" | "qr" | "table_sizes" | "interaction" | "interaction_itself" | "deep_mlp">,
): number {
  const E = interactionDim(config);
  const F = config.table_sizes.length;
  const i = config.interaction;
  if (i === "dot" || i === "cat") return interactionWidth(E, F, i, config.interaction_itself);
  const N = crossWidth(config);
  return i === "dcn" ? N : N + (config.deep_mlp as number[])[(config.deep_mlp as number[]).length - 1];
}

/** Width of the vectors the interaction sees: E, or 2E when QR tables concatenate their halves. */
export function interactionDim(config: Pick<DLRMConfig, "embedding_dim" | "qr">): number {
  return config.qr?.operation === "concat" ? 2 * config.embedding_dim : config.embedding_dim;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Fields that may be left out, with their defaults. */
const DEFAULTS = {
  pooling: "sum",
  interaction: "dot",
  interaction_itself: false,
  loss: "bce",
  optimizer: "sgd",
  lr: 0.1,
  batch_size: 128,
  steps: 1000,
  bag_size: [1, 1],
  index_dtype: "int32",
  per_sample_weights: false,
} as const;

/** Rows of a table: ids are int32 (the batch format's I32 indices, the reference's int32 arrays). */
const MAX_TABLE_ROWS = 2 ** 31 - 1;
/** Weights of one Linear layer: it lives in one wasm memory (4 GiB). */
const MAX_LAYER_WEIGHTS = 2 ** 30;

/** Validate a parsed JSON object as a DLRM config; `source` names it in errors. */
export function parseConfig(json: unknown, source = "config"): DLRMConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json))
    throw new ConfigError(`${source}: the config must be a JSON object`);
  const o = { ...DEFAULTS, ...(json as Record<string, unknown>) } as Record<string, unknown>;
  const fail = (field: string, what: string): never => {
    throw new ConfigError(`${source}: field "${field}" ${what}, got ${JSON.stringify(o[field])}`);
  };
  const posInt = (f: string): number => {
    const v = o[f];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) fail(f, "must be a positive integer");
    return v as number;
  };
  const intList = (f: string, minLen: number): number[] => {
    const v = o[f];
    if (
      !Array.isArray(v) ||
      v.length < minLen ||
      !v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 1)
    ) {
      fail(f, `must be a list of at least ${minLen} positive integers`);
    }
    return [...(v as number[])];
  };
  const oneOf = <T extends string>(f: string, options: readonly T[]): T => {
    if (!options.includes(o[f] as T)) fail(f, `must be one of ${options.map((s) => `"${s}"`).join(", ")}`);
    return o[f] as T;
  };
  const known = new Set([
    "dense_features",
    "bottom_mlp",
    "embedding_dim",
    "table_sizes",
    "pooling",
    "interaction",
    "interaction_itself",
    "top_mlp",
    "loss",
    "optimizer",
    "lr",
    "batch_size",
    "steps",
    "bag_size",
    "index_dtype",
    "per_sample_weights",
    "qr",
    "md",
    "weighted_pooling",
    "dcn_num_layers",
    "dcn_low_rank_dim",
    "deep_mlp",
  ]);
  for (const k of Object.keys(json)) if (!known.has(k)) throw new ConfigError(`${source}: unknown field "${k}"`);

  const cfg: DLRMConfig = {
    dense_features: posInt("dense_features"),
    bottom_mlp: intList("bottom_mlp", 2),
    embedding_dim: posInt("embedding_dim"),
    table_sizes: intList("table_sizes", 0),
    pooling: oneOf("pooling", ["sum", "mean"] as const),
    interaction: oneOf("interaction", ["dot", "cat", "dcn", "cross"] as const),
    interaction_itself:
      typeof o.interaction_itself === "boolean"
        ? o.interaction_itself
        : fail("interaction_itself", "must be true or false"),
    top_mlp: intList("top_mlp", 2),
    loss: oneOf("loss", ["bce", "mse"] as const),
    optimizer: oneOf("optimizer", ["sgd", "adagrad", "rowwise-adagrad", "adam"] as const),
    lr: typeof o.lr === "number" && Number.isFinite(o.lr) && o.lr > 0 ? o.lr : fail("lr", "must be a positive number"),
    batch_size: posInt("batch_size"),
    steps: posInt("steps"),
    bag_size: parseBagSize(o.bag_size, fail),
    index_dtype: oneOf("index_dtype", ["int32", "int64"] as const),
    per_sample_weights:
      typeof o.per_sample_weights === "boolean"
        ? o.per_sample_weights
        : fail("per_sample_weights", "must be true or false"),
  };
  // Sizes that no run can hold, refused here with the field instead of failing later in an
  // allocation ("Invalid typed array length") or in the random-id generator.
  cfg.table_sizes.forEach((rows, t) => {
    if (rows > MAX_TABLE_ROWS)
      fail("table_sizes", `has ${rows} rows for table ${t}, more than int32 ids can number (${MAX_TABLE_ROWS})`);
  });
  for (const field of ["bottom_mlp", "top_mlp"] as const) {
    const widths = cfg[field];
    for (let i = 0; i + 1 < widths.length; i++) {
      const weights = widths[i] * widths[i + 1];
      if (weights > MAX_LAYER_WEIGHTS)
        fail(
          field,
          `has a layer ${widths[i]} → ${widths[i + 1]} of ${weights} weights, more than one 4 GiB memory holds (${MAX_LAYER_WEIGHTS} float32)`,
        );
    }
  }
  if (o.qr !== undefined) cfg.qr = parseQR(o.qr, source);
  if (o.md !== undefined) cfg.md = parseMD(o.md, source);
  if (o.weighted_pooling !== undefined) {
    cfg.weighted_pooling = oneOf("weighted_pooling", ["fixed", "learned"] as const);
    // as the reference's script, which exits on either combination
    const trick = cfg.qr !== undefined ? "qr" : cfg.md !== undefined ? "md" : null;
    if (trick !== null)
      throw new ConfigError(
        `${source}: field "weighted_pooling" excludes "${trick}" (the reference refuses ${trick === "qr" ? "quotient remainder" : "mixed dimensions"} with weighted pooling too)`,
      );
  }
  if (cfg.qr !== undefined && cfg.md !== undefined)
    throw new ConfigError(
      `${source}: fields "qr" and "md" exclude each other (as --qr-flag and --md-flag do in the reference)`,
    );
  if (cfg.md?.round_dims === true && (cfg.embedding_dim & (cfg.embedding_dim - 1)) !== 0) {
    throw new ConfigError(
      `${source}: field "md.round_dims" rounds widths to powers of 2, so embedding_dim must be one, got ${cfg.embedding_dim}`,
    );
  }
  const E = interactionDim(cfg);
  if (cfg.bottom_mlp[0] !== cfg.dense_features)
    fail("bottom_mlp", `must start with dense_features (${cfg.dense_features})`);
  if (cfg.bottom_mlp[cfg.bottom_mlp.length - 1] !== E) {
    fail(
      "bottom_mlp",
      E === cfg.embedding_dim
        ? `must end with embedding_dim (${E})`
        : `must end with 2 × embedding_dim (${E}): QR "concat" joins two ${cfg.embedding_dim}-wide halves`,
    );
  }
  if (cfg.qr?.operation === "concat") {
    const small = cfg.table_sizes.findIndex((R) => R <= (cfg.qr as QRConfig).threshold);
    if (small >= 0) {
      throw new ConfigError(
        `${source}: QR "concat" needs every table above qr.threshold ${cfg.qr.threshold}, but table ${small} has ${cfg.table_sizes[small]} rows: its ${cfg.embedding_dim}-wide vectors cannot meet the ${E}-wide ones in the interaction (the reference fails there too)`,
      );
    }
  }
  parseCrossFields(cfg, o, fail);
  const width = topInputWidth(cfg);
  if (cfg.top_mlp[0] !== width) {
    const what =
      cfg.interaction === "dcn"
        ? `N = (${cfg.table_sizes.length} tables + 1) × dim ${E}`
        : cfg.interaction === "cross"
          ? `N = (${cfg.table_sizes.length} tables + 1) × dim ${E}, plus the deep MLP's last width`
          : `${cfg.table_sizes.length} tables, dim ${E}`;
    fail(
      "top_mlp",
      `must start with the interaction width ${width} (${cfg.interaction}${cfg.interaction_itself ? " with self-interaction" : ""}, ${what})`,
    );
  }
  if (cfg.top_mlp[cfg.top_mlp.length - 1] !== 1) fail("top_mlp", "must end with 1 (one click probability)");
  return cfg;
}

/** The cross networks' fields: dcn_num_layers (dcn, cross), dcn_low_rank_dim (dcn), deep_mlp (cross), refused elsewhere. */
function parseCrossFields(cfg: DLRMConfig, o: Record<string, unknown>, fail: (f: string, what: string) => never): void {
  const i = cfg.interaction;
  const allowed: Record<string, readonly Interaction[]> = {
    dcn_num_layers: ["dcn", "cross"],
    dcn_low_rank_dim: ["dcn"],
    deep_mlp: ["cross"],
  };
  for (const [field, with_] of Object.entries(allowed))
    if (o[field] !== undefined && !with_.includes(i))
      fail(field, `goes with "interaction": ${with_.map((w) => `"${w}"`).join(" or ")}, not "${i}"`);
  if (i === "dot" || i === "cat") return;
  if (cfg.interaction_itself) fail("interaction_itself", `is for the dot interaction, not "${i}"`);
  const posInt = (f: string, dflt: number): number => {
    const v = o[f] ?? dflt;
    return typeof v === "number" && Number.isInteger(v) && v >= 1 ? v : fail(f, "must be a positive integer");
  };
  cfg.dcn_num_layers = posInt("dcn_num_layers", DCN_DEFAULTS.dcn_num_layers);
  const N = crossWidth(cfg);
  if (i === "dcn") {
    cfg.dcn_low_rank_dim = posInt("dcn_low_rank_dim", DCN_DEFAULTS.dcn_low_rank_dim);
    if (N * cfg.dcn_low_rank_dim > MAX_LAYER_WEIGHTS)
      fail("dcn_low_rank_dim", `makes W (${N}, ${cfg.dcn_low_rank_dim}) larger than one 4 GiB memory holds`);
    return;
  }
  const d = o.deep_mlp;
  if (!Array.isArray(d) || d.length < 2 || !d.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 1))
    fail("deep_mlp", `must be a list of at least 2 positive integers, the first N = ${N} (cross needs a deep network)`);
  if ((d as number[])[0] !== N)
    fail("deep_mlp", `must start with N = (${cfg.table_sizes.length} tables + 1) × dim ${interactionDim(cfg)} = ${N}`);
  cfg.deep_mlp = [...(d as number[])];
}

function parseQR(v: unknown, source: string): QRConfig {
  const { o, bad, intAtLeast } = objectField(v, "qr", ["threshold", "collisions", "operation"], source);
  const threshold = intAtLeast("threshold", 0);
  const collisions = intAtLeast("collisions", 1);
  const op = o.operation;
  const operation =
    op === "mult" || op === "add" || op === "concat" ? op : bad("operation", 'must be one of "mult", "add", "concat"');
  return { threshold, collisions, operation };
}

function parseMD(v: unknown, source: string): MDConfig {
  const { o, bad, intAtLeast } = objectField(v, "md", ["threshold", "temperature", "round_dims"], source);
  const threshold = intAtLeast("threshold", 0);
  const temperature =
    typeof o.temperature === "number" && Number.isFinite(o.temperature) && o.temperature >= 0
      ? o.temperature
      : bad("temperature", "must be a number >= 0");
  const round_dims = typeof o.round_dims === "boolean" ? o.round_dims : bad("round_dims", "must be true or false");
  return { threshold, temperature, round_dims };
}

/** A JSON object with exactly these fields, with its error (naming "field.key" and the value) and integer check. */
function objectField(
  v: unknown,
  field: string,
  keys: readonly string[],
  source: string,
): {
  o: Record<string, unknown>;
  bad: (k: string, what: string) => never;
  intAtLeast: (k: string, min: number) => number;
} {
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ConfigError(
      `${source}: field "${field}" must be an object with ${keys.join(", ")}, got ${JSON.stringify(v)}`,
    );
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!keys.includes(k)) throw new ConfigError(`${source}: unknown field "${field}.${k}"`);
  for (const k of keys) if (!(k in o)) throw new ConfigError(`${source}: field "${field}.${k}" is missing`);
  const bad = (k: string, what: string): never => {
    throw new ConfigError(`${source}: field "${field}.${k}" ${what}, got ${JSON.stringify(o[k])}`);
  };
  const intAtLeast = (k: string, min: number): number => {
    const x = o[k];
    return Number.isInteger(x) && (x as number) >= min
      ? (x as number)
      : bad(k, min === 1 ? "must be a positive integer" : `must be an integer >= ${min}`);
  };
  return { o, bad, intAtLeast };
}

function parseBagSize(v: unknown, fail: (f: string, what: string) => never): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => Number.isInteger(x) && x >= 0) || v[0] > v[1]) {
    return fail("bag_size", "must be [min, max] with 0 <= min <= max");
  }
  return [v[0], v[1]];
}
