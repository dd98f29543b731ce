// The RFC 4180 record parser: quoting round trips over any fields and any chunking
// (fast-check), and each edge case a user's file brings — commas, quotes and newlines inside
// quotes, CRLF, a BOM, empty fields, blank lines, a missing last line ending — against
// records written out by hand; malformed quoting is reported with the record's line.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { CsvParser, formatCsvRecord, type CsvRecord } from "../../src/data/csv_records.ts";

/** The records of `text` pushed in pieces cut at `cuts` (positions). */
function parse(text: string, cuts: number[] = [], delimiter = ","): CsvRecord[] {
  const p = new CsvParser({ delimiter });
  const out: CsvRecord[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(...p.push(text.slice(at, c)));
    at = c;
  }
  out.push(...p.push(text.slice(at)), ...p.end());
  return out;
}

const fields = (rs: CsvRecord[]): string[][] => rs.map((r) => r.fields);

test("edge cases: quotes with commas, doubled quotes and newlines; CRLF; empty fields; lines", () => {
  const text = 'a,b,c\r\n"x, y","say ""hi""","two\r\nlines"\r\n,,\r\n"",plain,"end"\r\n';
  const rs = parse(text);
  assert.equal(fields(rs), [
    ["a", "b", "c"],
    ["x, y", 'say "hi"', "two\r\nlines"],
    ["", "", ""],
    ["", "plain", "end"],
  ]);
  assert.equal(
    rs.map((r) => r.line),
    [1, 2, 4, 5],
  );
  assert.ok(rs.every((r) => r.problem === null));
});

test("a BOM is dropped; a last line without its ending is a record; blank lines are none", () => {
  assert.equal(fields(parse("\uFEFFid,v\n1,2")), [
    ["id", "v"],
    ["1", "2"],
  ]);
  assert.equal(fields(parse("\uFEFFid,v\n1,2", [1])), [
    ["id", "v"],
    ["1", "2"],
  ]);
  const rs = parse("a\n\n\r\nb\n");
  assert.equal(fields(rs), [["a"], ["b"]]);
  assert.equal(rs[1]?.line, 4);
});

test("a quote inside an unquoted field is literal; tabs for TSV", () => {
  assert.equal(fields(parse('5" floppy,x\n')), [['5" floppy', "x"]]);
  assert.equal(fields(parse('a\t"b\tc"\td\n', [], "\t")), [["a", "b\tc", "d"]]);
});

test("malformed quoting: text after a closing quote, an unclosed quote; parsing goes on", () => {
  const rs = parse('h\n"ab"c,1\nok,2\n"never closed,3\nmore\n');
  assert.equal(rs.length, 4);
  assert.equal(rs[1]?.line, 2);
  assert.match(rs[1]?.problem ?? "", /text after the closing quote of field 1: "c,1"/);
  assert.equal(rs[2]?.fields, ["ok", "2"]);
  assert.equal(rs[3]?.line, 4);
  assert.match(rs[3]?.problem ?? "", /never closed/);
});

test("a record longer than the limit is an error naming its line", () => {
  const p = new CsvParser({ maxRecordChars: 100 });
  p.push("a\nb\n");
  assert.throws(() => p.push(`"${"x".repeat(200)}`), /line 3: a record longer than 100 characters/);
});

const field = fc.oneof(
  fc.string(),
  fc.constantFrom("", '"', '""', ",", "\n", "\r\n", "\r", "a,b", ' "q" ', "\t"),
  fc.array(fc.constantFrom("a", ",", '"', "\n", "\r", " ")).map((cs) => cs.join("")),
);

test("fast-check: formatted records parse back to the same fields, whatever the chunking", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(field, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }),
      fc.constantFrom("\n", "\r\n"),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.constantFrom(",", "\t"),
      (records, eol, rawCuts, delimiter) => {
        const text = records.map((r) => formatCsvRecord(r, delimiter)).join(eol) + eol;
        const cuts = rawCuts.map((c) => c % (text.length + 1));
        const rs = parse(text, cuts, delimiter);
        assert.equal(fields(rs), records);
        // each record starts on the line after the previous one's newlines
        let line = 1;
        rs.forEach((r, k) => {
          assert.is(r.line, line);
          line += 1 + (records[k] as string[]).join("").split("\n").length - 1;
        });
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
