// The file access the data-source registry is handed: the few questions it asks of the host's
// files itself (what exists, what a folder holds, a small text file, a private folder for
// temporary files, how paths join). The CLI answers them with node:fs (src/cli/node_files.ts);
// the readers a source opens (batch files, Criteo, MovieLens, the MLPerf .bin, TorchRec's
// .npy) read their own files.

export interface DataFiles {
  /** Whether something exists at path. */
  exists(path: string): boolean;
  /** The paths of a folder's entries; throws when the folder cannot be read. */
  list(dir: string): string[];
  /** The size of a file in bytes; throws, with the host's reason, when it cannot be read. */
  size(path: string): number;
  /** A text file whole, decoded as Latin-1 or UTF-8; throws, with the host's reason, when it cannot be read. */
  readText(path: string, encoding: "latin1" | "utf8"): string;
  /** A new empty folder for temporary files (its name starts with prefix), and removing it with everything in it. */
  tempDir(prefix: string): { path: string; remove(): void };
  /** Joins path segments as the host does. */
  join(...parts: string[]): string;
  /** The folder part of a path. */
  dirname(path: string): string;
}
