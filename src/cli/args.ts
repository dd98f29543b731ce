// A small flag parser for the `dlrm` verbs: `--name value`, `--name=value`, boolean
// `--flag`; an unknown flag or a bad value is a UsageError (exit code 2) naming the flag.

import { availableParallelism } from "node:os";

/** Where a verb writes: the process, or a test's capture. */
export interface Io {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** "seed": an integer in [0, 2^32 − 1], the seeds the generators take without wrapping. */
export type FlagType = "string" | "int" | "seed" | "number" | "bool";

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** Shown in --help; the value used when the flag is absent is decided by the verb. */
  placeholder?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Map<string, string | number | boolean>;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function parseFlags(verb: string, argv: readonly string[], specs: FlagSpecs): ParsedFlags {
  return parseArgs(verb, argv, specs, false).flags;
}

/** Flags and, when `positional` is true, the other arguments in order (e.g. input files). */
export function parseArgs(
  verb: string,
  argv: readonly string[],
  specs: FlagSpecs,
  positional: boolean,
): { flags: ParsedFlags; args: string[] } {
  const out: ParsedFlags = new Map();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      if (positional) {
        args.push(arg);
        continue;
      }
      // `--data criteo day_0`: the file belongs after a colon
      const prev = argv[i - 1];
      if (prev !== undefined && /^(criteo|movielens|synthetic-trace)$/.test(prev) && argv[i - 2]?.startsWith("--"))
        throw new UsageError(`${verb}: unexpected argument "${arg}": did you mean ${argv[i - 2]} ${prev}:${arg}?`);
      throw new UsageError(`${verb}: unexpected argument "${arg}" (flags start with --; see dlrm ${verb} --help)`);
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) {
      const near = didYouMean(name, Object.keys(specs));
      throw new UsageError(
        `${verb}: unknown flag --${name}${near === undefined ? "" : ` (did you mean --${near}?)`} (see dlrm ${verb} --help)`,
      );
    }
    if (out.has(name)) throw new UsageError(`${verb}: --${name} is given twice`);
    if (spec.type === "bool") {
      if (eq !== -1) throw new UsageError(`${verb}: --${name} takes no value`);
      out.set(name, true);
      continue;
    }
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next.length > 2))
        throw new UsageError(`${verb}: --${name} needs a value`);
      raw = next;
      i++;
    }
    out.set(name, convert(verb, name, spec.type, raw));
  }
  return { flags: out, args };
}

/** The largest seed: the generators (src/tensor/rng.ts) take seeds modulo 2^32. */
export const MAX_SEED = 2 ** 32 - 1;

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(verb: string, name: string, type: Exclude<FlagType, "bool">, raw: string): string | number {
  if (type === "string") {
    if (raw === "") throw new UsageError(`${verb}: --${name} needs a non-empty value`);
    return raw;
  }
  // Decimal only: Number() would also take "0x10", "0b1" and " 5 ", which no flag means.
  const v = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(v)) throw new UsageError(`${verb}: --${name} must be a number, got "${raw}"`);
  if (type === "number") return v;
  if (!Number.isInteger(v)) throw new UsageError(`${verb}: --${name} must be an integer, got "${raw}"`);
  // Past 2^53 a double cannot hold every integer: "9007199254740993" would silently become ...992.
  if (!Number.isSafeInteger(v))
    throw new UsageError(`${verb}: --${name} ${raw} is past 2^53 − 1, the largest integer held exactly`);
  if (type === "seed" && (v < 0 || v > MAX_SEED))
    throw new UsageError(
      `${verb}: --${name} must be an integer in [0, ${MAX_SEED}] (2^32 − 1; larger seeds would wrap onto smaller ones), got ${raw}`,
    );
  return v;
}

/** Help lines are wrapped to this many columns. */
export const HELP_WIDTH = 100;
const FLAG_COLUMN = 34;

/** Named groups of flags for --help, in order; flags in no group are listed last, under "other". */
export type HelpGroups = readonly (readonly [title: string, names: readonly string[]])[];

