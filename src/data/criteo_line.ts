// One Criteo click-log line (label, I1–I13, C1–C26, tab-separated) into its values, the
// reference's rules (src/data/criteo_parse.ts's head): a missing or negative integer is 0, a
// missing categorical is the raw value 0, a categorical is hex and, with R > 0, taken modulo R.
//
// Two parsers of one grammar, for two jobs:
//   - parseCriteoBytes, the fast path of preprocessing: the line straight from the file's
//     bytes, one pass, no string and no allocation per line or field; it only says whether
//     the line is well-formed;
//   - parseCriteoLine, on the line's text: the plain statement of the rules, which also says
//     what is wrong with a malformed line. The bytes path asks it only for lines it rejects
//     (criteoLineProblemAt), so that the errors name the field and value as before; a test
//     checks that both accept the same lines and give the same values.
//
// Glossary: Dd = 13 integer features, F = 26 categorical features, R max index range.

import { CRITEO_DENSE, CRITEO_FIELDS as FIELDS, CRITEO_SPARSE, criteoFieldName } from "./criteo_fields.ts";
import { latin1Text } from "./text_lines.ts";

/** One line's values before numbering. */
export class ParsedRow {
  label = 0;
  /** (13,) integer features after the negative → 0 rule. */
  readonly ints = new Float64Array(CRITEO_DENSE);
  /** (26,) raw categorical values after the modulo. */
  readonly cats = new Float64Array(CRITEO_SPARSE);
}

const TAB = 9;
const LF = 10;
const CR = 13;

/** The value of each byte as a hexadecimal digit, -1 when it is none. */
const HEX_DIGIT = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) t[48 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[97 + c] = 10 + c;
    t[65 + c] = 10 + c;
  }
  return t;
})();

/**
 * Parses the line that starts at b[pos] into `row`. Returns where the next line starts (past
 * the "\n"; b.length at the end of b, which ends a line too), or -1 when the line is
 * malformed (criteoLineProblemAt says why). A "\r" before the line end is dropped.
 */
export function parseCriteoBytes(b: Uint8Array, pos: number, R: number, row: ParsedRow): number {
  const n = b.length;
  let i = pos;
  if (i + 1 >= n || b[i + 1] !== TAB) return -1;
  const l = b[i] - 48;
  if (l !== 0 && l !== 1) return -1;
  row.label = l;
  i += 2;
  const ints = row.ints;
  for (let d = 0; d < CRITEO_DENSE; d++) {
    let negative = false;
    if (i < n && b[i] === 45) {
      negative = true; // "-"
      i++;
    }
    const start = i;
    let v = 0;
    for (; i < n; i++) {
      const digit = b[i] - 48;
      if (digit < 0 || digit > 9) break;
      v = v * 10 + digit;
    }
    const digits = i - start;
    // Every integer field is followed by a tab; 1–15 digits after a "-", 0–15 without.
    if (i === n || b[i] !== TAB || digits > 15 || (negative && digits === 0)) return -1;
    ints[d] = negative ? 0 : v;
    i++;
  }
  const cats = row.cats;
  for (let t = 0; t < CRITEO_SPARSE; t++) {
    const start = i;
    let v = 0;
    for (; i < n; i++) {
      const h = HEX_DIGIT[b[i]];
      if (h < 0) break;
      v = v * 16 + h;
    }
    if (i - start > 8) return -1;
    cats[t] = R > 0 ? v % R : v;
    if (t < CRITEO_SPARSE - 1) {
      if (i === n || b[i] !== TAB) return -1;
      i++;
    }
  }
  if (i === n) return n;
  if (b[i] === LF) return i + 1;
  if (b[i] === CR) {
    if (i + 1 === n) return n;
    if (b[i + 1] === LF) return i + 2;
  }
  return -1;
}

/** The line that starts at b[pos], as parseCriteoBytes delimits lines: where the next one
 *  starts, and what is wrong with it (a line parseCriteoBytes rejected). */
export function criteoLineProblemAt(b: Uint8Array, pos: number, R: number): { next: number; problem: string } {
  const lf = b.indexOf(LF, pos);
  const next = lf === -1 ? b.length : lf + 1;
  let end = lf === -1 ? b.length : lf;
  if (end > pos && b[end - 1] === CR) end--;
  const problem = parseCriteoLine(latin1Text(b.subarray(pos, end)), R, new ParsedRow());
  if (problem === null) {
    throw new Error(
      `criteo: internal error: the byte parser rejected a line the text parser accepts: ${quote(latin1Text(b.subarray(pos, end)))}`,
    );
  }
  return { next, problem };
}

/** Parses one line (without its line end) into `row`; returns what is wrong with it, or null. */
export function parseCriteoLine(line: string, R: number, row: ParsedRow): string | null {
  let pos = 0;
  for (let f = 0; f < FIELDS; f++) {
    let end = line.indexOf("\t", pos);
    if (f === FIELDS - 1) {
      if (end !== -1) return fieldCountProblem(line);
      end = line.length;
    } else if (end === -1) return fieldCountProblem(line);

    if (f === 0) {
      if (end - pos !== 1 || (line.charCodeAt(pos) !== 48 && line.charCodeAt(pos) !== 49)) {
        return `label must be 0 or 1, got ${quote(line.slice(pos, end))}`;
      }
      row.label = line.charCodeAt(pos) - 48;
    } else if (f <= CRITEO_DENSE) {
      const v = parseInteger(line, pos, end);
      if (Number.isNaN(v)) return `field ${criteoFieldName(f)} is not an integer: ${quote(line.slice(pos, end))}`;
      row.ints[f - 1] = v < 0 ? 0 : v;
    } else {
      const v = parseHex(line, pos, end);
      if (Number.isNaN(v)) {
        return `field ${criteoFieldName(f)} is not a hexadecimal value of at most 8 digits: ${quote(line.slice(pos, end))}`;
      }
      row.cats[f - 1 - CRITEO_DENSE] = R > 0 ? v % R : v;
    }
    pos = end + 1;
  }
  return null;
}

function fieldCountProblem(line: string): string {
  if (line.length === 0) return `empty line (expected ${FIELDS} tab-separated fields)`;
  const found = line.split("\t").length;
  return `expected ${FIELDS} tab-separated fields (label, I1–I${CRITEO_DENSE}, C1–C${CRITEO_SPARSE}), found ${found}`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** A decimal integer in line[start, end): "" → 0, optional "-", 1–15 digits; NaN when malformed. */
function parseInteger(line: string, start: number, end: number): number {
  if (start === end) return 0;
  let i = start;
  const negative = line.charCodeAt(i) === 45; // "-"
  if (negative) i++;
  if (i === end || end - i > 15) return Number.NaN;
  let v = 0;
  for (; i < end; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return Number.NaN;
    v = v * 10 + d;
  }
  return negative ? -v : v;
}

/** A hexadecimal value in line[start, end): "" → 0 (the reference's missing token "0"), 1–8 digits; NaN when malformed. */
function parseHex(line: string, start: number, end: number): number {
  if (start === end) return 0;
  if (end - start > 8) return Number.NaN;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return Number.NaN;
    v = v * 16 + d;
  }
  return v;
}
