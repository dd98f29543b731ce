// The data layer's file access (src/data/files.ts) in Node: node:fs and node:path. A file is
// opened as a descriptor, without blocking (opening a FIFO for reading would wait for a writer)
// and refused unless it is a regular file; it is read by position with fs.read (on Node's I/O
// threads) or fs.readSync. A file left to the garbage collector unclosed is closed then, with a
// warning naming it (as Node does for a FileHandle): every reader closes what it opens, and the
// warning says which one did not.

import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  read,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { NotAFileError, type DataFiles, type ReadableFile } from "../data/files.ts";

/** Descriptors of files not yet closed, by their ReadableFile: closed, with a warning, if it is collected. */
const unclosed = new FinalizationRegistry<{ fd: number; path: string }>(({ fd, path }) => {
  closeSync(fd);
  process.emitWarning(`${path} was not closed; its descriptor ${fd} is closed on garbage collection`);
});

function openNodeFile(path: string): ReadableFile {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let size: number;
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw new NotAFileError(path, s.isDirectory());
    size = s.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let closed = false;
  const file: ReadableFile = {
    size,
    read: (dst, position) =>
      new Promise((resolve, reject) =>
        read(fd, dst, 0, dst.length, position, (e, n) => (e === null ? resolve(n) : reject(e))),
      ),
    readSync: (dst, position) => readSync(fd, dst, 0, dst.length, position),
    close() {
      if (closed) return;
      closed = true;
      unclosed.unregister(file);
      closeSync(fd);
    },
  };
  unclosed.register(file, { fd, path }, file);
  return file;
}

export const nodeDataFiles: DataFiles = {
  exists: (path) => existsSync(path),
  list: (dir) => readdirSync(dir).map((name) => join(dir, name)),
  size: (path) => statSync(path).size,
  readText: (path, encoding) => readFileSync(path, encoding),
  open: openNodeFile,
  tempDir(prefix) {
    const path = mkdtempSync(join(tmpdir(), prefix));
    return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
  },
  join: (...parts) => join(...parts),
  dirname: (path) => dirname(path),
};
