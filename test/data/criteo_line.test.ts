// The Criteo line parsers: the bytes parser (preprocessing's fast path) accepts exactly the
// lines the text parser accepts, with the same values, and for a line it rejects the text
// parser's message; over random lines with empty fields, negative and long integers, upper-
// and lower-case hex, CRLF, wrong field counts and stray bytes, one line or many in a buffer.
// And the byte line reader underneath: the same lines as a whole-file split, for any chunk size.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { criteoLineProblemAt, parseCriteoBytes, parseCriteoLine, ParsedRow } from "../../src/data/criteo_line.ts";
import { readLineChunks } from "../../src/data/lines.ts";
import { splitLines } from "../../src/data/text_lines.ts";
import { nodeDataFiles } from "../../src/cli/node_files.ts";

const digits = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...alphabet.split("")), { minLength: min, maxLength: max }).map((a) => a.join(""));

/** An integer field: empty, "-", up to 17 digits, negative, or a stray character. */
const intField = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  { weight: 8, arbitrary: digits("0123456789", 1, 4) },
  { weight: 2, arbitrary: digits("0123456789", 1, 4).map((d) => `-${d}`) },
  { weight: 1, arbitrary: digits("0123456789", 14, 17) },
  { weight: 1, arbitrary: fc.constantFrom("-", "+3", "1.5", "1e3", " 7", "7\r", "--1") },
);
/** A categorical field: empty, 1–9 hex digits of either case, or a stray character. */
const hexField = fc.oneof(
  { weight: 2, arbitrary: fc.constant("") },
  { weight: 8, arbitrary: digits("0123456789abcdefABCDEF", 1, 8) },
  { weight: 1, arbitrary: digits("0123456789abcdef", 9, 10) },
  { weight: 1, arbitrary: fc.constantFrom("g", "0x1", "ab cd", "é", "\r") },
);
const labelField = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom("0", "1") },
  { weight: 1, arbitrary: fc.constantFrom("", "2", "01", "-1", "1\r") },
);

/** A line without its line end: 40 fields, now and then one too few or too many, or empty. */
const lineArb: fc.Arbitrary<string> = fc
  .tuple(
    labelField,
    fc.array(intField, { minLength: 13, maxLength: 13 }),
    fc.array(hexField, { minLength: 26, maxLength: 26 }),
    fc.constantFrom(0, 0, 0, 0, 0, 0, -1, 1, -39),
  )
  .map(([label, ints, cats, extra]) => {
    const f = [label, ...ints, ...cats];
    if (extra === -1) f.pop();
    if (extra === 1) f.push("7");
    if (extra === -39) return "";
    return f.join("\t");
  });
const endingArb = fc.constantFrom("\n", "\r\n", "\n", "\r\n", "\r\r\n");

function sameRow(a: ParsedRow, b: ParsedRow, what: string): void {
  assert.is(a.label, b.label, `${what}: label`);
  // === rather than Object.is: "-0" gives -0 in one and 0 in the other, the same log(x + 1) and int32.
  a.ints.forEach((v, d) => assert.ok(v === b.ints[d], `${what}: I${d + 1} ${v} vs ${b.ints[d]}`));
  a.cats.forEach((v, t) => assert.ok(v === b.cats[t], `${what}: C${t + 1} ${v} vs ${b.cats[t]}`));
}

test("the bytes parser accepts what the text parser accepts, with the same values and messages", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(lineArb, endingArb), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      fc.constantFrom(0, 0, 5, 1000, 0x7fffffff),
      (lines, lastEnds, R) => {
        const text = lines.map(([l, e], k) => (k === lines.length - 1 && !lastEnds ? l : l + e)).join("");
        const b = Buffer.from(text, "latin1");
        // The text's lines, as the readers cut them: at "\n", one "\r" before it dropped.
        const expected = splitLines(text);
        const got = new ParsedRow();
        const want = new ParsedRow();
        let pos = 0;
        for (const [k, line] of expected.entries()) {
          assert.ok(pos < b.length, `line ${k + 1} is in the buffer`);
          const problem = parseCriteoLine(line, R, want);
          const next = parseCriteoBytes(b, pos, R, got);
          if (problem === null) {
            assert.ok(next !== -1, `line ${k + 1} ${JSON.stringify(line)}: the bytes parser rejected it`);
            sameRow(got, want, `line ${k + 1}`);
            pos = next;
          } else {
            assert.is(next, -1, `line ${k + 1} ${JSON.stringify(line)}: the bytes parser accepted it (${problem})`);
            const bad = criteoLineProblemAt(b, pos, R);
            assert.is(bad.problem, problem);
            pos = bad.next;
          }
        }
        assert.is(pos, b.length, "every byte belongs to a line");
      },
    ),
    { seed: 23, numRuns: 3000 },
  );
});

test("a line at the very end of the buffer ends there, with or without a final \\r", () => {
  const line = ["1", ...Array<string>(13).fill("2"), ...Array<string>(26).fill("a")].join("\t");
  const row = new ParsedRow();
  for (const tail of ["", "\r", "\n", "\r\n"]) {
    const b = Buffer.from(line + tail, "latin1");
    assert.is(parseCriteoBytes(b, 0, 0, row), b.length, JSON.stringify(tail));
    assert.is(row.cats[25], 10);
  }
});

const tmp = mkdtempSync(join(tmpdir(), "dlrm-criteo-line-"));

test("readLineChunks: whole lines in every chunk, the same lines as a whole-file split, for any chunk size", async () => {
  const text = "alpha\nbe\r\nγamma\n\n" + "x".repeat(40) + "\nlast without newline";
  const path = join(tmp, "lines.txt");
  writeFileSync(path, text);
  const expected = splitLines(Buffer.from(text).toString("latin1"));
  for (const chunkBytes of [1, 2, 3, 7, 16, 1 << 16]) {
    const got: string[] = [];
    let bytes = 0;
    for await (const c of readLineChunks(path, nodeDataFiles, { chunkBytes })) {
      const s = Buffer.from(c.bytes).toString("latin1");
      assert.ok(s.length > 0, "no empty chunk");
      got.push(...splitLines(s));
      if (c.bytesRead < Buffer.byteLength(text)) assert.ok(s.endsWith("\n"), `a chunk ends at a line end: ${s}`);
      bytes = c.bytesRead;
    }
    assert.equal(got, expected, `chunkBytes ${chunkBytes}`);
    assert.is(bytes, Buffer.byteLength(text));
  }
  const empty = join(tmp, "empty.txt");
  writeFileSync(empty, "");
  for await (const _ of readLineChunks(empty, nodeDataFiles)) assert.unreachable("an empty file has no chunk");
});

test("readLineChunks: a line longer than the limit is an error naming the file and the byte it starts at", async () => {
  const path = join(tmp, "long.txt");
  writeFileSync(path, `short\n${"x".repeat(200)}\n`);
  let message = "";
  try {
    for await (const _ of readLineChunks(path, nodeDataFiles, { chunkBytes: 16, maxLineBytes: 64 }));
  } catch (e) {
    message = (e as Error).message;
  }
  assert.match(message, /long\.txt: no line end in the 64 bytes from byte 6 /);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
