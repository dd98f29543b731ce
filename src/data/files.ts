// The host's files as the data layer sees them: the questions the data-source registry asks
// (what exists, what a folder holds, a small text file, a private folder for temporary files,
// how paths join) and the files its readers open, read by position (batch files, .npy and .bin
// rows) or from start to end in chunks (text streamed as lines: src/data/lines.ts). Nothing in
// src/data opens a file any other way, so the same readers run on what a host hands in: Node's
// files (src/cli/node_files.ts, the CLI's) or bytes held in memory (src/data/byte_files.ts,
// the files a page's user picked).

/** What DataFiles.open throws for a path that is there but is not a regular file: a folder, or
 *  a device, pipe or socket (which may never end, or block). */
export class NotAFileError extends Error {
  readonly folder: boolean;
  constructor(path: string, folder: boolean) {
    super(
      folder
        ? `${path}: is a folder`
        : `${path}: is not a regular file (a device, a pipe or a socket, which may never end or block)`,
    );
    this.name = "NotAFileError";
    this.folder = folder;
  }
}

/** A file open for reading by position. */
export interface ReadableFile {
  /** Its size in bytes, when it was opened. */
  readonly size: number;
  /** Reads up to dst.length bytes at `position` into dst: the count read, 0 past the end. Node
   *  reads on its I/O threads, so reads overlap the steps. */
  read(dst: Uint8Array, position: number): Promise<number>;
  /** The same read, done before it returns. */
  readSync(dst: Uint8Array, position: number): number;
  close(): void;
}

export interface DataFiles {
  /** Whether something exists at path. */
  exists(path: string): boolean;
  /** The paths of a folder's entries; throws when the folder cannot be read. */
  list(dir: string): string[];
  /** The size of a file in bytes; throws, with the host's reason, when it cannot be read. */
  size(path: string): number;
  /** A text file whole, decoded as Latin-1 or UTF-8; throws, with the host's reason, when it cannot be read. */
  readText(path: string, encoding: "latin1" | "utf8"): string;
  /** A regular file open for reading; throws NotAFileError for a folder, device, pipe or
   *  socket, and the host's error when it cannot be opened. */
  open(path: string): ReadableFile;
  /** A new empty folder for temporary files (its name starts with prefix), and removing it
   *  with everything in it; null for files that are not on a disk (bytes held in memory). */
  tempDir: ((prefix: string) => { path: string; remove(): void }) | null;
  /** Joins path segments as the host does. */
  join(...parts: string[]): string;
  /** The folder part of a path. */
  dirname(path: string): string;
}

/** A file's bytes from start to end, one chunk of at most `chunkBytes` at a time, into a
 *  buffer reused for every chunk (a chunk is valid until the next is asked for); the file is
 *  closed when the reading ends, finished or not. */
export async function* readChunks(file: ReadableFile, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const buf = new Uint8Array(chunkBytes);
  try {
    for (let at = 0; ;) {
      const got = await file.read(buf, at);
      if (got === 0) return;
      at += got;
      yield buf.subarray(0, got);
    }
  } finally {
    file.close();
  }
}
