// The reference script's command line (facebookresearch/dlrm dlrm_s_pytorch.py) translated
// into ours: `dlrm train --arch-mlp-bot=13-512-256-64-16 --arch-mlp-top=512-256-1 …` runs
// with the reference's meaning. Its model flags become a config (written to a temporary
// JSON file passed as --model), its run flags become our flags; a reference flag we cannot
// honour is a UsageError naming it (exit 2). Arguments with no reference flag pass through.
//
// The reference's conventions: values joined by `=` or given as the next argument; lists
// dash-separated ("4-3-2"); `type=bool` flags take True/False; `--arch-mlp-top` omits the
// interaction width, which the script prepends, so it is computed here:
//   dot: E + n(n−1)/2 pairs of the n = F + 1 vectors (n(n+1)/2 with --arch-interaction-itself),
//   cat: n·E.
// `--weighted-pooling` takes the reference's reading: "fixed" is fixed, any other value learned
// (its DLRM_Net tests `weighted_pooling != "fixed"`).
// Defaults are the reference's argparse defaults where a flag is absent.
//
// One reference-only flag puts the whole line in this mode, and the line is told so on stderr
// (which flag, and that absent model/run flags take the reference's defaults). A flag of ours
// given beside the reference flag that sets the same thing (--lr and --learning-rate, --steps
// and --num-batches, --model and --arch-*) is a UsageError naming both as typed; one of ours
// given beside a reference *default* wins over that default.
//
// Glossary: F tables (sparse features), E embedding dim (--arch-sparse-feature-size).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "./args.ts";
import type { DLRMConfig } from "../dlrm/config.ts";

/** Reference flags that map onto one of ours with the same meaning (value passed through). */
const renamed: Record<string, string> = {
  "mini-batch-size": "batch-size",
  "learning-rate": "lr",
  "print-freq": "print-freq",
  "test-freq": "test-freq",
  "lr-num-warmup-steps": "lr-num-warmup-steps",
  "lr-decay-start-step": "lr-decay-start-step",
  "lr-num-decay-steps": "lr-num-decay-steps",
  "numpy-rand-seed": "seed",
  "save-model": "save",
  "data-size": "data-size",
  "num-indices-per-lookup": "num-indices-per-lookup",
  "max-ind-range": "max-ind-range",
  "data-sub-sample-rate": "data-sub-sample-rate",
};

/** The reference's table-trick flags (QR, MD, learned pooling), which `dlrm train` takes under the same names. */
export const TABLE_TRICK_FLAGS = [
  "qr-flag",
  "qr-threshold",
  "qr-collisions",
  "qr-operation",
  "md-flag",
  "md-threshold",
  "md-temperature",
  "md-round-dims",
  "weighted-pooling",
] as const;

/** Reference flags read here (model config, data source, step count) rather than renamed. */
const consumed = new Set<string>([
  "arch-sparse-feature-size",
  "arch-embedding-size",
  "arch-mlp-bot",
  "arch-mlp-top",
  "arch-interaction-op",
  "arch-interaction-itself",
  "loss-function",
  "optimizer",
  "num-batches",
  "nepochs",
  "data-generation",
  "raw-data-file",
  "load-model",
  "inference-only",
  "num-indices-per-lookup-fixed",
  ...TABLE_TRICK_FLAGS,
  "quantize-emb-with-bit",
]);

/** The reference's action="store_true" flags we read: given bare, never with a value. */
const storeTrue = new Set(["qr-flag", "md-flag", "md-round-dims"]);

/** Names that are both ours and the reference's, with different forms: consumed only in a reference line. */
const shared = new Set([
  "optimizer",
  "num-indices-per-lookup-fixed",
  ...storeTrue,
  "qr-threshold",
  "qr-collisions",
  "qr-operation",
  "md-threshold",
  "md-temperature",
  "weighted-pooling",
  "quantize-emb-with-bit",
]);

