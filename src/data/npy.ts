// NumPy's .npy files (format versions 1–3), read by position: the header (dtype, shape,
// order), then any range of rows without reading the rest, so a day of Criteo (tens of GB)
// is never held whole. Only what TorchRec's Criteo files use is accepted: little-endian
// float32/float64/int32/int64 (and uint8/bool), C order; anything else is an error naming the
// file and what it holds. The file is opened through the host's file access handed in
// (src/data/files.ts).
//
// Glossary: N rows (shape[0]), C values per row (the product of the other dims).

import type { DataFiles, ReadableFile } from "./files.ts";
import { latin1Text } from "./text_lines.ts";

export type NpyDType = "<f4" | "<f8" | "<i4" | "<i8" | "|u1" | "|b1";
const SIZES: Record<NpyDType, number> = { "<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|u1": 1, "|b1": 1 };

export interface NpyHeader {
  readonly dtype: NpyDType;
  readonly shape: readonly number[];
  /** Byte where the data starts. */
  readonly dataOffset: number;
  /** N: shape[0] (1 for a 0-d array). */
  readonly rows: number;
  /** C: values per row. */
  readonly rowValues: number;
}

/** An open .npy file whose rows are read by position. */
export class NpyFile {
  readonly path: string;
  readonly header: NpyHeader;
  readonly #file: ReadableFile;

  constructor(path: string, files: DataFiles) {
    this.path = path;
    try {
      this.#file = files.open(path);
    } catch (e) {
      throw new Error(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      this.header = this.#readHeader();
    } catch (e) {
      this.#file.close();
      throw e;
    }
  }

  #bytes(position: number, length: number): DataView {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const k = this.#file.readSync(buf.subarray(got), position + got);
      if (k === 0)
        throw new Error(
          `${this.path}: ends at byte ${position + got}, before the ${length} bytes expected at ${position}`,
        );
      got += k;
    }
    return new DataView(buf.buffer);
  }

  #readHeader(): NpyHeader {
    const fail = (what: string): never => {
      throw new Error(`${this.path}: not a .npy file NumPy's format describes: ${what}`);
    };
    const size = this.#file.size;
    const pre = this.#bytes(0, Math.min(10, size));
    const bytes = (v: DataView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (size < 10 || latin1Text(bytes(pre).subarray(0, 6)) !== "\x93NUMPY") fail("no \\x93NUMPY magic");
    const major = pre.getUint8(6);
    if (major < 1 || major > 3) fail(`format version ${major}`);
    const long = major >= 2;
    const len = long ? this.#bytes(8, 4).getUint32(0, true) : pre.getUint16(8, true);
    const start = long ? 12 : 10;
    const head = bytes(this.#bytes(start, len));
    const text = major === 3 ? new TextDecoder("utf-8").decode(head) : latin1Text(head);
    const descr = /'descr':\s*'([^']*)'/.exec(text)?.[1];
    const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
    const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
    if (descr === undefined || fortran === undefined || shapeText === undefined)
      fail(`header ${JSON.stringify(text.trim())}`);
    if (!((descr as string) in SIZES))
      throw new Error(
        `${this.path}: dtype ${descr} is not one read here (little-endian float32/float64/int32/int64, uint8, bool)`,
      );
    if (fortran === "True")
      throw new Error(`${this.path}: Fortran (column-major) order; save it C-ordered (np.ascontiguousarray)`);
    const shape = (shapeText as string)
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x !== "")
      .map(Number);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`shape (${shapeText})`);
    const dtype = descr as NpyDType;
    const rows = shape.length === 0 ? 1 : shape[0];
    const rowValues = shape.slice(1).reduce((a, b) => a * b, 1);
    const dataOffset = start + len;
    const want = dataOffset + rows * rowValues * SIZES[dtype];
    if (size !== want)
      throw new Error(`${this.path}: ${size} bytes, but its header (${descr}, shape (${shapeText})) needs ${want}`);
    return { dtype, shape, dataOffset, rows, rowValues };
  }

  /** Rows [start, end) as numbers in a Float64Array ((end − start) · C values); int64 beyond 2^53 is an error. */
  rows(start: number, end: number): Float64Array {
    const h = this.header;
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= h.rows))
      throw new Error(`${this.path}: rows [${start}, ${end}) are outside its ${h.rows}`);
    const size = SIZES[h.dtype];
    const count = (end - start) * h.rowValues;
    const buf = this.#bytes(h.dataOffset + start * h.rowValues * size, count * size);
    const out = new Float64Array(count);
    for (let j = 0; j < count; j++) {
      switch (h.dtype) {
        case "<f4":
          out[j] = buf.getFloat32(4 * j, true);
          break;
        case "<f8":
          out[j] = buf.getFloat64(8 * j, true);
          break;
        case "<i4":
          out[j] = buf.getInt32(4 * j, true);
          break;
        case "<i8": {
          const v = buf.getBigInt64(8 * j, true);
          if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER))
            throw new Error(`${this.path}: value ${v} at row ${start + Math.floor(j / h.rowValues)} is beyond 2^53`);
          out[j] = Number(v);
          break;
        }
        default:
          out[j] = buf.getUint8(j);
      }
    }
    return out;
  }

  close(): void {
    this.#file.close();
  }
}
