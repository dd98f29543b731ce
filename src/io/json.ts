// JSON read from files (a safetensors header, a model config) with errors a person can act
// on: a syntax error is named by line and column (JSON.parse names a byte position, or
// nothing), and nesting deeper than the caller allows is refused before JSON.parse, whose
// recursion would otherwise end in "Maximum call stack size exceeded". The check is one
// forward pass with an explicit stack, so it costs no recursion on any input.

/** A JSON text that is malformed or nests too deep; the message names line and column. */
export class JsonTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonTextError";
  }
}

/** The parsed value of text, after checking its syntax and that it nests at most maxDepth containers deep. */
export function parseJson(text: string, maxDepth: number): unknown {
  checkJson(text, maxDepth);
  return JSON.parse(text);
}

/** "line L, column C" (both from 1) of the character at index at. */
function lineColumn(text: string, at: number): string {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < at; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return `line ${line}, column ${at - start + 1}`;
}

/** A character for a message: printable ASCII as itself, others by code. */
function show(c: string | undefined): string {
  if (c === undefined) return "the end of the text";
  const code = c.charCodeAt(0);
  return code >= 0x20 && code < 0x7f ? `'${c}'` : `character \\u${code.toString(16).padStart(4, "0")}`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = new Set([" ", "\t", "\n", "\r"]);

type Expect = "value" | "value-or-close" | "key" | "key-or-close" | "colon" | "comma-or-close" | "end";

/** Throws a JsonTextError at the first syntax error or container deeper than maxDepth. */
function checkJson(text: string, maxDepth: number): void {
  const open: string[] = []; // the open containers, "{" or "["
  let expect = "value" as Expect; // "as": the closures below change it
  let i = 0;
  const fail = (at: number, what: string): never => {
    throw new JsonTextError(`${lineColumn(text, at)}: ${what}`);
  };
  const afterValue = (): void => {
    expect = open.length === 0 ? "end" : "comma-or-close";
  };
  /** i at an opening quote: moves i past the closing one. */
  const string = (): void => {
    const from = i;
    for (i++; ; i++) {
      const c = text[i];
      if (c === undefined) fail(from, "a string that is never closed");
      if (c === '"') break;
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(i, "a \\u escape without 4 hex digits");
          i += 5;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
        else fail(i, `an unknown escape \\${e ?? ""} in a string`);
      } else if (c.charCodeAt(0) < 0x20) fail(i, `${show(c)} inside a string (escape it)`);
    }
    i++;
  };
  const value = (): void => {
    const c = text[i];
    if (c === "{" || c === "[") {
      if (open.length >= maxDepth) fail(i, `nested more than ${maxDepth} levels deep`);
      open.push(c);
      expect = c === "{" ? "key-or-close" : "value-or-close";
      i++;
    } else if (c === '"') {
      string();
      afterValue();
    } else {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      const word = ["true", "false", "null"].find((w) => text.startsWith(w, i));
      if (m !== null) i += m[0].length;
      else if (word !== undefined) i += word.length;
      else fail(i, `unexpected ${show(c)} where a value should be`);
      afterValue();
    }
  };
  for (;;) {
    while (i < text.length && WHITESPACE.has(text[i])) i++;
    const c = text[i];
    if (c === undefined) {
      if (expect === "end") return;
      fail(
        i,
        open.length > 0 ? `the text ends inside an unclosed ${open[open.length - 1]}` : "no value (the text is empty)",
      );
    }
    switch (expect) {
      case "end":
        fail(i, `unexpected ${show(c)} after the JSON value`);
        break;
      case "value-or-close":
        if (c === "]") {
          open.pop();
          i++;
          afterValue();
        } else value();
        break;
      case "value":
        value();
        break;
      case "key-or-close":
      case "key":
        if (c === "}" && expect === "key-or-close") {
          open.pop();
          i++;
          afterValue();
        } else if (c === '"') {
          string();
          expect = "colon";
        } else fail(i, `expected a "quoted" property name, got ${show(c)}`);
        break;
      case "colon":
        if (c !== ":") fail(i, `expected ':' after a property name, got ${show(c)}`);
        i++;
        expect = "value";
        break;
      case "comma-or-close": {
        const close = open[open.length - 1] === "{" ? "}" : "]";
        if (c === ",") expect = close === "}" ? "key" : "value";
        else if (c === close) {
          open.pop();
          afterValue();
        } else fail(i, `expected ',' or '${close}', got ${show(c)}`);
        if (c === "," || c === close) i++;
        break;
      }
    }
  }
}

/** Longest echo of a value in an error message: a 3-million-entry shape must not make a 6 MB line. */
const MAX_ECHO = 120;

/** JSON of a value for an error message, cut at MAX_ECHO characters with the full length said. */
export function echo(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length <= MAX_ECHO ? s : `${s.slice(0, MAX_ECHO)}… (${s.length} characters)`;
}