/** The reference's defaults a line in its mode takes, named in the note: flag, value, our flags that set the same. */
const REFERENCE_DEFAULTS: readonly (readonly [string, string, readonly string[]])[] = [
  ["arch-sparse-feature-size", "2", ["model"]],
  ["arch-embedding-size", "4-3-2", ["model"]],
  ["arch-mlp-bot", "4-3-2", ["model"]],
  ["arch-mlp-top", "4-2-1", ["model"]],
  ["loss-function", "mse", ["model"]],
  ["optimizer", "sgd", ["model", "optimizer"]],
  ["mini-batch-size", "1", ["batch-size"]],
  ["learning-rate", "0.01", ["lr"]],
  ["nepochs", "1", ["steps", "epochs", "num-batches"]],
];
const RUN_LENGTH_FLAGS = ["nepochs"];

/** Reference flags that describe the model (its config), which --model describes too. */
const MODEL_FLAGS = /^(arch-|loss-function$|optimizer$|qr-|md-|weighted-pooling$|num-indices-per-lookup)/;

/** Bool flags of the reference that we accept only at the value that needs no feature we lack. */
const harmlessBools: Record<string, boolean> = {
  "use-gpu": false,
  "mlperf-logging": false,
  "enable-profiling": false,
  "plot-compute-graph": false,
  "save-onnx": false,
  "debug-mode": false,
};

function parseBool(name: string, v: string): boolean {
  if (v === "True") return true;
  if (v === "False") return false;
  throw new UsageError(`--${name}: expected True or False (a reference type=bool flag), got "${v}"`);
}

function dashList(name: string, v: string): number[] {
  const xs = v.split("-").map(Number);
  if (v === "" || xs.some((x) => !Number.isInteger(x) || x < 1))
    throw new UsageError(`--${name}: expected positive integers joined by "-", got "${v}"`);
  return xs;
}

function isReferenceFlag(name: string): boolean {
  return name in renamed || consumed.has(name) || name in harmlessBools || name.startsWith("arch-");
}

/**
 * Our argv for `verb` ("train" or "predict") from one that may use the reference's flags.
 * An argv with no reference-only flag is returned unchanged.
 */
