// RFC 4180 records from text that arrives in chunks: a user's CSV (or TSV) read in bounded
// memory, each record with the line it starts on, so that errors name `file:line`.
//
// The rules (RFC 4180, with the leniencies of Python's csv module where files in the wild
// need them):
//   - records end at "\n" or "\r\n"; a last record without a line ending is still a record;
//   - a field that starts with `"` is quoted: it ends at the next lone `"`, `""` inside it is
//     one `"`, and delimiters and line endings inside it are part of the value;
//   - after a closing quote comes a delimiter or the end of the record; anything else makes
//     the record malformed (reported, never guessed at);
//   - a `"` inside an unquoted field is taken literally (`5" floppy`), as Python reads it;
//   - an empty line is no record (it holds no value), as in pandas and Python's csv;
//   - an unclosed quote runs to the end of the file: one malformed record naming its line.
// A malformed record carries `problem`; parsing goes on at the next line after the problem,
// so the caller decides between an error and skipping it.
//
// Memory: the parser keeps only the unfinished record; a record longer than maxRecordChars
// (an unclosed quote, most likely) is an error rather than a growing buffer.
//
// Glossary: C characters per chunk pushed.

export interface CsvRecord {
  /** The fields, unquoted; [] for a malformed record. */
  readonly fields: string[];
  /** 1-based line of the file where the record starts. */
  readonly line: number;
  /** What is wrong with the record, or null. */
  readonly problem: string | null;
}

export interface CsvParserOptions {
  /** One character between fields (default ","; "\t" for TSV). */
  delimiter?: string;
  /** The longest record held while waiting for its end (default 16 Mi characters). */
  maxRecordChars?: number;
}

const QUOTE = 34; // "
const LF = 10;
const CR = 13;

/** Streaming RFC 4180 parser: push chunks of text, take the records each completes. */
export class CsvParser {
  readonly #delim: number;
  readonly #maxRecord: number;
  #buf = ""; // the unfinished record (and whatever follows it in the last chunk)
  #line = 1; // the line #buf starts on
  #first = true; // no text seen yet: a byte-order mark may come

  constructor(opts: CsvParserOptions = {}) {
    const d = opts.delimiter ?? ",";
    if (d.length !== 1 || d === '"' || d === "\n" || d === "\r")
      throw new Error(
        `CsvParser: the delimiter must be one character other than a quote or a line ending, got ${JSON.stringify(d)}`,
      );
    this.#delim = d.charCodeAt(0);
    this.#maxRecord = opts.maxRecordChars ?? 1 << 24;
  }

