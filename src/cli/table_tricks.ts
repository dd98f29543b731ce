// The reference's embedding-table tricks as `dlrm train` flags (docs/tricks.md): --qr-flag
// with --qr-threshold, --qr-collisions, --qr-operation (quotient-remainder tables), and
// --md-flag with --md-threshold, --md-temperature, --md-round-dims (mixed dimensions),
// with the reference's defaults; and --weighted-pooling fixed|learned (a learned weight per
// table row, v_W_l.{t}, scaling its lookups). They set the config's qr / md /
// weighted_pooling fields; the config's own checks then hold (e.g. QR concat needs a bottom
// MLP ending in 2E; weighted pooling excludes QR and MD, as in the reference).

import { ConfigError, parseConfig, type DLRMConfig } from "../dlrm/config.ts";
import {
  getBool,
  getNumber,
  getString,
  nonNegativeInt,
  positiveInt,
  UsageError,
  type FlagSpecs,
  type ParsedFlags,
} from "./args.ts";

export const TABLE_TRICK_FLAGS: FlagSpecs = {
  "qr-flag": {
    type: "bool",
    help: "quotient-remainder tables: a table above --qr-threshold rows becomes two, indexed by id // c and id % c (docs/tricks.md)",
  },
  "qr-threshold": { type: "int", help: "QR: tables with more rows than this (default 200)" },
  "qr-collisions": { type: "int", help: "QR: c, the rows of the remainder table (default 4)" },
  "qr-operation": {
    type: "string",
    placeholder: "mult|add|concat",
    help: "QR: how the two pooled halves combine (default mult; concat needs a bottom MLP ending in 2E)",
  },
  "md-flag": {
    type: "bool",
    help: "mixed-dimension tables: a table above --md-threshold rows gets a narrower width (alpha-power rule) and a projection up to E (docs/tricks.md)",
  },
  "md-threshold": { type: "int", help: "MD: tables with more rows than this (default 200)" },
  "md-temperature": { type: "number", help: "MD: alpha of the alpha-power rule (default 0.3)" },
  "md-round-dims": { type: "bool", help: "MD: round each width to a power of 2" },
  "weighted-pooling": {
    type: "string",
    placeholder: "fixed|learned",
    help: "the reference's weighted pooling: learned trains a weight per table row (v_W_l.{t}, ones at first) that scales its lookups; fixed keeps them at one (default: none)",
  },
};

/** The flag names, for the run flags a checkpoint records. */
export const TABLE_TRICK_FLAG_NAMES = Object.keys(TABLE_TRICK_FLAGS);

/** config with the qr / md / weighted_pooling fields the flags ask for (unchanged without --qr-flag / --md-flag / --weighted-pooling). */
export function withTableTricks(config: DLRMConfig, f: ParsedFlags): DLRMConfig {
  for (const [flag, names] of [
    ["qr-flag", ["qr-threshold", "qr-collisions", "qr-operation"]],
    ["md-flag", ["md-threshold", "md-temperature", "md-round-dims"]],
  ] as const) {
    const stray = names.find((n) => f.has(n));
    if (!getBool(f, flag) && stray !== undefined) throw new UsageError(`train: --${stray} goes with --${flag}`);
  }
  const out: DLRMConfig = { ...config };
  if (getBool(f, "qr-flag")) {
    const operation = getString(f, "qr-operation") ?? "mult";
    if (operation !== "mult" && operation !== "add" && operation !== "concat")
      throw new UsageError(`train: --qr-operation must be mult, add or concat, got "${operation}"`);
    out.qr = {
      threshold: nonNegativeInt("train", f, "qr-threshold") ?? 200,
      collisions: positiveInt("train", f, "qr-collisions", 4),
      operation,
    };
  }
  if (getBool(f, "md-flag")) {
    const temperature = getNumber(f, "md-temperature") ?? 0.3;
    if (!(temperature >= 0) || !Number.isFinite(temperature))
      throw new UsageError(`train: --md-temperature must be a number >= 0, got ${temperature}`);
    out.md = {
      threshold: nonNegativeInt("train", f, "md-threshold") ?? 200,
      temperature,
      round_dims: getBool(f, "md-round-dims"),
    };
  }
  const weighted = getString(f, "weighted-pooling");
  if (weighted !== undefined) {
    if (weighted !== "fixed" && weighted !== "learned")
      throw new UsageError(`train: --weighted-pooling must be fixed or learned, got "${weighted}"`);
    out.weighted_pooling = weighted;
  }
  if (out.qr === config.qr && out.md === config.md && out.weighted_pooling === config.weighted_pooling) return config;
  try {
    return parseConfig(out, "train: the model with --qr-flag/--md-flag/--weighted-pooling");
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}