export function translateReferenceFlags(
  verb: string,
  argv: readonly string[],
  note: (line: string) => void = () => {},
): string[] {
  // Names we share with the reference (--optimizer, --print-freq, --lr-num-warmup-steps, …)
  // do not make a line a reference line; a reference-only name does.
  const nameOf = (arg: string): string | undefined => /^--([a-z0-9-]+)(?:=|$)/.exec(arg)?.[1];
  const referenceOnly = (name: string | undefined): boolean =>
    name !== undefined && isReferenceFlag(name) && renamed[name] !== name && !shared.has(name);
  const trigger = argv.map(nameOf).filter(referenceOnly);
  if (trigger.length === 0) return [...argv];
  const ref = new Map<string, string>();
  const ours: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    const name = m?.[1];
    // ours, shared names read alike, and our bare --num-indices-per-lookup-fixed pass through
    if (
      m === null ||
      name === undefined ||
      !isReferenceFlag(name) ||
      renamed[name] === name ||
      (name === "num-indices-per-lookup-fixed" && m[2] === undefined)
    ) {
      ours.push(arg);
      continue;
    }
    let value = m[2];
    if (storeTrue.has(name)) {
      if (value !== undefined)
        throw new UsageError(`--${name}: the reference's flag takes no value (argparse store_true)`);
      value = "True";
    } else if (value === undefined) {
      const next = argv[i + 1];
      // the reference's bools always carry a value (argparse type=bool)
      if (next === undefined || next.startsWith("--"))
        throw new UsageError(`--${name}: the reference's flag needs a value (--${name}=…)`);
      value = next;
      i++;
    }
    ref.set(name, value);
  }

  for (const [name, value] of ref) {
    if (name in harmlessBools) {
      if (parseBool(name, value) !== harmlessBools[name])
        throw new UsageError(
          `--${name}=${value}: not supported by dlrm-ts (only --${name}=${harmlessBools[name] ? "True" : "False"})`,
        );
    } else if (!(name in renamed) && !consumed.has(name)) {
      throw new UsageError(`--${name}: a reference flag dlrm-ts cannot honour`);
    }
  }
  const get = (name: string, fallback: string): string => ref.get(name) ?? fallback;
  const out = [...ours];
  const typed = (flag: string): boolean => ours.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
  /** Our flag from a reference flag the user typed: both given is an error naming both. */
  const fromTyped = (flag: string, value: string, referenceFlag: string): void => {
    if (typed(flag))
      throw new UsageError(
        `--${referenceFlag} (the reference's flag) and --${flag} (ours) set the same thing: give one of them`,
      );
    out.push(`--${flag}`, value);
  };
  /** Our flag from a reference default: one of ours given wins. */
  const fromDefault = (flag: string, value: string): void => {
    if (!typed(flag)) out.push(`--${flag}`, value);
  };
  for (const [name, value] of ref) if (name in renamed) fromTyped(renamed[name], value, name);

  const inferenceOnly = parseBool("inference-only", get("inference-only", "False"));
  if (verb === "train" && inferenceOnly)
    throw new UsageError("--inference-only=True: use `dlrm predict` (with --load-model and --out)");
  // --quantize-emb-with-bit: the reference quantizes the tables for --inference-only runs;
  // here that is dlrm predict's flag of the same name. 32 (its default) is float32 anywhere.
  const quantize = ref.get("quantize-emb-with-bit");
  if (quantize !== undefined) {
    if (verb === "predict") fromTyped("quantize-emb-with-bit", quantize, "quantize-emb-with-bit");
    else if (quantize !== "32")
      throw new UsageError(
        `--quantize-emb-with-bit=${quantize}: quantized tables are for inference: use \`dlrm predict --quantize-emb-with-bit ${quantize}\` on the saved model`,
      );
  }
  const load = ref.get("load-model");
  if (load !== undefined) fromTyped(verb === "predict" ? "checkpoint" : "init", load, "load-model");

  // predict reads a batch file: the data source flags apply there only when given
  const gen = verb === "train" ? get("data-generation", "random") : ref.get("data-generation");
  if (gen === undefined) {
    if (ref.has("raw-data-file")) throw new UsageError("--raw-data-file: give --data-generation=dataset with it");
  } else if (gen === "random") {
    if (ref.has("data-generation")) fromTyped("data", "random", "data-generation");
    else fromDefault("data", "random");
  } else if (gen === "dataset") {
    const raw = ref.get("raw-data-file");
    if (raw === undefined)
      throw new UsageError("--data-generation=dataset: give --raw-data-file (the Criteo train.txt)");
    fromTyped("data", `criteo:${raw}`, "raw-data-file");
  } else {
    throw new UsageError(`--data-generation=${gen}: a reference data source dlrm-ts cannot honour (random or dataset)`);
  }
  if (verb === "train" && parseBool("num-indices-per-lookup-fixed", get("num-indices-per-lookup-fixed", "False")))
    out.push("--num-indices-per-lookup-fixed");

  let dataSizeDefaulted = false;
  if (verb === "train") {
    const batches = Number(get("num-batches", "0"));
    const epochs = Number(get("nepochs", "1"));
    if (!Number.isInteger(batches) || batches < 0)
      throw new UsageError(`--num-batches: expected an integer ≥ 0, got "${get("num-batches", "0")}"`);
    if (!Number.isInteger(epochs) || epochs < 1)
      throw new UsageError(`--nepochs: expected a positive integer, got "${get("nepochs", "1")}"`);
    // the reference runs num-batches steps per epoch (0: the whole data set)
    const given = ["num-batches", "nepochs"].filter((n) => ref.has(n));
    const ourLength = ["steps", "epochs"].filter(typed);
    if (given.length > 0 && ourLength.length > 0)
      throw new UsageError(
        `${given.map((n) => `--${n}`).join(" and ")} (the reference's) and --${ourLength[0]} (ours) both set the length of the run: give one of them`,
      );
    if (ourLength.length === 0) {
      out.push(...(batches > 0 ? ["--steps", String(batches * epochs)] : ["--epochs", String(epochs)]));
      // epochs of the reference's random data are epochs of --data-size samples (its default 1)
      if (batches === 0 && gen === "random" && !ref.has("data-size") && !typed("data-size")) {
        out.push("--data-size", "1");
        dataSizeDefaulted = true;
      }
    }
  }

  // the model: the reference's flags (or their defaults) as a config, unless --model gives one
  const modelFlags = [...ref.keys()].filter((n) => MODEL_FLAGS.test(n));
  if (typed("model") && modelFlags.length > 0)
    throw new UsageError(
      `--${modelFlags[0]} (the reference's) and --model (ours) both describe the model: give one of them`,
    );
  const defaulted = REFERENCE_DEFAULTS.filter(
    ([flag, , ours]) =>
      !ref.has(flag) &&
      !ours.some(typed) &&
      (verb === "train" || !RUN_LENGTH_FLAGS.includes(flag)) &&
      !(typed("model") && MODEL_FLAGS.test(flag)),
  ).map(([flag, value]) => `--${flag}=${value}`);
  if (dataSizeDefaulted) defaulted.push("--data-size=1");
  note(
    `dlrm ${verb}: reading this command line as the reference's (dlrm_s_pytorch.py) because of --${trigger[0]}` +
      `${defaulted.length > 0 ? `: what it does not give takes the reference's defaults (${defaulted.join(", ")})` : ""}` +
      `; our flags alone keep our defaults (dlrm ${verb} --help)\n`,
  );
  if (typed("model")) return out;
  const config = referenceConfig(get);
  const dir = mkdtempSync(join(tmpdir(), "dlrm-reference-"));
  // the run reads --model at once; the file goes when the process exits
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(config));
  out.push("--model", path);
  return out;
}

