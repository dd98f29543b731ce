// Zip archives of stored (uncompressed) entries, as torch.save writes them: reading the
// central directory (with Zip64) into an index of where each entry's bytes lie in the file,
// so a reader takes any byte range of an entry by a positional read; and laying out an
// archive whose entries start at 64-byte aligned offsets fixed in advance, so that several
// writers (the ranks of a hybrid run) fill the entries' bytes in place before the CRCs and the
// central directory are written last (finishZip).
//
// Every length and offset read is checked against the file's size before it is used, so a
// truncated or hostile file gives a one-line error naming the file and the offset.
//
// Glossary: EOCD end of central directory record, CD central directory, LH local file
// header, zip64 the 64-bit extension (sizes or offsets of 0xFFFFFFFF or more).

import { readSync } from "node:fs";

/** Bad zip input; the message starts with the file name. */
export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipError";
  }
}

/** Where an entry's bytes lie in the archive file. */
export interface ZipEntry {
  name: string;
  /** Absolute offset of the first byte of its data. */
  dataStart: number;
  size: number;
  crc32: number;
}

const SIG_LH = 0x04034b50;
const SIG_CD = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA = 0x0001;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** The EOCD is 22 bytes plus a comment of at most 65535. */
const EOCD_SEARCH = 22 + U16_MAX;
/** More entries than this in a checkpoint is not a checkpoint (and would cost memory to index). */
const MAX_ENTRIES = 1_000_000;

/** n bytes at offset at, which must end by limit (the file's size, or the start of what follows). */
function readAt(fd: number, file: string, at: number, n: number, limit: number, what: string): Buffer {
  if (at < 0 || n < 0 || at + n > limit)
    throw new ZipError(
      `${file}: ${what} at offset ${at} (${n} bytes) runs past offset ${limit}, where ${what.startsWith("local header") ? "the central directory starts" : "the file or its records end"} (is it truncated?)`,
    );
  const b = Buffer.alloc(n);
  for (let done = 0; done < n;) {
    const k = readSync(fd, b, done, n - done, at + done);
    if (k === 0) throw new ZipError(`${file}: ${what} at offset ${at}: the file ended early`);
    done += k;
  }
  return b;
}

