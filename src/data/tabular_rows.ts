// A user's click-log files as rows of the cells a schema reads, streamed chunk by chunk,
// each row with its file:line. Three formats, by the file's ending:
//   .csv       RFC 4180 (src/data/csv_records.ts), a header row naming the columns
//   .tsv       the same rules with tabs between fields
//   .jsonl     one JSON object per line (.ndjson too); a missing key or null is an empty cell,
//              and a list is a bag's values
// Text is UTF-8; a byte-order mark is dropped. A header that lacks a column the schema reads
// is an error naming the column; a row with another number of fields than its header is a
// malformed row, as is a line of JSON that is not an object.
//
// The files are read through the host's file access handed in (src/data/files.ts).
//
// Glossary: C bytes per chunk read from disk.

import { CsvParser, type CsvRecord } from "./csv_records.ts";
import { readChunks, type DataFiles } from "./files.ts";
import { readLineBatches } from "./lines.ts";

/** One cell: CSV/TSV give text ("" is empty); JSON gives its values (null: empty). */
export type Cell = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;

export interface TabularRow {
  readonly file: string;
  readonly line: number;
  /** The cells of the requested columns, in their order; null for a malformed row. */
  readonly cells: Cell[] | null;
  /** What is wrong with a malformed row, or null. */
  readonly problem: string | null;
}

export type TabularFormat = "csv" | "tsv" | "jsonl";

/** The format of a file, from its ending; an error for any other. */
export function tabularFormat(path: string): TabularFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith(".csv")) return "csv";
  if (lower.endsWith(".tsv")) return "tsv";
  if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) return "jsonl";
  throw new Error(`${path}: the file's ending says no format: name it .csv, .tsv or .jsonl (JSON lines)`);
}

export interface TabularReadOptions {
  /** C (default 1 MiB). */
  chunkBytes?: number;
}

/** The rows of one chunk read, and how far into its file the reading is. */
export interface TabularBatch {
  readonly rows: TabularRow[];
  readonly file: string;
  /** Bytes of the file read so far. */
  readonly bytesRead: number;
}

/** The rows of `files`, in order, one batch per chunk read, as the cells of `columns`. */
export async function* readTabularRows(
  files: readonly string[],
  access: DataFiles,
  columns: readonly string[],
  opts: TabularReadOptions = {},
): AsyncGenerator<TabularBatch> {
  for (const file of files) {
    const format = tabularFormat(file);
    if (format === "jsonl") yield* jsonlRows(file, access, columns, opts);
    else yield* delimitedRows(file, access, format === "csv" ? "," : "\t", columns, opts);
  }
}

async function* delimitedRows(
  file: string,
  access: DataFiles,
  delimiter: string,
  columns: readonly string[],
  opts: TabularReadOptions,
): AsyncGenerator<TabularBatch> {
  const parser = new CsvParser({ delimiter });
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true }); // the parser drops a byte-order mark
  let where: number[] | null = null; // the field of each requested column, once the header is read
  let width = 0;
  const toRows = (records: CsvRecord[]): TabularRow[] => {
    const rows: TabularRow[] = [];
    for (const r of records) {
      if (where === null) {
        if (r.problem !== null) throw new Error(`${file}:${r.line}: the header row is malformed: ${r.problem}`);
        where = headerPositions(file, r.fields, columns);
        width = r.fields.length;
        continue;
      }
      if (r.problem !== null) rows.push({ file, line: r.line, cells: null, problem: r.problem });
      else if (r.fields.length !== width)
        rows.push({
          file,
          line: r.line,
          cells: null,
          problem: `has ${r.fields.length} fields, the header has ${width}`,
        });
      else {
        const at = where;
        rows.push({ file, line: r.line, cells: at.map((k) => r.fields[k]), problem: null });
      }
    }
    return rows;
  };
  let bytes = 0;
  try {
    for await (const chunk of readChunks(access.open(file), opts.chunkBytes ?? 1 << 20)) {
      bytes += chunk.length;
      const text = decoder.decode(chunk, { stream: true });
      yield { rows: toRows(wrap(file, () => parser.push(text))), file, bytesRead: bytes };
    }
  } catch (e) {
    throw readError(file, e);
  }
  const rows = toRows(wrap(file, () => [...parser.push(decoder.decode()), ...parser.end()]));
  if (where === null) throw new Error(`${file}: empty: a CSV/TSV file starts with a header row naming its columns`);
  yield { rows, file, bytesRead: bytes };
}

/** Where each requested column is in a header; an error naming the first one it lacks. */
function headerPositions(file: string, header: readonly string[], columns: readonly string[]): number[] {
  const at = new Map<string, number>();
  const twice = new Set<string>();
  header.forEach((name, k) => {
    if (at.has(name)) twice.add(name);
    at.set(name, k);
  });
  return columns.map((c) => {
    const k = at.get(c);
    if (k === undefined) {
      const shown = header.length > 12 ? `${header.slice(0, 12).join(", ")}, …` : header.join(", ");
      throw new Error(`${file}:1: the header has no column "${c}", which the schema reads (the header: ${shown})`);
    }
    if (twice.has(c)) throw new Error(`${file}:1: the header names column "${c}" more than once`);
    return k;
  });
}

async function* jsonlRows(
  file: string,
  access: DataFiles,
  columns: readonly string[],
  opts: TabularReadOptions,
): AsyncGenerator<TabularBatch> {
  try {
    for await (const batch of readLineBatches(file, access, {
      encoding: "utf8",
      ...(opts.chunkBytes === undefined ? {} : { chunkBytes: opts.chunkBytes }),
    })) {
      const rows: TabularRow[] = [];
      batch.lines.forEach((raw, k) => {
        const line = batch.firstLine + k;
        const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
        if (text.trim() === "") return; // an empty line holds no row
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (e) {
          rows.push({ file, line, cells: null, problem: `not JSON (${e instanceof Error ? e.message : String(e)})` });
          return;
        }
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          rows.push({ file, line, cells: null, problem: `a JSON line must be an object, got ${shortJson(value)}` });
          return;
        }
        const o = value as Record<string, unknown>;
        rows.push({
          file,
          line,
          cells: columns.map((c) => (o[c] === undefined ? null : (o[c] as Cell))),
          problem: null,
        });
      });
      yield { rows, file, bytesRead: batch.bytesRead };
    }
  } catch (e) {
    throw readError(file, e);
  }
}

function shortJson(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** A parser error (which knows the line, not the file) with the file's name in front. */
function wrap<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new Error(m.startsWith("line ") ? `${file}:${m.slice(5)}` : m);
  }
}

function readError(file: string, e: unknown): Error {
  if (e instanceof Error && (e as NodeJS.ErrnoException).code !== undefined)
    return new Error(`${file}: cannot read: ${e.message}`);
  return e instanceof Error ? e : new Error(String(e));
}