/** The model config the reference's model flags (and their defaults) describe. */
export function referenceConfig(get: (name: string, fallback: string) => string): DLRMConfig {
  const E = Number(get("arch-sparse-feature-size", "2"));
  if (!Number.isInteger(E) || E < 1)
    throw new UsageError(
      `--arch-sparse-feature-size: expected a positive integer, got "${get("arch-sparse-feature-size", "2")}"`,
    );
  const tables = dashList("arch-embedding-size", get("arch-embedding-size", "4-3-2"));
  const bottom = dashList("arch-mlp-bot", get("arch-mlp-bot", "4-3-2"));
  const top = dashList("arch-mlp-top", get("arch-mlp-top", "4-2-1"));
  const tricks = referenceTricks(get);
  // QR concat joins two E-wide halves: the reference then wants the bottom MLP to end in 2E
  const Ei = tricks.qr?.operation === "concat" ? 2 * E : E;
  if (bottom.length < 2 || bottom[bottom.length - 1] !== Ei) {
    throw new UsageError(
      Ei === E
        ? `--arch-mlp-bot=${get("arch-mlp-bot", "4-3-2")}: its last width must equal --arch-sparse-feature-size=${E}`
        : `--arch-mlp-bot=${get("arch-mlp-bot", "4-3-2")}: with --qr-operation=concat its last width must be 2 × --arch-sparse-feature-size = ${Ei}`,
    );
  }
  if (top[top.length - 1] !== 1)
    throw new UsageError(`--arch-mlp-top=${get("arch-mlp-top", "4-2-1")}: the last width must be 1`);
  const op = get("arch-interaction-op", "dot");
  if (op !== "dot" && op !== "cat")
    throw new UsageError(
      `--arch-interaction-op=${op}: the reference's interactions are dot and cat (the cross networks are dlrm-ts's --interaction dcn|cross)`,
    );
  const itself = parseBool("arch-interaction-itself", get("arch-interaction-itself", "False"));
  const n = tables.length + 1;
  const width = op === "dot" ? Ei + (itself ? (n * (n + 1)) / 2 : (n * (n - 1)) / 2) : n * Ei;
  const loss = get("loss-function", "mse");
  if (loss !== "mse" && loss !== "bce") throw new UsageError(`--loss-function=${loss}: dlrm-ts has mse and bce`);
  // the reference's row-wise sparse Adagrad is "rwsadagrad"; ours is spelled out
  const given = get("optimizer", "sgd");
  const optimizer = given === "rwsadagrad" ? "rowwise-adagrad" : given;
  if (optimizer !== "sgd" && optimizer !== "adagrad" && optimizer !== "rowwise-adagrad") {
    throw new UsageError(`--optimizer=${given}: dlrm-ts has sgd, adagrad and rwsadagrad (rowwise-adagrad)`);
  }
  const L = Number(get("num-indices-per-lookup", "10"));
  const fixed = parseBool("num-indices-per-lookup-fixed", get("num-indices-per-lookup-fixed", "False"));
  return {
    dense_features: bottom[0],
    bottom_mlp: bottom,
    embedding_dim: E,
    table_sizes: tables,
    pooling: "sum",
    interaction: op,
    interaction_itself: itself,
    top_mlp: [width, ...top],
    loss,
    optimizer,
    lr: Number(get("learning-rate", "0.01")),
    batch_size: Number(get("mini-batch-size", "1")),
    steps: 1,
    bag_size: [fixed ? L : 1, L],
    index_dtype: "int32",
    per_sample_weights: false,
    ...tricks,
  };
}