/** The verb's --help: usage, about, then its flags (in groups when given), wrapped to HELP_WIDTH. */
export function helpText(usage: string, about: string, specs: FlagSpecs, groups: HelpGroups = []): string {
  const row = (name: string): string => {
    const s = specs[name];
    const left = `  --${name}${s.type === "bool" ? "" : ` <${s.placeholder ?? s.type}>`}`;
    const lines = wrap(s.help, HELP_WIDTH - FLAG_COLUMN - 1);
    const indent = " ".repeat(FLAG_COLUMN + 1);
    // a flag too long for its column gets its help on the lines below
    const head = left.length <= FLAG_COLUMN ? [`${left.padEnd(FLAG_COLUMN)} ${lines.shift() ?? ""}`] : [left];
    return [...head, ...lines.map((l) => `${indent}${l}`)].join("\n").trimEnd();
  };
  const grouped = new Set(groups.flatMap(([, names]) => names));
  const rest = Object.keys(specs).filter((n) => !grouped.has(n));
  const sections =
    groups.length === 0
      ? [["Flags", Object.keys(specs)] as const]
      : [...groups, ...(rest.length > 0 ? [["Other", rest] as const] : [])];
  const body = sections.map(([title, names]) => `${title}:\n${names.map(row).join("\n")}`).join("\n\n");
  return `${usage}\n\n${wrap(about, HELP_WIDTH).join("\n")}\n\n${body}\n`;
}

/** Words of `text` in lines of at most `width` columns (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** The candidate closest to `given` by edit distance, if close enough to be a likely typo. */
export function didYouMean(given: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(given, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // a third of the word's letters, at least one: "lr" → "le" is a typo, "steps" → "seed" is not
  return bestDistance <= Math.max(1, Math.floor(given.length / 3)) ? best : undefined;
}

/** Levenshtein distance, a transposition of neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i];
      const up = d[i - 1];
      row[j] = Math.min(up[j] + 1, row[j - 1] + 1, up[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** Typed getters over the parsed flags. */
export function getString(f: ParsedFlags, name: string): string | undefined {
  const v = f.get(name);
  return typeof v === "string" ? v : undefined;
}
/** A string flag the command cannot run without. */
export function requiredString(verb: string, f: ParsedFlags, name: string): string {
  const v = getString(f, name);
  if (v === undefined) throw new UsageError(`${verb}: --${name} is required`);
  return v;
}
export function getNumber(f: ParsedFlags, name: string): number | undefined {
  const v = f.get(name);
  return typeof v === "number" ? v : undefined;
}
export function getBool(f: ParsedFlags, name: string): boolean {
  return f.get(name) === true;
}

/** A positive integer flag, or its fallback. */
export function positiveInt(verb: string, f: ParsedFlags, name: string, fallback: number): number {
  const v = getNumber(f, name) ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${verb}: --${name} must be a positive integer, got ${v}`);
  return v;
}

/** --workers, or its fallback: each rank is a thread with its own wasm memory and a replica of
 *  the head, so far more ranks than cores only cost memory and start-up; a typo (--workers
 *  1000) is refused instead of hanging. */
export function workerCount(verb: string, f: ParsedFlags, fallback: number): number {
  const workers = positiveInt(verb, f, "workers", fallback);
  const cores = availableParallelism();
  if (workers > 4 * cores)
    throw new UsageError(
      `${verb}: --workers ${workers} is more than 4 × the ${cores} cores (${4 * cores}); each rank is a thread with its own memory`,
    );
  return workers;
}

/** A non-negative integer flag, or undefined when absent. */
export function nonNegativeInt(verb: string, f: ParsedFlags, name: string): number | undefined {
  const v = getNumber(f, name);
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0)
    throw new UsageError(`${verb}: --${name} must be a non-negative integer, got ${v}`);
  return v;
}

/** A string flag that must be one of `options`, or its fallback. */
export function oneOf<T extends string>(
  verb: string,
  f: ParsedFlags,
  name: string,
  options: readonly T[],
  fallback: T,
): T {
  const v = getString(f, name) ?? fallback;
  if (!(options as readonly string[]).includes(v)) {
    throw new UsageError(
      `${verb}: --${name} must be ${options.slice(0, -1).join(", ")}${options.length > 1 ? " or " : ""}${options[options.length - 1]}, got "${v}"`,
    );
  }
  return v as T;
}
