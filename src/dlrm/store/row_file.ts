// One table piece's rows on disk: a file of R records back to back (row_record.ts: a row's
// weights, then its optimizer state), read and written by positional I/O at row · record
// bytes. It is made anew at the start of a run, chunk by chunk, from a fill function (the
// seed's generator, or a checkpoint's rows), so it never needs memory for more than a chunk.
//
// Glossary: R rows, F floats per record.

import { closeSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import type { RowIO } from "./row_mover.ts";

/** Floats of records made or moved at a time (bounded memory however big the table). */
const CHUNK_FLOATS = 1 << 22;

/** Records of F floats made at a time: one at least. */
export function chunkRows(recordFloats: number): number {
  return Math.max(1, Math.floor(CHUNK_FLOATS / recordFloats));
}

export class RowFile implements RowIO {
  readonly path: string;
  readonly rows: number;
  readonly recordFloats: number;
  #fd: number;

  private constructor(path: string, fd: number, rows: number, recordFloats: number) {
    this.path = path;
    this.#fd = fd;
    this.rows = rows;
    this.recordFloats = recordFloats;
  }

  /**
   * Make path anew (an existing file is replaced) holding R records of F floats, filled in
   * chunks by fill(firstRow, into): `into` holds whole records of the rows from firstRow, a
   * view of buf (default a new array; at least min(R, chunkRows(F)) records long), and is
   * written in one go. fill null: the file is only sized (zeros), for someone else to write
   * through fd (the threads of file_makers.ts).
   */
  static create(
    path: string,
    rows: number,
    recordFloats: number,
    fill: ((firstRow: number, into: Float32Array) => void) | null,
    buf: Float32Array<ArrayBufferLike> = new Float32Array(
      fill === null ? 0 : Math.min(rows, chunkRows(recordFloats)) * recordFloats,
    ),
  ): RowFile {
    const perChunk = chunkRows(recordFloats);
    if (fill !== null && buf.length < Math.min(rows, perChunk) * recordFloats)
      throw new RangeError(
        `${path}: a chunk of ${buf.length} floats is less than ${Math.min(rows, perChunk)} records of ${recordFloats}`,
      );
    const fd = openSync(path, "w+");
    try {
      ftruncateSync(fd, rows * recordFloats * 4);
      for (let r = 0; fill !== null && r < rows; r += perChunk) {
        const part = buf.subarray(0, Math.min(perChunk, rows - r) * recordFloats);
        fill(r, part);
        writeAll(fd, part, r * recordFloats * 4, path);
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new RowFile(path, fd, rows, recordFloats);
  }

  /** Records [first, first + into.length / F) into `into`. */
  readRecords(first: number, into: Float32Array): void {
    this.#check(first, into.length);
    const bytes = new Uint8Array(into.buffer, into.byteOffset, into.byteLength);
    for (let done = 0; done < bytes.length;) {
      const n = readSync(this.#fd, bytes, done, bytes.length - done, first * this.recordFloats * 4 + done);
      if (n === 0)
        throw new Error(
          `${this.path}: the file ends before row ${first + Math.floor(done / (this.recordFloats * 4))} (it was cut short?)`,
        );
      done += n;
    }
  }

  /** The open file's descriptor (for a reader thread), -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  read(row: number, into: Float32Array): void {
    this.readRecords(row, into);
  }

  write(row: number, from: Float32Array): void {
    this.#check(row, from.length);
    writeAll(this.#fd, from, row * this.recordFloats * 4, this.path);
  }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }

  #check(first: number, floats: number): void {
    if (this.#fd < 0) throw new Error(`${this.path}: the table file is closed`);
    const count = floats / this.recordFloats;
    if (!Number.isInteger(count) || first < 0 || first + count > this.rows)
      throw new RangeError(
        `${this.path}: rows [${first}, ${first + count}) of ${this.rows} records of ${this.recordFloats} floats`,
      );
  }
}

function writeAll(fd: number, data: Float32Array, at: number, path: string): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let done = 0; done < bytes.length;) {
    const n = writeSync(fd, bytes, done, bytes.length - done, at + done);
    if (n === 0) throw new Error(`${path}: cannot write (the disk is full?)`);
    done += n;
  }
}
