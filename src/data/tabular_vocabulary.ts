// The vocabulary file of a user's own data (`x.vocab.json`, written by `dlrm preprocess csv`
// beside its output): how a row became a sample — each table's values in id order (or its hash
// buckets) and each dense column's mean and deviation over the training rows. Read back
// (`--vocabulary x.vocab.json`), it numbers other files (evaluation days, new rows to score)
// with the training data's ids and scales them with its statistics, instead of counting anew.
//
// Glossary: Dd dense columns, F categorical columns (tables).

import type { DataFiles } from "./files.ts";
import type { TabularFeatures, TabularStats } from "./tabular.ts";
import type { TabularSchema } from "./tabular_schema.ts";
import { Vocabulary } from "./vocabulary.ts";

const FORMAT = "dlrm-ts csv vocabulary";

/** The file's JSON for the schema and the first pass's statistics. */
export function tabularVocabularyJson(schema: TabularSchema, stats: TabularStats): unknown {
  return {
    format: FORMAT,
    schema,
    dense: schema.dense.map((d, k) => ({ column: d.column, transform: d.transform, ...stats.dense[k] })),
    tables: schema.categorical.map((c, t) => {
      const v = stats.vocabularies[t];
      return v === null
        ? { column: c.column, rows: c.hashBuckets, hash_buckets: c.hashBuckets }
        : { column: c.column, rows: v.rows, other_row: v.values.length, values: v.values };
    }),
  };
}

/** The vocabularies and dense statistics of the file at `path`, checked to fit `schema`'s
 *  columns (the same dense columns and transforms, the same categorical columns, each hashed
 *  into the same buckets or numbered by a vocabulary); errors name the file and the column. */
export function readTabularVocabulary(path: string, files: DataFiles, schema: TabularSchema): TabularFeatures {
  const fail = (what: string): never => {
    throw new Error(`${path}: ${what}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(files.readText(path, "utf8"));
  } catch (e) {
    fail(`cannot read a vocabulary: ${e instanceof Error ? e.message : String(e)}`);
  }
  const root = json as { format?: unknown; dense?: unknown; tables?: unknown };
  if (typeof json !== "object" || json === null || root.format !== FORMAT)
    fail(`not a vocabulary of dlrm preprocess csv (its "format" is not "${FORMAT}")`);
  const dense = root.dense;
  const tables = root.tables;
  if (!Array.isArray(dense) || dense.length !== schema.dense.length)
    fail(`has ${Array.isArray(dense) ? dense.length : "no"} dense columns, the schema ${schema.dense.length}`);
  if (!Array.isArray(tables) || tables.length !== schema.categorical.length)
    fail(
      `has ${Array.isArray(tables) ? tables.length : "no"} categorical columns, the schema ${schema.categorical.length}`,
    );
  const denseStats = schema.dense.map((col, d) => {
    const e = (dense as Record<string, unknown>[])[d] ?? {};
    if (e.column !== col.column || e.transform !== col.transform)
      fail(
        `dense[${d}] is ${JSON.stringify(e.column)} (${JSON.stringify(e.transform)}), the schema's "${col.column}" (${col.transform})`,
      );
    const { mean, std } = e;
    if (typeof mean !== "number" || !Number.isFinite(mean) || typeof std !== "number" || !(std >= 0 && std < Infinity))
      fail(`dense[${d}] ("${col.column}"): mean and std must be finite numbers, std ≥ 0`);
    return { mean: mean as number, std: std as number };
  });
  const vocabularies = schema.categorical.map((col, t) => {
    const e = (tables as Record<string, unknown>[])[t] ?? {};
    const where = `tables[${t}] ("${col.column}")`;
    if (e.column !== col.column) fail(`tables[${t}] is ${JSON.stringify(e.column)}, the schema's "${col.column}"`);
    if (col.hashBuckets > 0) {
      if (e.hash_buckets !== col.hashBuckets)
        fail(`${where}: hashed into ${JSON.stringify(e.hash_buckets ?? null)} buckets, the schema ${col.hashBuckets}`);
      return null;
    }
    const values = e.values;
    if (!Array.isArray(values) || !values.every((v) => typeof v === "string"))
      fail(`${where}: "values" must be a list of strings (the schema numbers this column, it does not hash it)`);
    const seen = new Set<string>();
    for (const v of values as string[]) {
      if (seen.has(v)) fail(`${where}: the value ${JSON.stringify(v)} appears twice`);
      seen.add(v);
    }
    return new Vocabulary(values as string[]);
  });
  return { vocabularies, dense: denseStats };
}