/** The qr / md / weighted_pooling config fields of the reference's --qr-*, --md-* and --weighted-pooling flags (its argparse defaults). */
function referenceTricks(
  get: (name: string, fallback: string) => string,
): Pick<DLRMConfig, "qr" | "md" | "weighted_pooling"> {
  const int = (name: string, fallback: string, min: number): number => {
    const v = Number(get(name, fallback));
    if (!Number.isInteger(v) || v < min)
      throw new UsageError(`--${name}: expected an integer >= ${min}, got "${get(name, fallback)}"`);
    return v;
  };
  const out: Pick<DLRMConfig, "qr" | "md" | "weighted_pooling"> = {};
  if (get("qr-flag", "False") === "True") {
    const operation = get("qr-operation", "mult");
    if (operation !== "mult" && operation !== "add" && operation !== "concat")
      throw new UsageError(`--qr-operation=${operation}: the reference has mult, add and concat`);
    out.qr = { threshold: int("qr-threshold", "200", 0), collisions: int("qr-collisions", "4", 1), operation };
  }
  if (get("md-flag", "False") === "True") {
    const temperature = Number(get("md-temperature", "0.3"));
    if (!(temperature >= 0) || !Number.isFinite(temperature))
      throw new UsageError(`--md-temperature: expected a number >= 0, got "${get("md-temperature", "0.3")}"`);
    out.md = {
      threshold: int("md-threshold", "200", 0),
      temperature,
      round_dims: get("md-round-dims", "False") === "True",
    };
  }
  const weighted = get("weighted-pooling", "");
  if (weighted !== "") {
    // the reference's script exits on these combinations; so does parseConfig, but with config field names
    if (out.qr !== undefined || out.md !== undefined)
      throw new UsageError(
        `--weighted-pooling=${weighted}: not with --${out.qr !== undefined ? "qr" : "md"}-flag (the reference refuses the combination too)`,
      );
    out.weighted_pooling = weighted === "fixed" ? "fixed" : "learned";
  }
  return out;
}
