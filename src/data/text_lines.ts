// Lines of a text held in memory, and the text of Latin-1 bytes, with no file access (so that
// a page parses the files a user picks with the CLI's own parsers). Lines end at "\n"; a
// "\r" before it is dropped; a last line without a newline is still a line.

/** text[start, end) without a "\r" at its end. */
export function stripCR(text: string, start: number, end: number): string {
  return text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
}

/** All lines of an in-memory text (the line rules of src/data/lines.ts readLineBatches), for small files read whole. */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
    lines.push(stripCR(text, start, end));
    start = end + 1;
  }
  if (start < text.length) lines.push(stripCR(text, start, text.length));
  return lines;
}

/** The text of ISO-8859-1 bytes (each byte one character), as Node's "latin1" decoding gives
 *  it; a browser's TextDecoder("latin1") is windows-1252, which differs in 0x80–0x9F. */
export function latin1Text(bytes: Uint8Array): string {
  const CHUNK = 8192;
  let out = "";
  for (let k = 0; k < bytes.length; k += CHUNK) out += String.fromCharCode(...bytes.subarray(k, k + CHUNK));
  return out;
}
