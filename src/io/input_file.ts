// Opening a file to read, refusing what is not a regular file before anything is read from it:
// a device (/dev/zero, /dev/urandom) never ends, and a pipe blocks until a writer comes. The
// file is opened without blocking (O_NONBLOCK: opening a FIFO for reading would otherwise wait
// for a writer) and checked on the opened descriptor, so what is checked is what is read.

import { closeSync, constants, fstatSync, openSync } from "node:fs";

/** A file that cannot be read as an input; the message starts with the path. */
export class InputFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputFileError";
  }
}

/** An open regular file, its descriptor and size. */
export interface InputFile {
  fd: number;
  size: number;
}

/**
 * Open path for reading; a folder, device, pipe or socket is an error naming it (what: "a
 * checkpoint", …), made by fail (default an InputFileError) so each reader keeps its error type.
 */
export function openInputFile(
  path: string,
  what: string,
  fail: (message: string) => Error = (m) => new InputFileError(m),
): InputFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR") throw fail(`${path}: is a folder, not ${what}`);
    throw fail(`${path}: cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  const s = fstatSync(fd);
  if (s.isFile()) return { fd, size: s.size };
  closeSync(fd);
  throw fail(
    s.isDirectory()
      ? `${path}: is a folder, not ${what}`
      : `${path}: is not a regular file (a device, a pipe or a socket, which may never end or block), not ${what}`,
  );
}
