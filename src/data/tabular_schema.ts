// The schema of a user's own click log (CSV, TSV or JSON lines), as `dlrm preprocess csv
// --schema schema.json` reads it: which column is the label, which are dense features and
// how each is transformed, which are categorical (a vocabulary, or hashed) and which of those
// hold several values (a bag), and how rows split into training and evaluation data.
// docs/datasets.md documents every field; this file checks a schema and says exactly what is
// wrong with one, naming the file and the field.
//
//   { "label": "clicked",
//     "dense": [{ "column": "age", "transform": "log1p", "default": 0 }, ...],
//     "categorical": [{ "column": "user_id" }, { "column": "item_id", "min_count": 2 },
//                     { "column": "zip", "hash_buckets": 1000 }, { "column": "genres", "separator": "|" }],
//     "split": { "column": "split", "eval": ["test"] } }
//
// Split forms: { column, eval: [values] } (rows whose value is listed evaluate);
// { fraction, column?, seed? } (a hashed fraction: of the column's value, so a user's rows
// stay together, or of the row's position when no column is named); { column, cutoff }
// (rows at or after the cutoff evaluate: a number compares numerically, a string as text,
// which orders ISO-8601 dates).

export type DenseTransform = "log1p" | "standardize" | "none";

export interface DenseColumn {
  readonly column: string;
  readonly transform: DenseTransform;
  /** The value of an empty cell (before the transform). */
  readonly default: number;
}

export interface CategoricalColumn {
  readonly column: string;
  /** Values seen in fewer training rows than this share one row (the last). */
  readonly minCount: number;
  /** Hash values into this many rows instead of numbering them (no vocabulary), or 0. */
  readonly hashBuckets: number;
  /** Splits a cell into a bag of values, or null for one value per cell. */
  readonly separator: string | null;
  /** The value of an empty cell, or null: an empty bag with a separator, else the value "" itself. */
  readonly default: string | null;
}

export type SplitRule =
  | { readonly kind: "values"; readonly column: string; readonly eval: readonly string[] }
  | { readonly kind: "fraction"; readonly fraction: number; readonly column: string | null; readonly seed: number }
  | { readonly kind: "cutoff"; readonly column: string; readonly cutoff: number | string };

export interface TabularSchema {
  readonly label: string;
  readonly dense: readonly DenseColumn[];
  readonly categorical: readonly CategoricalColumn[];
  /** null: every row trains. */
  readonly split: SplitRule | null;
}

/** Every column the schema reads, each once (label, dense, categorical, then the split's). */
export function schemaColumns(s: TabularSchema): string[] {
  const cols = [s.label, ...s.dense.map((d) => d.column), ...s.categorical.map((c) => c.column)];
  if (s.split !== null && s.split.kind !== "fraction") cols.push(s.split.column);
  if (s.split?.kind === "fraction" && s.split.column !== null) cols.push(s.split.column);
  return [...new Set(cols)];
}