function u64(b: Buffer, at: number, file: string, what: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${file}: ${what} ${v} is too large`);
  return Number(v);
}

/** The zip64 extra field's values, in its fixed order, for the fields whose 32-bit value is 0xFFFFFFFF. */
function zip64Values(extra: Buffer, wanted: number, file: string, where: string): number[] {
  for (let at = 0; at + 4 <= extra.length;) {
    const id = extra.readUInt16LE(at);
    const len = extra.readUInt16LE(at + 2);
    if (at + 4 + len > extra.length) break;
    if (id === ZIP64_EXTRA) {
      if (len < 8 * wanted)
        throw new ZipError(`${file}: ${where}: its zip64 extra field has ${len} bytes, needs ${8 * wanted}`);
      return Array.from({ length: wanted }, (_, i) => u64(extra, at + 4 + 8 * i, file, `${where}: zip64 value`));
    }
    at += 4 + len;
  }
  throw new ZipError(`${file}: ${where}: a size or offset is 0xFFFFFFFF but there is no zip64 extra field`);
}

/** The entries of a stored zip archive, by name, each checked to lie inside the file before the central directory. */
export function readZipIndex(fd: number, file: string, fileBytes: number): Map<string, ZipEntry> {
  if (fileBytes < 22)
    throw new ZipError(`${file}: ${fileBytes} bytes is too short for a zip archive (is it truncated?)`);
  const tailStart = Math.max(0, fileBytes - EOCD_SEARCH);
  const tail = readAt(fd, file, tailStart, fileBytes - tailStart, fileBytes, "end of the archive");
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${file}: no end-of-central-directory record: not a zip archive, or truncated`);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdStart = tail.readUInt32LE(eocd + 16);
  const eocdAt = tailStart + eocd;
  let cdEnd = eocdAt;
  if (count === U16_MAX || cdSize === U32_MAX || cdStart === U32_MAX) {
    const loc = readAt(fd, file, eocdAt - 20, 20, fileBytes, "zip64 end-of-central-directory locator");
    if (loc.readUInt32LE(0) !== SIG_EOCD64_LOCATOR)
      throw new ZipError(
        `${file}: the end record asks for zip64 but there is no zip64 locator at offset ${eocdAt - 20}`,
      );
    const at = u64(loc, 8, file, "zip64 end record offset");
    const rec = readAt(fd, file, at, 56, eocdAt - 20, "zip64 end-of-central-directory record");
    if (rec.readUInt32LE(0) !== SIG_EOCD64)
      throw new ZipError(`${file}: no zip64 end-of-central-directory record at offset ${at}`);
    count = u64(rec, 32, file, "zip64 entry count");
    cdSize = u64(rec, 40, file, "zip64 central directory size");
    cdStart = u64(rec, 48, file, "zip64 central directory offset");
    cdEnd = at;
  }
  if (count > MAX_ENTRIES)
    throw new ZipError(`${file}: ${count} entries is more than a checkpoint holds (limit ${MAX_ENTRIES})`);
  if (cdStart + cdSize > cdEnd)
    throw new ZipError(
      `${file}: central directory [${cdStart}, ${cdStart + cdSize}) runs past its end record at offset ${cdEnd}`,
    );
  const cd = readAt(fd, file, cdStart, cdSize, fileBytes, "central directory");
  const entries = new Map<string, ZipEntry>();
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let at = 0;
  for (let k = 0; k < count; k++) {
    const where = `central directory entry ${k} (offset ${cdStart + at})`;
    if (at + 46 > cd.length || cd.readUInt32LE(at) !== SIG_CD)
      throw new ZipError(`${file}: ${where}: not a central directory header`);
    const flags = cd.readUInt16LE(at + 8);
    const method = cd.readUInt16LE(at + 10);
    let csize = cd.readUInt32LE(at + 20);
    let size = cd.readUInt32LE(at + 24);
    const nameLen = cd.readUInt16LE(at + 28);
    const extraLen = cd.readUInt16LE(at + 30);
    const commentLen = cd.readUInt16LE(at + 32);
    let lhAt = cd.readUInt32LE(at + 42);
    if (at + 46 + nameLen + extraLen + commentLen > cd.length)
      throw new ZipError(`${file}: ${where}: its name and extra fields run past the central directory`);
    let name: string;
    try {
      name = utf8.decode(cd.subarray(at + 46, at + 46 + nameLen));
    } catch {
      throw new ZipError(`${file}: ${where}: the entry name is not UTF-8`);
    }
    const extra = cd.subarray(at + 46 + nameLen, at + 46 + nameLen + extraLen);
    const wide = [size, csize, lhAt].filter((v) => v === U32_MAX).length;
    if (wide > 0) {
      const vals = zip64Values(extra, wide, file, `entry "${name}"`);
      let i = 0;
      if (size === U32_MAX) size = vals[i++];
      if (csize === U32_MAX) csize = vals[i++];
      if (lhAt === U32_MAX) lhAt = vals[i++];
    }
    if ((flags & 1) !== 0) throw new ZipError(`${file}: entry "${name}" is encrypted`);
    if (method !== 0 || csize !== size)
      throw new ZipError(
        `${file}: entry "${name}" is compressed (method ${method}); torch.save writes stored entries only`,
      );
    if (entries.has(name)) throw new ZipError(`${file}: entry "${name}" appears twice`);
    const lh = readAt(fd, file, lhAt, 30, cdStart, `local header of entry "${name}"`);
    if (lh.readUInt32LE(0) !== SIG_LH)
      throw new ZipError(`${file}: entry "${name}": no local header at offset ${lhAt}`);
    const dataStart = lhAt + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (dataStart + size > cdStart)
      throw new ZipError(
        `${file}: entry "${name}": its data [${dataStart}, ${dataStart + size}) runs past the central directory at offset ${cdStart}`,
      );
    entries.set(name, { name, dataStart, size, crc32: cd.readUInt32LE(at + 16) });
    at += 46 + nameLen + extraLen + commentLen;
  }
  const sorted = [...entries.values()].sort((a, b) => a.dataStart - b.dataStart);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1];
    const e = sorted[i];
    if (e.dataStart < p.dataStart + p.size)
      throw new ZipError(`${file}: entries "${p.name}" and "${e.name}" overlap at offset ${e.dataStart}`);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------
