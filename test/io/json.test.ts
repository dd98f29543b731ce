// src/io/json.ts: the syntax check agrees with JSON.parse on what is JSON (property, on
// values written with and without indentation, and on those texts with one character
// changed), names errors by line and column, and refuses nesting past the limit without
// recursion.

import { test } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { echo, JsonTextError, parseJson } from "../../src/io/json.ts";

/** Whether JSON.parse accepts text. */
function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

test("parseJson accepts what JSON.parse accepts and refuses the rest (property, one character changed)", () => {
  fc.assert(
    fc.property(
      fc.jsonValue({ maxDepth: 4 }),
      fc.constantFrom(0, 2),
      fc.nat(),
      fc.constantFrom(...'{}[]:,"\\ \n0-.eE1tfnu'),
      (value, indent, at, c) => {
        const text = JSON.stringify(value, null, indent);
        assert.equal(parseJson(text, 64), JSON.parse(text));
        const i = at % (text.length + 1);
        const changed = text.slice(0, i) + c + text.slice(i + 1);
        let ours = true;
        try {
          parseJson(changed, 64);
        } catch (e) {
          assert.ok(e instanceof JsonTextError, String(e));
          ours = false;
        }
        assert.is(ours, isJson(changed), JSON.stringify(changed));
      },
    ),
    { seed: 24, numRuns: 2000 },
  );
});

test("errors name line and column; nesting past the limit is refused at the container that passes it", () => {
  assert.throws(
    () => parseJson('{\n  "a": 1,\n  "b": [1 2]\n}', 8),
    /^line 3, column 11: expected ',' or '\]', got '2'$/,
  );
  assert.throws(
    () => parseJson('{"a": "x\ny"}', 8),
    /^line 1, column 9: character \\u000a inside a string \(escape it\)$/,
  );
  assert.throws(() => parseJson("", 8), /^line 1, column 1: no value \(the text is empty\)$/);
  assert.throws(() => parseJson("[".repeat(1_000_000), 8), /^line 1, column 9: nested more than 8 levels deep$/);
  assert.equal(parseJson("[[[[[[[[1]]]]]]]]", 8), [[[[[[[[1]]]]]]]]);
});

test("echo cuts a long value and says how long it was", () => {
  assert.is(echo([1, 2]), "[1,2]");
  const long = echo(new Array<number>(3_000_000).fill(1));
  assert.ok(long.length < 160, long);
  assert.match(long, /^\[1,1,1.*… \(6000001 characters\)$/);
});

test.run();
