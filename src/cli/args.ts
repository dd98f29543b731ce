// A small flag parser for the `dlrm` verbs: `--name value`, `--name=value`, boolean
// `--flag`; an unknown flag or a bad value is a UsageError (exit code 2) naming the flag.

export type FlagType = "string" | "int" | "number" | "bool";

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
  const out: ParsedFlags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--")) throw new UsageError(`${verb}: unexpected argument "${arg}" (flags start with --; see dlrm ${verb} --help)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) throw new UsageError(`${verb}: unknown flag --${name} (see dlrm ${verb} --help)`);
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
      if (next === undefined || (next.startsWith("--") && next.length > 2)) throw new UsageError(`${verb}: --${name} needs a value`);
      raw = next;
      i++;
    }
    out.set(name, convert(verb, name, spec.type, raw));
  }
  return out;
}

function convert(verb: string, name: string, type: FlagType, raw: string): string | number {
  if (type === "string") {
    if (raw === "") throw new UsageError(`${verb}: --${name} needs a non-empty value`);
    return raw;
  }
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`${verb}: --${name} must be a number, got "${raw}"`);
  if (type === "int" && !Number.isInteger(v)) throw new UsageError(`${verb}: --${name} must be an integer, got "${raw}"`);
  return v;
}

export function helpText(usage: string, about: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `  --${name}${s.type === "bool" ? "" : ` <${s.placeholder ?? s.type}>`}`;
    return `${left.padEnd(34)} ${s.help}`;
  });
  return `${usage}\n\n${about}\n\nFlags:\n${rows.join("\n")}\n`;
}

/** Typed getters over the parsed flags. */
export function getString(f: ParsedFlags, name: string): string | undefined {
  const v = f.get(name);
  return typeof v === "string" ? v : undefined;
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