// CRC-32 (the zip polynomial 0xEDB88320, reflected)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continue a CRC-32 over more bytes (start with crc = 0). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = (crc ^ U32_MAX) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ U32_MAX) >>> 0;
}

// ---------------------------------------------------------------------------------------
// Writing

/** An entry to write: its bytes now (small records), or only its size (filled in place later). */
export interface ZipEntrySpec {
  name: string;
  size: number;
  bytes?: Uint8Array;
}

/** Where everything of an archive goes: the bytes known now, each entry's data offset, and what finishZip needs. */
export interface ZipLayout {
  /** Byte ranges to write now: local headers and the entries given with their bytes. */
  chunks: { at: number; bytes: Uint8Array }[];
  /** Absolute offset of each entry's data. */
  offsets: Map<string, number>;
  /** Total file size once finished. */
  totalBytes: number;
  entries: readonly { spec: ZipEntrySpec; lhAt: number; dataAt: number; zip64: boolean }[];
  cdStart: number;
}

/** Data of every entry starts at a multiple of this (torch.save's alignment, so a reader can mmap it). */
export const ZIP_ALIGNMENT = 64;

/**
 * Lay out a stored archive. Each local header carries an extra field padding its data to a
 * multiple of ZIP_ALIGNMENT ("FB" filler, as PyTorch writes) and, for entries of 4 GiB or more
 * or past 4 GiB (or all, with forceZip64), a zip64 field.
 */