/** A schema from parsed JSON; errors name `where` (the file) and the field. */
export function parseSchema(json: unknown, where: string): TabularSchema {
  const fail = (field: string, what: string): never => {
    throw new Error(`${where}: ${field}: ${what}`);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : fail(field, "must be an object");
  const only = (o: Record<string, unknown>, field: string, keys: string[]): void => {
    for (const k of Object.keys(o))
      if (!keys.includes(k)) fail(`${field}.${k}`, `is not a schema field (${field} takes ${keys.join(", ")})`);
  };
  const str = (v: unknown, field: string): string =>
    typeof v === "string" && v !== "" ? v : fail(field, `must be a non-empty string, got ${JSON.stringify(v)}`);
  const int = (v: unknown, field: string, min: number): number =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= 0x7fffffff
      ? (v as number)
      : fail(field, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);

  const root = obj(json, "schema");
  only(root, "schema", ["label", "dense", "categorical", "split"]);
  const label = str(root.label, "label");

  const denseList = root.dense ?? [];
  if (!Array.isArray(denseList)) fail("dense", "must be a list");
  const dense = (denseList as unknown[]).map((d, k): DenseColumn => {
    const f = `dense[${k}]`;
    const o = obj(d, f);
    only(o, f, ["column", "transform", "default"]);
    const transform = o.transform ?? "none";
    if (transform !== "log1p" && transform !== "standardize" && transform !== "none")
      fail(`${f}.transform`, `must be log1p, standardize or none, got ${JSON.stringify(transform)}`);
    const def = o.default ?? 0;
    if (typeof def !== "number" || !Number.isFinite(def))
      fail(`${f}.default`, `must be a finite number, got ${JSON.stringify(def)}`);
    if (transform === "log1p" && (def as number) <= -1) fail(`${f}.default`, `log1p needs values above -1, got ${def}`);
    return { column: str(o.column, `${f}.column`), transform: transform as DenseTransform, default: def as number };
  });
  if (dense.length === 0) fail("dense", "lists no column: DLRM's bottom MLP needs at least one dense feature");

  const catList = root.categorical ?? [];
  if (!Array.isArray(catList)) fail("categorical", "must be a list");
  const categorical = (catList as unknown[]).map((c, k): CategoricalColumn => {
    const f = `categorical[${k}]`;
    const o = obj(c, f);
    only(o, f, ["column", "min_count", "hash_buckets", "separator", "default"]);
    const hashBuckets = o.hash_buckets === undefined ? 0 : int(o.hash_buckets, `${f}.hash_buckets`, 1);
    const minCount = o.min_count === undefined ? 1 : int(o.min_count, `${f}.min_count`, 1);
    if (hashBuckets > 0 && o.min_count !== undefined)
      fail(f, "takes min_count (a vocabulary) or hash_buckets (no vocabulary), not both");
    const separator = o.separator === undefined ? null : str(o.separator, `${f}.separator`);
    const def = o.default === undefined ? null : o.default;
    if (def !== null && typeof def !== "string") fail(`${f}.default`, `must be a string, got ${JSON.stringify(def)}`);
    return { column: str(o.column, `${f}.column`), minCount, hashBuckets, separator, default: def as string | null };
  });
  if (categorical.length === 0) fail("categorical", "lists no column: DLRM needs at least one embedding table");

  const features = [
    ...dense.map((d, k) => [d.column, `dense[${k}]`]),
    ...categorical.map((c, k) => [c.column, `categorical[${k}]`]),
  ];
  const seen = new Map<string, string>();
  for (const [col, f] of features as [string, string][]) {
    if (col === label) fail(`${f}.column`, `"${col}" is the label`);
    const before = seen.get(col);
    if (before !== undefined) fail(`${f}.column`, `"${col}" is already ${before}`);
    seen.set(col, f);
  }

  let split: SplitRule | null = null;
  if (root.split !== undefined) {
    const o = obj(root.split, "split");
    if (o.eval !== undefined) {
      only(o, "split", ["column", "eval"]);
      if (!Array.isArray(o.eval) || o.eval.length === 0) fail("split.eval", "must be a non-empty list of values");
      const values = (o.eval as unknown[]).map((v, k) =>
        typeof v === "string"
          ? v
          : typeof v === "number"
            ? String(v)
            : fail(`split.eval[${k}]`, "must be a string or a number"),
      );
      split = { kind: "values", column: str(o.column, "split.column"), eval: values };
    } else if (o.fraction !== undefined) {
      only(o, "split", ["fraction", "column", "seed"]);
      const fr = o.fraction;
      if (typeof fr !== "number" || !(fr > 0 && fr < 1))
        fail("split.fraction", `must be a number in (0, 1), got ${JSON.stringify(fr)}`);
      split = {
        kind: "fraction",
        fraction: fr as number,
        column: o.column === undefined ? null : str(o.column, "split.column"),
        seed: o.seed === undefined ? 0 : int(o.seed, "split.seed", 0),
      };
    } else if (o.cutoff !== undefined) {
      only(o, "split", ["column", "cutoff"]);
      const c = o.cutoff;
      if (!(typeof c === "string" || (typeof c === "number" && Number.isFinite(c))))
        fail("split.cutoff", `must be a number or a string, got ${JSON.stringify(c)}`);
      split = { kind: "cutoff", column: str(o.column, "split.column"), cutoff: c as number | string };
    } else fail("split", 'names its rule with "eval" (values), "fraction" (hashed) or "cutoff" (time)');
  }
  return { label, dense, categorical, split };
}
