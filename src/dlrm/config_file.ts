// A model config read from a JSON file (Node's file system): kept apart from config.ts so
// that the model and the training step load where there are no files (a browser page).
// The file must be a regular file no larger than MAX_CONFIG_BYTES, checked before it is read
// (a device or a pipe would never end); a syntax error is named by line and column.

import { closeSync, readSync } from "node:fs";
import { ConfigError, parseConfig, type DLRMConfig } from "./config.ts";
import { openInputFile } from "../io/input_file.ts";
import { parseJson } from "../io/json.ts";

/** A config is a few hundred bytes; one of 1 MiB is not a model config. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** A config nests 2 deep (an object of arrays); deeper than this is not a model config. */
const MAX_CONFIG_DEPTH = 16;

/** The config in the JSON file at `path`; errors name the file (and the field). */
export function readConfig(path: string): DLRMConfig {
  const { fd, size } = openInputFile(path, "a model config (JSON)", (m) => new ConfigError(m));
  const bytes = Buffer.alloc(Math.min(size, MAX_CONFIG_BYTES));
  try {
    if (size > MAX_CONFIG_BYTES)
      throw new ConfigError(`${path}: ${size} bytes is too large for a model config (at most ${MAX_CONFIG_BYTES})`);
    for (let done = 0; done < bytes.length;) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) throw new ConfigError(`${path}: the file ended early (at byte ${done} of ${size})`);
      done += n;
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${path}: cannot read the model config: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
  let json: unknown;
  try {
    json = parseJson(bytes.toString("utf8"), MAX_CONFIG_DEPTH);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json, path);
}