  /** The records that `text` completes (the last, possibly unfinished, one waits for more). */
  push(text: string): CsvRecord[] {
    if (this.#first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark
      this.#first = false;
    }
    this.#buf += text;
    const out = this.#drain(false);
    if (this.#buf.length > this.#maxRecord)
      throw new Error(`line ${this.#line}: a record longer than ${this.#maxRecord} characters (an unclosed quote?)`);
    return out;
  }

  /** The records left at the end of the text. */
  end(): CsvRecord[] {
    return this.#drain(true);
  }

  #drain(final: boolean): CsvRecord[] {
    const out: CsvRecord[] = [];
    const s = this.#buf;
    let p = 0;
    while (p < s.length) {
      const r = parseRecord(s, p, this.#delim, final);
      if (r === null) break; // unfinished: wait for the next chunk
      if (!r.blank) out.push({ fields: r.fields, line: this.#line, problem: r.problem });
      this.#line += r.newlines;
      p = r.next;
    }
    this.#buf = s.slice(p);
    return out;
  }
}

interface Parsed {
  fields: string[];
  problem: string | null;
  /** Where the next record starts. */
  next: number;
  /** Line endings consumed (inside quotes and the record's own). */
  newlines: number;
  /** An empty line. */
  blank: boolean;
}

/** The record starting at s[p], or null when s ends before it does (and more text may come). */
function parseRecord(s: string, p: number, delim: number, final: boolean): Parsed | null {
  const fields: string[] = [];
  let newlines = 0;
  const start = p;
  for (;;) {
    if (p < s.length && s.charCodeAt(p) === QUOTE) {
      // A quoted field: runs to a lone quote.
      let value = "";
      let i = p + 1;
      let close: number;
      for (;;) {
        close = s.indexOf('"', i);
        if (close === -1) {
          if (!final) return null;
          const nl = countNewlines(s, p, s.length);
          return {
            fields: [],
            problem: "a quoted field is never closed (an unmatched quote)",
            next: s.length,
            newlines: nl,
            blank: false,
          };
        }
        value += s.slice(i, close);
        if (close + 1 < s.length && s.charCodeAt(close + 1) === QUOTE) {
          value += '"';
          i = close + 2;
          continue;
        }
        if (close + 1 === s.length && !final) return null; // a quote that the next chunk may double
        break;
      }
      newlines += countNewlines(value, 0, value.length);
      fields.push(value);
      p = close + 1;
      const c = p < s.length ? s.charCodeAt(p) : -1;
      if (c === delim) {
        p++;
        continue;
      }
      const end = recordEnd(s, p, final);
      if (end === null) return null;
      if (end.at === p)
        return { fields, problem: null, next: end.next, newlines: newlines + end.newline, blank: false };
      // Text between the closing quote and the delimiter: malformed; resume on the next line.
      const nl = s.indexOf("\n", p);
      if (nl === -1 && !final) return null;
      const next = nl === -1 ? s.length : nl + 1;
      const shown = s.slice(p, Math.min(p + 20, nl === -1 ? s.length : nl));
      return {
        fields: [],
        problem: `text after the closing quote of field ${fields.length}: ${JSON.stringify(shown)} (a quote inside a quoted field is written "")`,
        next,
        newlines: newlines + (nl === -1 ? 0 : 1),
        blank: false,
      };
    }
    // An unquoted field: runs to the delimiter or the line end.
    let i = p;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === delim || c === LF) break;
      i++;
    }
    if (i === s.length && !final) return null;
    if (i < s.length && s.charCodeAt(i) === delim) {
      fields.push(s.slice(p, i));
      p = i + 1;
      continue;
    }
    // The last field of the record: drop the "\r" of a "\r\n".
    const valueEnd = i > p && s.charCodeAt(i - 1) === CR ? i - 1 : i;
    fields.push(s.slice(p, valueEnd));
    const hasNewline = i < s.length;
    const blank = fields.length === 1 && fields[0] === "" && start === p;
    return { fields, problem: null, next: hasNewline ? i + 1 : i, newlines: newlines + (hasNewline ? 1 : 0), blank };
  }
}

/** Whether s[p] ends a record ("\r\n", "\n" or the end): where the next starts, or null when undecidable yet. */
function recordEnd(s: string, p: number, final: boolean): { at: number; next: number; newline: number } | null {
  if (p === s.length) return final ? { at: p, next: p, newline: 0 } : null;
  const c = s.charCodeAt(p);
  if (c === LF) return { at: p, next: p + 1, newline: 1 };
  if (c === CR) {
    if (p + 1 === s.length) return final ? { at: p, next: p + 1, newline: 0 } : null;
    if (s.charCodeAt(p + 1) === LF) return { at: p, next: p + 2, newline: 1 };
  }
  return { at: -1, next: -1, newline: 0 };
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf("\n", from); i !== -1 && i < to; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/** One record as RFC 4180 text, a field quoted only when it must be, without a line ending. */
export function formatCsvRecord(fields: readonly string[], delimiter = ","): string {
  // A lone empty field is quoted: written bare it would be an empty line, which is no record.
  if (fields.length === 1 && fields[0] === "") return '""';
  return fields
    .map((f) =>
      f.includes(delimiter) || f.includes('"') || f.includes("\n") || f.includes("\r")
        ? `"${f.replaceAll('"', '""')}"`
        : f,
    )
    .join(delimiter);
}