export function layoutZip(specs: readonly ZipEntrySpec[], o: { forceZip64?: boolean } = {}): ZipLayout {
  const enc = new TextEncoder();
  const chunks: { at: number; bytes: Uint8Array }[] = [];
  const offsets = new Map<string, number>();
  const entries: { spec: ZipEntrySpec; lhAt: number; dataAt: number; zip64: boolean }[] = [];
  let at = 0;
  for (const spec of specs) {
    if (spec.bytes !== undefined && spec.bytes.length !== spec.size)
      throw new ZipError(`layoutZip: entry "${spec.name}" has ${spec.bytes.length} bytes but size ${spec.size}`);
    const name = enc.encode(spec.name);
    const zip64 = o.forceZip64 === true || spec.size >= U32_MAX || at >= U32_MAX;
    const z64Len = zip64 ? 20 : 0;
    const base = at + 30 + name.length + z64Len + 4; // with an empty padding field
    const pad = (ZIP_ALIGNMENT - (base % ZIP_ALIGNMENT)) % ZIP_ALIGNMENT;
    const lh = Buffer.alloc(30 + name.length + z64Len + 4 + pad);
    lh.writeUInt32LE(SIG_LH, 0);
    lh.writeUInt16LE(zip64 ? 45 : 20, 4); // version needed
    // flags 0, method 0 (stored), time and date 0; the CRC (offset 14) is written by finishZip
    lh.writeUInt32LE(zip64 ? U32_MAX : spec.size, 18);
    lh.writeUInt32LE(zip64 ? U32_MAX : spec.size, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(z64Len + 4 + pad, 28);
    lh.set(name, 30);
    let x = 30 + name.length;
    if (zip64) {
      lh.writeUInt16LE(ZIP64_EXTRA, x);
      lh.writeUInt16LE(16, x + 2);
      lh.writeBigUInt64LE(BigInt(spec.size), x + 4);
      lh.writeBigUInt64LE(BigInt(spec.size), x + 12);
      x += 20;
    }
    lh.write("FB", x, "latin1");
    lh.writeUInt16LE(pad, x + 2);
    lh.fill("Z", x + 4);
    chunks.push({ at, bytes: lh });
    const dataAt = at + lh.length;
    if (spec.bytes !== undefined) chunks.push({ at: dataAt, bytes: spec.bytes });
    offsets.set(spec.name, dataAt);
    entries.push({ spec, lhAt: at, dataAt, zip64 });
    at = dataAt + spec.size;
  }
  const cdStart = at;
  const cdBytes = centralDirectory(entries, new Map(), cdStart).length;
  return { chunks, offsets, totalBytes: cdStart + cdBytes, entries, cdStart };
}

/** The central directory and end records for entries with these CRCs (absent: 0, for sizing). */
function centralDirectory(entries: ZipLayout["entries"], crcs: ReadonlyMap<string, number>, cdStart: number): Buffer {
  const enc = new TextEncoder();
  const parts: Buffer[] = [];
  for (const e of entries) {
    const name = enc.encode(e.spec.name);
    const wideOffset = e.zip64 && e.lhAt >= U32_MAX;
    const z64 = e.zip64 ? [e.spec.size, e.spec.size, ...(wideOffset ? [e.lhAt] : [])] : [];
    const extraLen = z64.length === 0 ? 0 : 4 + 8 * z64.length;
    const h = Buffer.alloc(46 + name.length + extraLen);
    h.writeUInt32LE(SIG_CD, 0);
    h.writeUInt16LE(e.zip64 ? 45 : 20, 4); // version made by
    h.writeUInt16LE(e.zip64 ? 45 : 20, 6); // version needed
    h.writeUInt32LE(crcs.get(e.spec.name) ?? 0, 16);
    h.writeUInt32LE(e.zip64 ? U32_MAX : e.spec.size, 20);
    h.writeUInt32LE(e.zip64 ? U32_MAX : e.spec.size, 24);
    h.writeUInt16LE(name.length, 28);
    h.writeUInt16LE(extraLen, 30);
    h.writeUInt32LE(wideOffset ? U32_MAX : e.lhAt, 42);
    h.set(name, 46);
    if (extraLen > 0) {
      h.writeUInt16LE(ZIP64_EXTRA, 46 + name.length);
      h.writeUInt16LE(8 * z64.length, 48 + name.length);
      z64.forEach((v, i) => h.writeBigUInt64LE(BigInt(v), 50 + name.length + 8 * i));
    }
    parts.push(h);
  }
  const cdSize = parts.reduce((a, p) => a + p.length, 0);
  const needs64 = entries.some((e) => e.zip64) || entries.length >= U16_MAX || cdStart + cdSize >= U32_MAX;
  if (needs64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(SIG_EOCD64, 0);
    rec.writeBigUInt64LE(44n, 4); // size of the rest of the record
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(cdSize), 40);
    rec.writeBigUInt64LE(BigInt(cdStart), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(SIG_EOCD64_LOCATOR, 0);
    loc.writeBigUInt64LE(BigInt(cdStart + cdSize), 8);
    loc.writeUInt32LE(1, 16); // disks
    parts.push(rec, loc);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(SIG_EOCD, 0);
  end.writeUInt16LE(needs64 ? U16_MAX : entries.length, 8);
  end.writeUInt16LE(needs64 ? U16_MAX : entries.length, 10);
  end.writeUInt32LE(needs64 ? U32_MAX : cdSize, 12);
  end.writeUInt32LE(needs64 ? U32_MAX : cdStart, 16);
  parts.push(end);
  return Buffer.concat(parts);
}

/** Chunk of the read-back pass that computes the CRCs of entries filled in place. */
const CRC_CHUNK = 16 * 1024 * 1024;

/**
 * Finish an archive whose entries' bytes are all on disk: compute each entry's CRC-32 (by
 * reading back those filled in place), write it into the local headers, then write the
 * central directory and end records.
 */
export function finishZip(fd: number, layout: ZipLayout, write: (bytes: Uint8Array, at: number) => void): void {
  const crcs = new Map<string, number>();
  const buf = Buffer.alloc(Math.min(CRC_CHUNK, Math.max(1, ...layout.entries.map((e) => e.spec.size))));
  for (const e of layout.entries) {
    let crc = 0;
    if (e.spec.bytes !== undefined) crc = crc32(e.spec.bytes);
    else {
      for (let done = 0; done < e.spec.size;) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, e.spec.size - done), e.dataAt + done);
        if (n === 0) throw new ZipError(`finishZip: entry "${e.spec.name}" ends early at offset ${e.dataAt + done}`);
        crc = crc32(buf.subarray(0, n), crc);
        done += n;
      }
    }
    crcs.set(e.spec.name, crc);
    const field = Buffer.alloc(4);
    field.writeUInt32LE(crc, 0);
    write(field, e.lhAt + 14);
  }
  write(centralDirectory(layout.entries, crcs, layout.cdStart), layout.cdStart);
}
