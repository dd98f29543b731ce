// A streaming line reader: a text file as batches of lines, with each batch's first line
// number and the bytes read so far, so that a reader can name `file:line` in its errors
// and report progress, while never holding more than one chunk of the file in memory.
//
// Lines end at "\n"; a "\r" before it is dropped (files written on Windows). A last line
// without a newline is still a line; a file that ends with "\n" has no empty last line.
//
// The file is opened through the host's file access handed in (src/data/files.ts).
//
// Glossary: C bytes per chunk read from disk.

import { readChunks, type DataFiles } from "./files.ts";
import { latin1Text, stripCR } from "./text_lines.ts";
export { splitLines } from "./text_lines.ts";

export interface LineBatch {
  /** Whole lines, without their line endings. */
  readonly lines: string[];
  /** 1-based line number of lines[0] in the file. */
  readonly firstLine: number;
  /** Bytes of the file read so far (including the partial line carried to the next batch). */
  readonly bytesRead: number;
}

export interface LineReaderOptions {
  /** C: bytes read from disk at a time (default 1 MiB). */
  chunkBytes?: number;
  /** latin1 maps every byte to one character (right for ASCII data and MovieLens); utf8 decodes multi-byte characters across chunk boundaries. */
  encoding?: "latin1" | "utf8";
}

/** The lines of `path`, one batch per chunk read (a batch may be empty when a chunk holds no line end). */
export async function* readLineBatches(
  path: string,
  files: DataFiles,
  opts: LineReaderOptions = {},
): AsyncGenerator<LineBatch> {
  const chunkBytes = opts.chunkBytes ?? 1 << 20;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new Error(`readLineBatches: chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  // Latin-1 is one character per byte; UTF-8 keeps a character cut by a chunk's end for the next.
  const utf8 = opts.encoding === "utf8" ? new TextDecoder("utf-8", { ignoreBOM: true }) : null;
  const decode = (bytes: Uint8Array): string =>
    utf8 === null ? latin1Text(bytes) : utf8.decode(bytes, { stream: true });
  let carry = ""; // the unfinished last line of the previous chunk
  let nextLine = 1;
  let bytesRead = 0;
  for await (const chunk of readChunks(files.open(path), chunkBytes)) {
    bytesRead += chunk.length;
    const text = carry + decode(chunk);
    const lines: string[] = [];
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
      lines.push(stripCR(text, start, end));
      start = end + 1;
    }
    carry = text.slice(start);
    const batch: LineBatch = { lines, firstLine: nextLine, bytesRead };
    nextLine += lines.length;
    yield batch;
  }
  const rest = carry + (utf8 === null ? "" : utf8.decode());
  if (rest.length > 0) yield { lines: [stripCR(rest, 0, rest.length)], firstLine: nextLine, bytesRead };
}

// ---------------------------------------------------------------------------------------
// Lines as bytes: for parsers that read fields straight from the bytes (Criteo), with no
// string per line. One buffer is reused for the whole file.

/** Whole lines of a file as bytes: each ends with "\n", except the file's last line when the file does not. */
export interface LineChunk {
  /** The lines' bytes; a view of the reader's buffer, valid only until the next chunk is asked for. */
  readonly bytes: Uint8Array;
  /** Bytes of the file read so far (including a partial line carried to the next chunk). */
  readonly bytesRead: number;
}

/** The longest line readLineChunks takes (unless told otherwise): past this, the file is not line-structured text. */
export const MAX_LINE_BYTES = 64 << 20;

/** The lines of `path` in chunks of whole lines (about C bytes each, more when a line is longer). */
export async function* readLineChunks(
  path: string,
  files: DataFiles,
  opts: { chunkBytes?: number; maxLineBytes?: number } = {},
): AsyncGenerator<LineChunk> {
  const chunkBytes = opts.chunkBytes ?? 1 << 20;
  const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new Error(`readLineChunks: chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  const file = files.open(path);
  try {
    let buf = new Uint8Array(chunkBytes);
    let have = 0; // bytes in buf: the unfinished line carried from the last chunk, then new bytes
    let bytesRead = 0;
    for (;;) {
      if (have === buf.length) {
        // One line fills the buffer: make room for the rest of it.
        if (buf.length >= maxLine)
          throw new Error(
            `${path}: no line end in the ${buf.length} bytes from byte ${bytesRead - have} (not a text file of lines?)`,
          );
        const bigger = new Uint8Array(Math.max(buf.length + 1, Math.min(maxLine, 2 * buf.length)));
        bigger.set(buf);
        buf = bigger;
      }
      const got = await file.read(buf.subarray(have), bytesRead);
      if (got === 0) break;
      const from = have;
      have += got;
      bytesRead += got;
      const last = buf.lastIndexOf(10, have - 1);
      if (last < from) continue; // no line ends in the new bytes
      yield { bytes: buf.subarray(0, last + 1), bytesRead };
      buf.copyWithin(0, last + 1, have);
      have -= last + 1;
    }
    if (have > 0) yield { bytes: buf.subarray(0, have), bytesRead };
  } finally {
    file.close();
  }
}
